"""The GPTBots / AltaBots workflow API, spoken by the emulator.

Endpoints (matched by path suffix, so any host and base path work):

- ``POST .../v1/workflow/invoke`` — body ``{"userId"?, "input": {...}, "isAsync"?, "webhook"?}``.
- ``POST .../v1/workflow/query/result`` — body ``{"workflowRunId": "..."}``.

Auth: ``Authorization: Bearer <key>`` or the raw key; the key names the workflow.

Error bodies are ``{"code": <int>, "message": "..."}``; the emulator's choices:

==================== ======== ======= ==================================================
error                HTTP     code    when
==================== ======== ======= ==================================================
unauthorized         401      40127   missing or unknown key
invalid_request      400      40000   body not a JSON object, missing/invalid fields
not_found            404      40000   ``workflowRunId not found`` (unknown id, or a run
                                      of another workflow)
insufficient_credits 402 (*)  20022   workflow scripted with ``credits_exhausted``
rate_limited         429      42900   injected fault
internal             500      50000   injected fault
==================== ======== ======= ==================================================

(*) configurable per workflow. Any of them is sent inside HTTP 200 when the workflow (or the
emulator, for errors before a workflow is known) has ``errors_in_http_200``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from ._routes import Route, WireOptions, checked_method
from ._state import EmulatorState, Run
from ._wire import (
    ErrorKind,
    Handling,
    WireRequest,
    WireResponse,
    immediately,
    json_response,
    parse_json_object,
)
from ._workflows import Workflow

__all__ = ["GPTBotsWire"]

INVOKE_PATH = "/v1/workflow/invoke"
QUERY_PATH = "/v1/workflow/query/result"
MAX_WEBHOOKS = 5

_ERRORS: dict[str, tuple[int, int, str]] = {
    "unauthorized": (401, 40127, "Authentication failed"),
    "invalid_request": (400, 40000, "Invalid parameters"),
    "not_found": (404, 40000, "workflowRunId not found"),
    "insufficient_credits": (402, 20022, "Insufficient credits"),
    "rate_limited": (429, 42900, "Too many requests, please try again later"),
    "internal": (500, 50000, "Internal server error"),
}


class GPTBotsWire:
    """Translates GPTBots requests into state changes and state into GPTBots answers."""

    def __init__(self, state: EmulatorState, lock: threading.Lock, options: WireOptions) -> None:
        self._state = state
        self._lock = lock
        self._errors_in_200 = options.errors_in_http_200
        self.on_webhook_run = options.on_webhook_run

    def route(self, request: WireRequest) -> Route | None:
        """Starts and queries are POSTs to their two paths."""
        path = request.path.rstrip("/")
        if path.endswith(INVOKE_PATH):
            operation, handler = "invoke", self.invoke
        elif path.endswith(QUERY_PATH):
            operation, handler = "query", self.query
        else:
            return None
        return checked_method(request, "POST", operation, self.workflow_for(request), self, handler)

    # -- auth and errors ---------------------------------------------------------------------

    def workflow_for(self, request: WireRequest) -> Workflow | None:
        """The workflow the request's key belongs to (Bearer or raw key), else `None`."""
        value = request.headers.get("authorization", "").strip()
        scheme, _, rest = value.partition(" ")
        key = rest.strip() if scheme.lower() == "bearer" and rest.strip() else value
        if not key:
            return None
        return self._state.gptbots_keys.get(key)

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
        """A GPTBots error answer of this kind (see the module table)."""
        default_status, default_code, default_message = _ERRORS[kind]
        if kind == "insufficient_credits" and workflow is not None:
            default_status = workflow.credits_error_status
        in_200 = self._errors_in_200
        if workflow is not None and workflow.errors_in_http_200 is not None:
            in_200 = workflow.errors_in_http_200
        http_status = status if status is not None else (200 if in_200 else default_status)
        body = {
            "code": code if code is not None else default_code,
            "message": message or default_message,
        }
        return json_response(http_status, body, headers)

    # -- rendering ---------------------------------------------------------------------------

    def render_run(self, run: Run, at: float, *, status: str | None = None) -> dict[str, Any]:
        """The full answer shape of a run as known at time `at`."""
        workflow = run.workflow
        current = status or run.status(at)
        body: dict[str, Any] = {
            "workflowId": workflow.id,
            "workflowName": workflow.name,
            "workflowVersion": workflow.version,
            "workflowRunId": run.run_id,
            "input": run.input,
            "status": current,
        }
        terminal = current in ("SUCCEED", "FAILED")
        if terminal and run.ended_at is not None and run.started_at is not None:
            start_ms = self._state.epoch_ms(run.started_at)
            end_ms = self._state.epoch_ms(run.ended_at)
            body["output"] = run.output
            body["workflowExecutionTime"] = end_ms - start_ms
            body["totalCost"] = float(workflow.cost)
            body["totalTokens"] = int(workflow.tokens)
            body["startTime"] = start_ms
            body["endTime"] = end_ms
        elif run.started_at is not None and at >= run.started_at:
            body["startTime"] = self._state.epoch_ms(run.started_at)
        return body

    # -- operations --------------------------------------------------------------------------

    def invoke(self, request: WireRequest) -> Handling:
        """Start a run; a synchronous invoke waits (yields) until the run has ended."""
        with self._lock:
            workflow = self.workflow_for(request)
            if workflow is None:
                return self.error("unauthorized", None)
            problem, fields = _parse_invoke(request.body, workflow)
            if problem is not None:
                return self.error("invalid_request", workflow, message=problem)
            if workflow.credits_exhausted:
                return self.error("insufficient_credits", workflow)
            is_async = bool(fields["isAsync"])
            progressive = is_async or workflow.sync_answer == "running"
            run = self._state.start_run(
                workflow,
                fields["input"],
                user_id=fields["userId"],
                is_async=is_async,
                progressive=progressive,
                webhooks=fields["webhook"],
            )
            if is_async:
                self._announce_end(run)
                return json_response(
                    200,
                    {
                        "workflowId": workflow.id,
                        "workflowName": workflow.name,
                        "workflowVersion": workflow.version,
                        "workflowRunId": run.run_id,
                        "status": "PENDING",
                    },
                )
            if progressive:
                return json_response(200, self.render_run(run, self._state.now()))
            remaining = (run.ended_at or 0.0) - self._state.now()
        if remaining > 0:
            yield remaining
        with self._lock:
            at = max(self._state.now(), run.ended_at or 0.0)
            return json_response(200, self.render_run(run, at))

    def _announce_end(self, run: Run) -> None:
        """Hand a timed async run's end answer to whoever sends its callbacks; lock held."""
        ended = run.ended_at
        if self.on_webhook_run is None or not run.webhooks or run.by_polls or ended is None:
            return
        body = json_response(200, self.render_run(run, ended)).body
        self.on_webhook_run(ended - self._state.now(), run.webhooks, body)

    def query(self, request: WireRequest) -> Handling:
        """Answer the current state of a run of the caller's workflow (no waiting)."""
        return immediately(self._query(request))

    def _query(self, request: WireRequest) -> WireResponse:
        with self._lock:
            workflow = self.workflow_for(request)
            if workflow is None:
                return self.error("unauthorized", None)
            body = parse_json_object(request.body, empty_is_object=False)
            run_id = body.get("workflowRunId") if body is not None else None
            if not isinstance(run_id, str) or not run_id:
                return self.error("invalid_request", workflow, message="workflowRunId is required")
            run = self._state.queried(run_id)
            if run is None or run.workflow.id != workflow.id:
                return self.error("not_found", workflow)
            now = self._state.now()
            run.observe(now)
            return json_response(200, self.render_run(run, now))


