"""Dify (cloud and self-hosted): workflow apps behind an app API key.

Wire facts (providers-dify-coze.md §1): `POST /workflows/run` with `{"inputs", "user",
"response_mode"}` (`/workflows/{workflow_id}/run` for one published version); blocking
answers `{"task_id", "workflow_run_id", "data": {...}}`; streaming answers server-sent
events whose first ones carry `workflow_run_id` and whose `workflow_finished` carries the
same `data`; `GET /workflows/run/{id}` reads a run. Statuses `running`, `paused`,
`succeeded`, `partial-succeeded`, `failed`, `stopped`; times in seconds (RFC 822 text on
old servers); errors `{"code": "<word>", "message", "status"}`. There is no async start:
flowinvoke's `run()` streams, learns the id, and polls when the stream drops.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

from .._core.errors import ConfigurationError
from .._core.models import RunStatus, Webhook, WorkflowRun, wire_run
from ._base import AuthScheme, ErrorInfo, ErrorKind, Operation, Provider, RequestSpec, StreamError
from ._fields import as_int, as_text, epoch_seconds, json_text, seconds
from ._sse import ServerSentEvent

__all__ = ["DEFAULT_DIFY_USER", "DifyProvider"]

DEFAULT_DIFY_USER = "flowinvoke"
"""The `user` sent when the caller gives no `user_id` (Dify requires one; it scopes files
and event reattachment, and is shown in Dify's logs)."""

_CODE_KINDS: dict[str, ErrorKind] = {
    "unauthorized": ErrorKind.AUTHENTICATION,
    "forbidden": ErrorKind.PERMISSION_DENIED,
    "workflow_version_execution_not_allowed": ErrorKind.PERMISSION_DENIED,
    "not_found": ErrorKind.NOT_FOUND,
    "invalid_param": ErrorKind.BAD_REQUEST,
    "bad_request": ErrorKind.BAD_REQUEST,
    "not_workflow_app": ErrorKind.BAD_REQUEST,
    "app_unavailable": ErrorKind.BAD_REQUEST,
    "provider_not_initialize": ErrorKind.BAD_REQUEST,
    "model_currently_not_support": ErrorKind.BAD_REQUEST,
    "completion_request_error": ErrorKind.BAD_REQUEST,
    # A quota (plan or provider), not a passing limit: retrying in seconds cannot help, so
    # it is not a RateLimitError (which is retried) but an InsufficientCreditsError.
    "provider_quota_exceeded": ErrorKind.INSUFFICIENT_CREDITS,
    "rate_limit_error": ErrorKind.INSUFFICIENT_CREDITS,
    # The concurrency cap: it passes as other runs finish, so it is retried.
    "too_many_requests": ErrorKind.RATE_LIMIT,
    "internal_server_error": ErrorKind.SERVER,
    "unknown": ErrorKind.SERVER,
}

_STATUSES: dict[str, RunStatus] = {
    "scheduled": RunStatus.PENDING,
    "running": RunStatus.RUNNING,
    "paused": RunStatus.RUNNING,  # waits on a Human Input node: not over
    "succeeded": RunStatus.SUCCEEDED,
    "partial-succeeded": RunStatus.SUCCEEDED,  # raw_status keeps the difference
    "failed": RunStatus.FAILED,
    "stopped": RunStatus.CANCELLED,
}

# Events after which the stream says nothing more about the run's outcome.
_FINISHED_EVENT = "workflow_finished"


class DifyProvider(Provider):
    """Dify (`https://api.dify.ai/v1`; self-hosted: `base_url="http(s)://<host>/v1"`)."""

    name: ClassVar[str] = "dify"
    supports_async_invoke: ClassVar[bool] = True  # by a streaming start, closed early
    supports_webhooks: ClassVar[bool] = False  # none calls back when a run ends
    auth_schemes: ClassVar[tuple[AuthScheme, ...]] = ("bearer",)
    # Cloudflare cuts a blocking call at 100 s; self-hosted servers may allow longer.
    read_timeout: ClassVar[float] = 300.0

    def base_url(self, region: str | None) -> str:
        if region is not None:
            raise ConfigurationError(
                "provider 'dify' has no regions; a self-hosted server is a base_url"
            )
        return "https://api.dify.ai/v1"

    def build_invoke(
        self,
        input: Mapping[str, Any],
        *,
        user_id: str | None,
        workflow_id: str | None,
        async_mode: bool,
        webhooks: Sequence[Webhook],
    ) -> RequestSpec:
        # Dify calls nothing back: its webhooks are inbound triggers only.
        if webhooks:
            raise self.unsupported("webhooks")
        body = {
            "inputs": dict(input),
            "response_mode": "streaming" if async_mode else "blocking",
            "user": user_id if user_id is not None else DEFAULT_DIFY_USER,
        }
        path = "/workflows/run"
        if workflow_id is not None and workflow_id.strip():
            path = f"/workflows/{quote(workflow_id.strip(), safe='')}/run"
        return RequestSpec(
            "POST", path, body, Operation.INVOKE, workflow_id=workflow_id, stream=async_mode
        )

    def build_query(self, run_id: str) -> RequestSpec:
        path = f"/workflows/run/{quote(run_id, safe='')}"
        return RequestSpec("GET", path, None, Operation.QUERY, run_id=run_id)

    def parse_error(self, status_code: int, body: Any) -> ErrorInfo | None:
        if isinstance(body, Mapping):
            if status_code < 400:
                if _is_empty_run(body):
                    # Old servers answer an unknown id with 200 and every field null.
                    return ErrorInfo("no such workflow run", kind=ErrorKind.NOT_FOUND)
                if not _is_error_envelope(body):
                    return None
            code = as_text(body.get("code"))
            return ErrorInfo(
                message=as_text(body.get("message")) or f"HTTP {status_code}",
                code=code,
                kind=_CODE_KINDS.get(code or ""),
            )
        if status_code >= 400:  # a proxy's HTML page (504/524 when a blocking call is cut)
            text = body.strip() if isinstance(body, str) else ""
            return ErrorInfo(message=text[:500] or f"HTTP {status_code}")
        return None

    def parse_run(self, body: Any, request: RequestSpec) -> WorkflowRun:
        if not isinstance(body, Mapping):
            raise self.invalid("expected a JSON object", body)
        data = body.get("data")
        # A blocking start nests the run in `data`; a query answers it at the top level.
        run = data if isinstance(data, Mapping) else body
        return self._run(run, body, request, as_text(body.get("workflow_run_id")))

    def parse_stream_event(
        self, event: ServerSentEvent, request: RequestSpec
    ) -> WorkflowRun | StreamError | None:
        payload = event.json()
        if not isinstance(payload, Mapping):
            return None  # `event: ping` keep-alives carry no data
        kind = as_text(payload.get("event"))
        run_id = as_text(payload.get("workflow_run_id"))
        if kind == "error":
            status = as_int(payload.get("status")) or 400
            return StreamError(status if status >= 400 else 400, dict(payload), run_id)
        data = payload.get("data")
        data = data if isinstance(data, Mapping) else {}
        if kind == _FINISHED_EVENT:
            return self._run(data, payload, request, run_id)
        if kind in ("workflow_started", "workflow_paused") and (run_id or data.get("id")):
            word = "paused" if kind == "workflow_paused" else "running"
            return self._run({**data, "status": word}, payload, request, run_id)
        return None

    def _run(
        self,
        run: Mapping[str, Any],
        raw: Mapping[str, Any],
        request: RequestSpec,
        outer_id: str | None,
    ) -> WorkflowRun:
        raw_status = as_text(run.get("status"))
        if raw_status is None:
            raise self.invalid("no status word", raw)
        run_id = as_text(run.get("id")) or outer_id or request.run_id
        status = _STATUSES.get(raw_status.strip().lower()) or RunStatus.from_word(raw_status)
        outputs = run.get("outputs")
        error = as_text(run.get("error"))
        run_input = json_text(run.get("inputs"))
        return wire_run(
            lean=request.operation is Operation.INVOKE,
            id=run_id,
            status=status,
            raw_status=raw_status,
            provider=self.name,
            input=dict(run_input) if isinstance(run_input, Mapping) else _request_inputs(request),
            output=outputs,
            workflow_id=as_text(run.get("workflow_id")) or request.workflow_id,
            workflow_name=None,
            workflow_version=None,
            duration=seconds(run.get("elapsed_time")),
            started_at=epoch_seconds(run.get("created_at")),
            ended_at=epoch_seconds(run.get("finished_at")),
            total_cost=None,  # Dify prices nodes, not runs
            total_tokens=as_int(run.get("total_tokens")),
            error=error if status in (RunStatus.FAILED, RunStatus.CANCELLED) else None,
            raw=raw,
        )


def _is_error_envelope(body: Mapping[str, Any]) -> bool:
    """Whether a body is Dify's error envelope (a proxy may pass one on with HTTP 200)."""
    status = as_int(body.get("status"))
    return isinstance(body.get("code"), str) and status is not None and status >= 400


def _is_empty_run(body: Mapping[str, Any]) -> bool:
    """Whether a 200 body is an old server's all-null answer for an unknown run id."""
    return "id" in body and "status" in body and all(value is None for value in body.values())


def _request_inputs(request: RequestSpec) -> dict[str, Any] | None:
    """The inputs the start sent (a query's `inputs` arrive as JSON text, so they are
    read only when they are an object)."""
    body = request.json
    inputs = body.get("inputs") if isinstance(body, Mapping) else None
    return dict(inputs) if isinstance(inputs, Mapping) else None
