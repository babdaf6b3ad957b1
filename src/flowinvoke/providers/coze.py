"""Coze (coze.com, coze.cn) and the open-source coze-studio.

Wire facts (providers-dify-coze.md §2): `POST /v1/workflow/run` with `{"workflow_id",
"parameters", "is_async"?, "ext"?}`; a synchronous answer carries the result as JSON text in
`data`; an async one `{"code": 0, "execute_id"}` (paid cloud plans only, else code 6003);
the cloud reads a run at `GET /v1/workflows/{workflow_id}/run_histories/{execute_id}`,
coze-studio at `GET /v1/workflow/get_run_history?workflow_id=&execute_id=`; both answer
`{"code": 0, "data": [{"execute_status", "output": "<JSON text>", ...}]}`. Statuses
`Running`, `Success`, `Fail` (studio also `Cancel`, and an unnamed "interrupted" one).
Errors arrive inside HTTP 200 as `{"code": <non-zero>, "msg"}`; ids are 19-digit numbers,
sent as strings by the cloud and as JSON numbers by studio, and kept as strings here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from .._core.errors import ConfigurationError
from .._core.models import RunStatus, Webhook, WorkflowRun, wire_run
from ._base import AuthScheme, ErrorInfo, ErrorKind, Operation, Provider, RequestSpec
from ._fields import as_float, as_int, as_text, epoch_seconds, json_text

__all__ = ["COZE_ASYNC_REFUSED", "CozeProvider", "CozeStudioProvider"]

COZE_ASYNC_REFUSED = 6003
"""The code Coze answers an async start with on plans that have no async runs."""

_CODE_KINDS: dict[int, ErrorKind] = {
    4000: ErrorKind.BAD_REQUEST,
    4100: ErrorKind.AUTHENTICATION,
    4101: ErrorKind.PERMISSION_DENIED,
    4200: ErrorKind.NOT_FOUND,  # workflow unpublished or unknown
    4314: ErrorKind.NOT_FOUND,  # no such execution record
    4008: ErrorKind.RATE_LIMIT,  # daily calls per user
    4009: ErrorKind.RATE_LIMIT,  # system-wide
    4020: ErrorKind.RATE_LIMIT,  # requests per minute
    4013: ErrorKind.RATE_LIMIT,  # model busy (coze-js reads it so)
    4011: ErrorKind.INSUFFICIENT_CREDITS,
    4019: ErrorKind.INSUFFICIENT_CREDITS,
    4022: ErrorKind.INSUFFICIENT_CREDITS,
    COZE_ASYNC_REFUSED: ErrorKind.PERMISSION_DENIED,
    5000: ErrorKind.SERVER,
    # coze-studio's own codes.
    6031: ErrorKind.NOT_FOUND,
    720702004: ErrorKind.NOT_FOUND,
    720702011: ErrorKind.NOT_FOUND,
    700012006: ErrorKind.AUTHENTICATION,
    6023: ErrorKind.SERVER,  # run timed out on the server
}
_HINTS: dict[int, str] = {
    COZE_ASYNC_REFUSED: (
        "Coze refuses asynchronous runs on this plan, so run()/invoke(async_mode=True) "
        "cannot start one: use invoke() for a synchronous run (Coze cuts it at 90 s)"
    ),
}

_STATUSES: dict[str, RunStatus] = {
    "running": RunStatus.RUNNING,
    "success": RunStatus.SUCCEEDED,
    "fail": RunStatus.FAILED,
    "cancel": RunStatus.CANCELLED,
}
# Studio's interrupted status has no name: the run waits for an answer it cannot get here.
_INTERRUPTED = "the run was interrupted and waits for input (resume it in Coze)"

_RUN_PATH = "/v1/workflow/run"


class CozeProvider(Provider):
    """Coze cloud (`https://api.coze.com`; region "cn": `https://api.coze.cn`)."""

    name: ClassVar[str] = "coze"
    supports_async_invoke: ClassVar[bool] = True
    supports_webhooks: ClassVar[bool] = False  # none calls back when a run ends
    regions: ClassVar[tuple[str, ...]] = ("com", "cn")
    auth_schemes: ClassVar[tuple[AuthScheme, ...]] = ("bearer",)
    # A synchronous run is cut at 90 s without an answer.
    read_timeout: ClassVar[float] = 120.0

    def base_url(self, region: str | None) -> str:
        region = (region or "com").strip().lower()
        if region not in self.regions:
            raise ConfigurationError(
                f"provider {self.name!r} knows regions {', '.join(self.regions)}, not {region!r}"
            )
        return f"https://api.coze.{region}"

    def build_invoke(
        self,
        input: Mapping[str, Any],
        *,
        user_id: str | None,
        workflow_id: str | None,
        async_mode: bool,
        webhooks: Sequence[Webhook],
    ) -> RequestSpec:
        if webhooks:
            raise self.unsupported("webhooks")
        workflow = _workflow_id(self.name, workflow_id)
        body: dict[str, Any] = {"workflow_id": workflow, "parameters": dict(input)}
        if user_id is not None:
            body["ext"] = {"user_id": user_id}
        if async_mode:
            body["is_async"] = True
        return RequestSpec("POST", _RUN_PATH, body, Operation.INVOKE, workflow_id=workflow)

    def query_for(self, run_id: str, *, workflow_id: str | None = None) -> RequestSpec:
        return self.build_query(run_id, workflow_id=workflow_id)

    def build_query(self, run_id: str, *, workflow_id: str | None = None) -> RequestSpec:
        """The history query of a run, which names its workflow (required)."""
        workflow = _workflow_id(self.name, workflow_id, querying=True)
        return RequestSpec(
            "GET",
            self.history_path(workflow, run_id),
            None,
            Operation.QUERY,
            run_id=run_id,
            workflow_id=workflow,
        )

    def history_path(self, workflow_id: str, run_id: str) -> str:
        """Where a run's history is read (the cloud's path)."""
        return f"/v1/workflows/{quote(workflow_id, safe='')}/run_histories/{quote(run_id, safe='')}"

    def parse_error(self, status_code: int, body: Any) -> ErrorInfo | None:
        if isinstance(body, Mapping):
            code = as_int(body.get("code"))
            if code == 0 and status_code < 400:
                if isinstance(body.get("data"), list) and not body["data"]:
                    return ErrorInfo("no run history for this execute_id", kind=ErrorKind.NOT_FOUND)
                return None
            if code is None and status_code < 400:
                return None  # not Coze's envelope: parse_run says what is wrong with it
            message = as_text(body.get("msg")) or as_text(body.get("message"))
            if code in _HINTS:
                message = f"{_HINTS[code]} ({message})" if message else _HINTS[code]
            # Studio answers HTTP 400/500 with `code` equal to the status: then judge by it.
            kind = _CODE_KINDS.get(code) if code is not None and code != status_code else None
            return ErrorInfo(message=message or f"HTTP {status_code}", code=code, kind=kind)
        if status_code >= 400:
            text = body.strip() if isinstance(body, str) else ""
            return ErrorInfo(message=text[:500] or f"HTTP {status_code}")
        return None

    def parse_run(self, body: Any, request: RequestSpec) -> WorkflowRun:
        if not isinstance(body, Mapping):
            raise self.invalid("expected a JSON object", body)
        if request.operation is Operation.QUERY:
            return self._history(body, request)
        if "data" in body:  # a synchronous run: finished, its result as JSON text
            return self._run(
                body,
                run_id=as_text(body.get("execute_id")) or _debug_url_id(body),
                raw_status="Success",
                output=json_text(body.get("data")),
                request=request,
                tokens=_tokens(body),
            )
        run_id = as_text(body.get("execute_id"))
        if run_id is None:
            raise self.invalid("neither data nor execute_id", body)
        return self._run(body, run_id=run_id, raw_status="Running", output=None, request=request)

    def _history(self, body: Mapping[str, Any], request: RequestSpec) -> WorkflowRun:
        data = body.get("data")
        entry = data[0] if isinstance(data, list) and data else data
        if not isinstance(entry, Mapping):
            raise self.invalid("no run history in data", body)
        raw_status = as_text(entry.get("execute_status"))
        status = _STATUSES.get((raw_status or "").strip().lower())
        error = as_text(entry.get("error_message")) or as_text(entry.get("error_msg"))
        if status is None:  # `<UNSET>` or a new word: never a success
            status, error = RunStatus.FAILED, error or _INTERRUPTED
        output = json_text(entry.get("output")) if status is RunStatus.SUCCEEDED else None
        return self._run(
            body,
            run_id=as_text(entry.get("execute_id")) or request.run_id,
            raw_status=raw_status,
            status=status,
            output=output,
            request=request,
            error=error or _error_code_text(entry) if status is RunStatus.FAILED else None,
            started=entry.get("create_time"),
            ended=entry.get("update_time") if status.done else None,
            tokens=_tokens(entry),
            cost=as_float(entry.get("cost")),
        )

    def _run(
        self,
        raw: Mapping[str, Any],
        *,
        run_id: str | None,
        raw_status: str | None,
        output: Any,
        request: RequestSpec,
        status: RunStatus | None = None,
        error: str | None = None,
        started: Any = None,
        ended: Any = None,
        tokens: int | None = None,
        cost: float | None = None,
    ) -> WorkflowRun:
        body = request.json
        parameters = body.get("parameters") if isinstance(body, Mapping) else None
        return wire_run(
            lean=request.operation is Operation.INVOKE,
            id=run_id,
            status=status or _STATUSES[(raw_status or "").lower()],
            raw_status=raw_status,
            provider=self.name,
            input=dict(parameters) if isinstance(parameters, Mapping) else None,
            output=output,
            workflow_id=request.workflow_id,
            workflow_name=None,
            workflow_version=None,
            duration=None,
            started_at=epoch_seconds(started),
            ended_at=epoch_seconds(ended),
            total_cost=cost,
            total_tokens=tokens,
            error=error,
            raw=raw,
        )


class CozeStudioProvider(CozeProvider):
    """Self-hosted coze-studio: Coze's run API, history at `/v1/workflow/get_run_history`.

    There is no default host: pass the server's `base_url` (it listens on :8888).
    """

    name: ClassVar[str] = "coze-studio"
    regions: ClassVar[tuple[str, ...]] = ()
    read_timeout: ClassVar[float] = 300.0  # studio sets no run timeout of its own

    def base_url(self, region: str | None) -> str:
        raise ConfigurationError(
            "provider 'coze-studio' is self-hosted: pass base_url (e.g. http://localhost:8888)"
        )

    def history_path(self, workflow_id: str, run_id: str) -> str:
        query = urlencode({"workflow_id": workflow_id, "execute_id": run_id})
        return f"/v1/workflow/get_run_history?{query}"


def _workflow_id(provider: str, value: str | int | None, *, querying: bool = False) -> str:
    text = as_text(value)
    if text is None or not text.strip():
        where = (
            "the run, the call (workflow_id=) or the client"
            if querying
            else "the client or the call"
        )
        raise ConfigurationError(f"provider {provider!r} needs a workflow_id (on {where})")
    return text.strip()


def _debug_url_id(body: Mapping[str, Any]) -> str | None:
    """The run id a cloud synchronous answer only shows in its `debug_url`."""
    url = as_text(body.get("debug_url"))
    if not url:
        return None
    found = parse_qs(urlsplit(url).query).get("execute_id")
    return found[0] if found else None


def _tokens(source: Mapping[str, Any]) -> int | None:
    usage = source.get("usage")
    if isinstance(usage, Mapping) and usage.get("token_count") is not None:
        return as_int(usage.get("token_count"))
    return as_int(source.get("token"))


def _error_code_text(entry: Mapping[str, Any]) -> str | None:
    code = as_text(entry.get("error_code"))
    return f"error code {code}" if code else None