def _parse_invoke(body: bytes, workflow: Workflow) -> tuple[str | None, dict[str, Any]]:
    """Validate an invoke body; return (problem, fields)."""
    data = parse_json_object(body, empty_is_object=False)
    if data is None:
        return "Request body must be a JSON object", {}
    inputs = data.get("input")
    if not isinstance(inputs, dict):
        return "input is required and must be an object", {}
    missing = [name for name in workflow.required_inputs if name not in inputs]
    if missing:
        return f"Missing required input: {', '.join(missing)}", {}
    user_id = data.get("userId")
    if user_id is not None and not isinstance(user_id, str):
        return "userId must be a string", {}
    is_async = data.get("isAsync", False)
    if is_async is None:
        is_async = False
    if not isinstance(is_async, bool):
        return "isAsync must be a boolean", {}
    webhooks = data.get("webhook")
    if webhooks is None:
        webhooks = []
    if not isinstance(webhooks, list) or len(webhooks) > MAX_WEBHOOKS:
        return f"webhook must be an array of at most {MAX_WEBHOOKS} targets", {}
    if not all(isinstance(hook, Mapping) and isinstance(hook.get("url"), str) for hook in webhooks):
        return "each webhook needs a url", {}
    return None, {
        "input": inputs,
        "userId": user_id,
        "isAsync": is_async,
        "webhook": tuple(webhooks),
    }
