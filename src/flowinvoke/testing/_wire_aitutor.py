"""The aitutor-api workflow API, spoken by the emulator.

``POST .../api/v1/run/{workflow_id}`` with ``Authorization: Bearer <key>`` (mandatory: a raw
key is rejected with 401) and the input variables as the flat JSON body. The run finishes
inside the call: a scripted `duration` makes the call that much slower (on the emulator's
clock). There is no query endpoint and no async mode.

Answers, per workflow `aitutor_style`:

- "seed": ``{"success": true, "run_id": "run_...", "status": "completed", "output": {...}}``;
  errors ``{"success": false, "error": {"message": "...", "code": "..."}}``.
- "live": ``{"success": true, "result": "<output as a JSON string>", "citations": []}``;
  errors ``{"success": false, "error": "<message>", "code": "..."}``.

==================== ==== ======================= =========================================
error                HTTP code                    when
==================== ==== ======================= =========================================
unauthorized         401  unauthorized            missing/raw/unknown key
not_found            404  workflow_not_found      unknown id, or a workflow of another key
invalid_request      400  invalid_request         body not an object, missing parameter
insufficient_credits 402  spend_limit_reached     workflow scripted with credits_exhausted
rate_limited         429  rate_limit_exceeded     injected fault
internal             500  internal_server_error   FAILED run, or injected fault
==================== ==== ======================= =========================================

Errors found before a workflow is known use the emulator-wide style and HTTP-200 setting.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from ._routes import Route, WireOptions, checked_method
from ._state import EmulatorState
from ._wire import (
    ErrorKind,
    Handling,
    WireRequest,
    WireResponse,
    bearer_token,
    json_response,
    parse_json_object,
)
from ._workflows import Workflow

__all__ = ["AitutorWire"]

RUN_PATH = re.compile(r"/api/v1/run/([^/]+)/?$")

_ERRORS: dict[str, tuple[int, str, str]] = {
    "unauthorized": (401, "unauthorized", "Invalid API key"),
    "invalid_request": (400, "invalid_request", "Invalid request"),
    "not_found": (404, "workflow_not_found", "Workflow not found"),
    "insufficient_credits": (402, "spend_limit_reached", "Spend limit reached"),
    "rate_limited": (429, "rate_limit_exceeded", "Rate limit exceeded"),
    "internal": (500, "internal_server_error", "Internal server error"),
}


def workflow_id_in(path: str) -> str | None:
    """The workflow id of an aitutor run path, else `None`."""
    match = RUN_PATH.search(path)
    return match.group(1) if match else None


class AitutorWire:
    """Translates aitutor-api requests into state changes and state into its answers."""

    def __init__(self, state: EmulatorState, lock: threading.Lock, options: WireOptions) -> None:
        self._state = state
        self._lock = lock
        self._errors_in_200 = options.errors_in_http_200
        self._default_style = options.aitutor_style

    def route(self, request: WireRequest) -> Route | None:
        """A run is a POST to a path naming the workflow (a stranger's key still names it,
        so a refusal has that workflow's error style)."""
        if workflow_id_in(request.path) is None:
            return None
        workflow = self.workflow_for(request) or self.named_workflow(request)
        return checked_method(request, "POST", "invoke", workflow, self, self.invoke)

    def named_workflow(self, request: WireRequest) -> Workflow | None:
        """The aitutor workflow the path names, whoever calls (its style shapes errors)."""
        workflow = self._state.workflows.get(workflow_id_in(request.path) or "")
        return workflow if workflow is not None and workflow.provider == "aitutor" else None

    def workflow_for(self, request: WireRequest) -> Workflow | None:
        """The aitutor workflow the path names, if the Bearer key may call it."""
        workflow_id = workflow_id_in(request.path)
        key = bearer_token(request.headers)
        workflow = self._state.workflows.get(workflow_id or "")
        if workflow is None or workflow.provider != "aitutor" or workflow.api_key != key:
            return None
        return workflow

    def error(
        self,
        kind: ErrorKind,
        workflow: Workflow | None,
        *,
        message: str | None = None,
        code: int | str | None = None,
        status: int | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> WireResponse:
        """An aitutor error answer of this kind, in the workflow's style."""
        default_status, default_code, default_message = _ERRORS[kind]
        style = workflow.aitutor_style if workflow is not None else self._default_style
        in_200 = self._errors_in_200
        if workflow is not None and workflow.errors_in_http_200 is not None:
            in_200 = workflow.errors_in_http_200
        http_status = status if status is not None else (200 if in_200 else default_status)
        text = message or default_message
        error_code = code if code is not None else default_code
        body: dict[str, Any]
        if style == "seed":
            body = {"success": False, "error": {"message": text, "code": error_code}}
        else:
            body = {"success": False, "error": text, "code": error_code}
        return json_response(http_status, body, headers)

    def invoke(self, request: WireRequest) -> Handling:
        """Run the workflow to the end inside the call, then answer."""
        with self._lock:
            named = self.named_workflow(request)
            key = bearer_token(request.headers)
            if key is None or key not in self._state.aitutor_keys:
                return self.error("unauthorized", named)
            workflow = self.workflow_for(request)
            if workflow is None:
                return self.error("not_found", named)
            inputs = parse_json_object(request.body, empty_is_object=True)
            if inputs is None:
                return self.error(
                    "invalid_request", workflow, message="Request body must be a JSON object"
                )
            missing = [name for name in workflow.required_inputs if name not in inputs]
            if missing:
                return self.error(
                    "invalid_request",
                    workflow,
                    message=f"Missing required parameter: {', '.join(missing)}",
                )
            if workflow.credits_exhausted:
                return self.error("insufficient_credits", workflow)
            run = self._state.start_run(
                workflow, inputs, user_id=None, is_async=False, progressive=False
            )
            remaining = (run.ended_at or 0.0) - self._state.now()
        if remaining > 0:
            yield remaining
        if run.final_status == "FAILED":
            message = str(run.output.get("error") or workflow.error_message)
            return self.error("internal", workflow, message=message)
        if workflow.aitutor_style == "seed":
            return json_response(
                200,
                {
                    "success": True,
                    "run_id": run.run_id,
                    "status": "completed",
                    "output": run.output,
                },
            )
        return json_response(
            200,
            {
                "success": True,
                "result": json.dumps(run.output, ensure_ascii=False),
                "citations": [],
            },
        )
