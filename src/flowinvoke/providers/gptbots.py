"""GPTBots and AltaBots: the same workflow API on different hosts.

Wire facts (providers.md): `POST /v1/workflow/invoke` with `{"userId", "input", "isAsync",
"webhook"}`; `POST /v1/workflow/query/result` with `{"workflowRunId"}`; statuses PENDING,
RUNNING, SUCCEED (also spelt SUCCED), FAILED; times in milliseconds; errors as
`{"code": <int>, "message"}`, sometimes inside HTTP 200, or AltaBots'
`{"error": {"code", "message", "status"}}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from .._core.errors import ConfigurationError
from .._core.models import RunStatus, Webhook, WorkflowRun, wire_run
from ._base import ErrorInfo, ErrorKind, Operation, Provider, RequestSpec
from ._codes import error_text, named_status, word_kind
from ._fields import as_float, as_int, as_text, epoch_ms, millis

__all__ = ["AltaBotsProvider", "GPTBotsProvider"]

_CODE_KINDS: dict[int, ErrorKind] = {
    40000: ErrorKind.BAD_REQUEST,
    40127: ErrorKind.AUTHENTICATION,
    40353: ErrorKind.PERMISSION_DENIED,  # plan upgrade needed
    20022: ErrorKind.INSUFFICIENT_CREDITS,
    20055: ErrorKind.PERMISSION_DENIED,  # API switched off for this bot
    20059: ErrorKind.NOT_FOUND,  # workflow deleted
    50000: ErrorKind.SERVER,
}
# Catch-all codes: on an error status the HTTP status says more (404 + 40000 is "no such run").
_GENERIC_CODES = frozenset({40000, 50000})
_SUCCESS_WORDS = frozenset({"", "ok", "success", "succeed", "succeeded"})
_REGION = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_INVOKE_PATH = "/v1/workflow/invoke"
_QUERY_PATH = "/v1/workflow/query/result"


class GPTBotsProvider(Provider):
    """GPTBots (`https://api-{region}.gptbots.ai`; regions sg, jp, th; default sg)."""

    name: ClassVar[str] = "gptbots"
    supports_async_invoke: ClassVar[bool] = True
    regions: ClassVar[tuple[str, ...]] = ("sg", "jp", "th")
    default_region: ClassVar[str] = "sg"

    def base_url(self, region: str | None) -> str:
        region = (region or self.default_region).strip().lower()
        # A region we do not know still builds a URL: new data centres appear.
        if not _REGION.match(region):
            raise ConfigurationError(
                f"region {region!r} is not a valid host label (known: {', '.join(self.regions)})"
            )
        return f"https://api-{region}.gptbots.ai"

    def build_invoke(
        self,
        input: Mapping[str, Any],
        *,
        user_id: str | None,
        workflow_id: str | None,
        async_mode: bool,
        webhooks: Sequence[Webhook],
    ) -> RequestSpec:
        # The key names the workflow, so `workflow_id` has no place in the body.
        body: dict[str, Any] = {"input": input}
        if user_id is not None:
            body["userId"] = user_id
        if async_mode:
            body["isAsync"] = True
        if webhooks:
            body["webhook"] = [hook.to_wire() for hook in webhooks]
        return RequestSpec("POST", _INVOKE_PATH, body, Operation.INVOKE)

    def build_query(self, run_id: str) -> RequestSpec:
        return RequestSpec(
            "POST", _QUERY_PATH, {"workflowRunId": run_id}, Operation.QUERY, run_id=run_id
        )

    def parse_error(self, status_code: int, body: Any) -> ErrorInfo | None:
        if isinstance(body, Mapping):
            nested = body.get("error")
            if isinstance(nested, Mapping):  # AltaBots' overview shape
                named = named_status(nested.get("status"))
                code = _code(nested.get("code"))
                return ErrorInfo(
                    message=error_text(nested) or f"HTTP {named or status_code}",
                    code=code,
                    kind=_code_kind(code, named or status_code) or word_kind(nested.get("status")),
                    status=named,
                )
            code = _code(body.get("code"))
            is_error_body = (
                _is_error_code(code)
                and ("message" in body or "msg" in body)
                and not body.get("workflowRunId")
            )
            if is_error_body or status_code >= 400:
                return ErrorInfo(
                    message=error_text(body) or f"HTTP {status_code}",
                    code=code,
                    kind=_code_kind(code, status_code),
                )
            return None
        if status_code >= 400:
            text = body.strip() if isinstance(body, str) else ""
            return ErrorInfo(message=text[:500] or f"HTTP {status_code}")
        return None

    def parse_run(self, body: Any, request: RequestSpec) -> WorkflowRun:
        if not isinstance(body, Mapping):
            raise self.invalid("expected a JSON object", body)
        raw_status = body.get("status")
        if not isinstance(raw_status, str):
            raise self.invalid("no status word", body)
        run_id = as_text(body.get("workflowRunId")) or request.run_id
        if run_id is None:
            raise self.invalid("no workflowRunId", body)
        status = RunStatus.from_word(raw_status)
        output = body.get("output")
        run_input = body.get("input")
        return wire_run(
            lean=request.operation is Operation.INVOKE,
            id=run_id,
            status=status,
            raw_status=raw_status,
            provider=self.name,
            input=dict(run_input) if isinstance(run_input, Mapping) else None,
            output=output,
            workflow_id=as_text(body.get("workflowId")),
            workflow_name=as_text(body.get("workflowName")),
            workflow_version=as_text(body.get("workflowVersion")),
            duration=millis(body.get("workflowExecutionTime")),
            started_at=epoch_ms(body.get("startTime")),
            ended_at=epoch_ms(body.get("endTime")),
            total_cost=as_float(body.get("totalCost")),
            total_tokens=as_int(body.get("totalTokens")),
            error=_failure_message(status, body, output),
            raw=body,
        )


class AltaBotsProvider(GPTBotsProvider):
    """AltaBots (`https://altatech.ai`, one host, no regions): GPTBots' API."""

    name: ClassVar[str] = "altabots"
    regions: ClassVar[tuple[str, ...]] = ()

    def base_url(self, region: str | None) -> str:
        if region is not None:
            raise ConfigurationError("provider 'altabots' has one host and no regions")
        return "https://altatech.ai"


def _code_kind(code: int | str | None, status_code: int) -> ErrorKind | None:
    """The kind a code names; numeric codes may come as strings ("40127")."""
    number = as_int(code)
    if number is None:
        return word_kind(code)
    if number in _GENERIC_CODES and status_code >= 400:
        return None  # judged by the HTTP status
    return _CODE_KINDS.get(number)


def _is_error_code(code: int | str | None) -> bool:
    """Whether a 2xx body's `code` reports a failure (0, "0", "ok" and "success" do not)."""
    if code is None:
        return False
    number = as_int(code)
    if number is not None:
        return number != 0
    return str(code).strip().lower() not in _SUCCESS_WORDS


def _code(value: Any) -> int | str | None:
    if isinstance(value, int | str) and not isinstance(value, bool):
        return value
    return None


def _failure_message(status: RunStatus, body: Mapping[str, Any], output: Any) -> str | None:
    if status is not RunStatus.FAILED:
        return None
    for source in (body, output if isinstance(output, Mapping) else {}):
        for key in ("errorMessage", "error", "message", "errorMsg"):
            text = as_text(source.get(key))
            if text:
                return text
    return None
