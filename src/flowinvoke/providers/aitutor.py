"""aitutor-api: one synchronous call per run, no query endpoint, no async mode.

Wire facts (providers.md): `POST /api/v1/run/{workflow_id}` with the input variables as the
flat body; Bearer auth is mandatory. Two answer shapes are in the wild: the documented
`{"success": true, "run_id", "status": "completed", "output"}` and the live server's
`{"success": true, "result": "<often JSON text>", "citations"}` with no id; errors likewise
as `{"success": false, "error": {"message", "code"}}` or `{"success": false, "error": "...",
"code"}`. The server cuts a call at 300 s, so the read timeout is longer than that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote, unquote

from .._core.errors import ConfigurationError
from .._core.models import RunStatus, Webhook, WorkflowRun, wire_run
from ._base import AuthScheme, ErrorInfo, Operation, Provider, RequestSpec
from ._codes import error_text, word_kind
from ._fields import as_text

__all__ = ["AitutorProvider"]


# The only path segments URL normalisation rewrites once `quote` has escaped "/" and "%".
_DOT_SEGMENTS = frozenset({".", ".."})


class AitutorProvider(Provider):
    """aitutor-api (`https://aitutor-api.vercel.app`); runs finish inside the call."""

    name: ClassVar[str] = "aitutor"
    auth_schemes: ClassVar[tuple[AuthScheme, ...]] = ("bearer",)
    read_timeout: ClassVar[float] = 330.0

    def base_url(self, region: str | None) -> str:
        if region is not None:
            raise ConfigurationError("provider 'aitutor' has one host and no regions")
        return "https://aitutor-api.vercel.app"

    def build_invoke(
        self,
        input: Mapping[str, Any],
        *,
        user_id: str | None,
        workflow_id: str | None,
        async_mode: bool,
        webhooks: Sequence[Webhook],
    ) -> RequestSpec:
        # aitutor has no user field: `user_id` is accepted for provider-neutral code, unsent.
        if async_mode:
            raise self.unsupported("asynchronous runs (async_mode=True)")
        if webhooks:
            raise self.unsupported("webhooks")
        if workflow_id is not None and not isinstance(workflow_id, str):
            raise ConfigurationError(f"workflow_id must be a str, not {type(workflow_id).__name__}")
        if not workflow_id or not workflow_id.strip():
            raise ConfigurationError(
                "provider 'aitutor' needs a workflow_id (on the client or on the call)"
            )
        if workflow_id in _DOT_SEGMENTS:
            # URL normalisation would turn /run/.. into /api/v1 and send the key there.
            raise ConfigurationError(
                f"workflow_id {workflow_id!r} is not a workflow id (it is a path step)"
            )
        return RequestSpec(
            "POST", f"/api/v1/run/{quote(workflow_id, safe='')}", dict(input), Operation.INVOKE
        )

    def parse_error(self, status_code: int, body: Any) -> ErrorInfo | None:
        if isinstance(body, Mapping):
            error = body.get("error")
            # `"error": null` (or empty) sits in some success bodies: only a real error
            # value, or `"success": false`, makes a 2xx answer a failure.
            failed = body.get("success") is False or (
                body.get("success") is not True and error not in (None, "", False)
            )
            if not failed and status_code < 400:
                return None
            if isinstance(error, Mapping):  # the documented shape
                message, code = error_text(error), as_text(error.get("code"))
            else:  # the live server's shape
                message, code = as_text(error) or error_text(body), as_text(body.get("code"))
            return ErrorInfo(
                message=message or f"HTTP {status_code}", code=code, kind=word_kind(code)
            )
        if status_code >= 400:
            text = body.strip() if isinstance(body, str) else ""
            return ErrorInfo(message=text[:500] or f"HTTP {status_code}")
        return None

    def parse_run(self, body: Any, request: RequestSpec) -> WorkflowRun:
        if not isinstance(body, Mapping) or body.get("success") is not True:
            raise self.invalid('expected {"success": true, ...}', body)
        raw_status = as_text(body.get("status"))
        if "output" in body:
            output = body["output"]
        elif "result" in body:
            output = _maybe_json(body["result"])
        else:
            raise self.invalid("neither output nor result", body)
        return wire_run(
            lean=request.operation is Operation.INVOKE,
            id=as_text(body.get("run_id")),
            status=RunStatus.from_word(raw_status) if raw_status else RunStatus.SUCCEEDED,
            raw_status=raw_status,
            provider=self.name,
            input=dict(request.json),
            output=output,
            workflow_id=unquote(request.path.rsplit("/", 1)[-1]),
            workflow_name=None,
            workflow_version=None,
            duration=None,
            started_at=None,
            ended_at=None,
            total_cost=None,
            total_tokens=None,
            error=None,
            raw=body,
        )


def _maybe_json(result: Any) -> Any:
    """The live server's `result` is often JSON text; decode it when it is."""
    if isinstance(result, str):
        try:
            return json.loads(result)
        except (ValueError, RecursionError):  # plain text, or JSON nested past the stack
            return result
    return result
