"""The Dify workflow API, spoken by the emulator.

Endpoints (matched by path suffix, so any host and base path work; Dify's own base URL
ends in ``/v1``):

- ``POST .../workflows/run`` (and ``.../workflows/{workflow_id}/run``) — body
  ``{"inputs": {...}, "user": "...", "response_mode": "blocking" | "streaming"}``. A
  blocking call waits for the run's end; a streaming one answers server-sent events:
  a ping and ``workflow_started`` at once, ``node_started``, pings every 10 s, then
  ``node_finished`` and ``workflow_finished`` when the run ends. A run of a ``polls``
  workflow outlives its stream: the stream ends after ``node_started``.
- ``GET .../workflows/run/{workflow_run_id}``.

Auth: ``Authorization: Bearer <app key>``; the key names the workflow. Errors are
``{"code": "<word>", "message", "status"}``:

==================== ==== ======================= ========================================
error                HTTP code                    when
==================== ==== ======================= ========================================
unauthorized         401  unauthorized            missing or unknown key
invalid_request      400  invalid_param           bad body, no ``user``, missing input
not_found            404  not_found               unknown run id (``dify_legacy``: HTTP
                                                  200 with every field null)
insufficient_credits 429  rate_limit_error        workflow scripted with credits_exhausted
rate_limited         429  too_many_requests       injected fault
internal             500  internal_server_error   injected fault
==================== ==== ======================= ========================================
"""

from __future__ import annotations

import re
import threading
from email.utils import formatdate
from typing import Any

from ._routes import Route, WireOptions, post_start_get_query
from ._state import EmulatorState, Run
from ._wire import (
    SSE_HEADERS,
    ErrorKind,
    Frames,
    Handling,
    WireRequest,
    WireResponse,
    WireStream,
    bearer_token,
    json_response,
    parse_json_object,
    sse_frame,
)
from ._workflows import Workflow

__all__ = ["DifyWire", "dify_operation"]

_START = re.compile(r"/workflows(?:/([^/]+))?/run/?$")
_QUERY = re.compile(r"/workflows/run/([^/]+)/?$")
_PING = b"event: ping\n\n"
_PING_SECONDS = 10.0

_ERRORS: dict[str, tuple[int, str, str]] = {
    "unauthorized": (401, "unauthorized", "Access token is invalid"),
    "invalid_request": (400, "invalid_param", "Invalid parameter"),
    "not_found": (404, "not_found", "Workflow run not found"),
    "insufficient_credits": (
        429,
        "rate_limit_error",
        "Workflow execution quota limit reached for tenant",
    ),
    "rate_limited": (429, "too_many_requests", "Too many requests. Please try again later."),
    "internal": (500, "internal_server_error", "Internal Server Error"),
}
_WORDS = {"PENDING": "running", "RUNNING": "running", "SUCCEED": "succeeded", "FAILED": "failed"}


def dify_operation(path: str) -> str | None:
    """ "invoke" or "query" for a Dify path, else None."""
    if _QUERY.search(path):
        return "query"
    if _START.search(path):
        return "invoke"
    return None


class DifyWire:
    """Translates Dify requests into state changes and state into Dify answers."""

    def __init__(self, state: EmulatorState, lock: threading.Lock, options: WireOptions) -> None:
        self._state = state
        self._lock = lock

    def route(self, request: WireRequest) -> Route | None:
        """Starts are POSTs, queries GETs."""
        return post_start_get_query(request, dify_operation(request.path.rstrip("/")), self)

    def named_workflow(self, request: WireRequest) -> Workflow | None:
        """The workflow the request's Bearer key names (the key belongs to one), else `None`."""
        key = bearer_token(request.headers)
        return self._state.dify_keys.get(key) if key else None

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
        """A Dify error answer of this kind (see the module table)."""
        default_status, default_code, default_message = _ERRORS[kind]
        body = {
            "code": code if code is not None else default_code,
            "message": message or default_message,
            "status": default_status,
        }
        return json_response(status if status is not None else default_status, body, headers)

    # -- rendering ---------------------------------------------------------------------------

    def render_run(self, run: Run, at: float) -> dict[str, Any]:
        """The run as `GET /workflows/run/{id}` and `workflow_finished` show it at `at`."""
        wire_status = run.status(at)
        done = wire_status in ("SUCCEED", "FAILED")
        legacy = run.workflow.dify_legacy
        started = self._time(run.created_at, legacy)
        body: dict[str, Any] = {
            "id": run.run_id,
            "workflow_id": run.workflow.id,
            "status": _WORDS[wire_status],
            "outputs": run.output if wire_status == "SUCCEED" else {},
            "error": run.output.get("error") if wire_status == "FAILED" else None,
            # Dify stores the elapsed time as the run ends (0 until then).
            "elapsed_time": (run.ended_at - run.created_at) if done and run.ended_at else 0.0,
            "total_tokens": run.workflow.tokens if done else 0,
            "total_steps": 3 if done else 1,
            "created_at": started,
            "finished_at": self._time(run.ended_at, legacy) if done and run.ended_at else None,
        }
        return body

    def _time(self, at: float, legacy: bool) -> int | str:
        seconds = self._state.epoch_seconds(at)
        return formatdate(seconds, usegmt=True) if legacy else int(seconds)

    # -- operations --------------------------------------------------------------------------

    def invoke(self, request: WireRequest) -> Handling:
        """Start a run: blocking waits (yields) until it ends; streaming answers events."""
        with self._lock:
            workflow = self.named_workflow(request)
            if workflow is None:
                return self.error("unauthorized", None)
            match = _START.search(request.path)
            if match and match.group(1) and match.group(1) != workflow.id:
                return self.error("not_found", workflow, message="Workflow not found")
            problem, inputs, user, streaming = _parse_start(request.body, workflow)
            if problem is not None:
                return self.error("invalid_request", workflow, message=problem)
            if workflow.credits_exhausted:
                return self.error("insufficient_credits", workflow)
            run = self._state.start_run(
                workflow, inputs, user_id=user, is_async=streaming, progressive=streaming
            )
            if streaming:
                return WireStream(200, SSE_HEADERS, self._events(run))
            remaining = (run.ended_at or 0.0) - self._state.now()
        if remaining > 0:
            yield remaining
        with self._lock:
            at = max(self._state.now(), run.ended_at or 0.0)
            data = self.render_run(run, at)
        answer = {"task_id": _task_id(run), "workflow_run_id": run.run_id, "data": data}
        return json_response(200, answer)

    def query(self, request: WireRequest) -> Handling:
        """Answer a run's current state (no waiting)."""
        yield from ()
        with self._lock:
            workflow = self.named_workflow(request)
            if workflow is None:
                return self.error("unauthorized", None)
            match = _QUERY.search(request.path)
            run_id = match.group(1) if match else ""
            run = self._state.queried(run_id)
            if run is None or run.workflow.id != workflow.id:
                if workflow.dify_legacy:
                    return json_response(200, dict.fromkeys(_NULL_FIELDS))
                return self.error("not_found", workflow)
            now = self._state.now()
            run.observe(now)
            return json_response(200, self.render_run(run, now))

    def _events(self, run: Run) -> Frames:
        """The event stream of a streaming start."""
        task, run_id = _task_id(run), run.run_id

        def event(name: str, data: dict[str, Any]) -> bytes:
            payload = {"event": name, "task_id": task, "workflow_run_id": run_id, "data": data}
            return sse_frame(payload)

        with self._lock:
            created = self._time(run.created_at, False)
            node = {"id": f"node-{run_id[:8]}", "node_id": "llm", "node_type": "llm"}
        started = {"id": run_id, "workflow_id": run.workflow.id, "created_at": created}
        yield _PING + event("workflow_started", started) + event("node_started", node)
        if run.by_polls:
            return None  # the run outlives its stream: the client must poll
        while True:
            with self._lock:
                left = (run.ended_at or 0.0) - self._state.now()
            if left <= 0:
                break
            yield min(left, _PING_SECONDS)
            yield _PING
        with self._lock:
            finished = self.render_run(run, max(self._state.now(), run.ended_at or 0.0))
        yield event("node_finished", {**node, "status": finished["status"]})
        yield event("workflow_finished", finished)
        return None


_NULL_FIELDS = (
    "id",
    "workflow_id",
    "status",
    "inputs",
    "outputs",
    "error",
    "total_steps",
    "total_tokens",
    "created_at",
    "finished_at",
    "elapsed_time",
)


def _task_id(run: Run) -> str:
    return f"task-{run.run_id}"


def _parse_start(
    body: bytes, workflow: Workflow
) -> tuple[str | None, dict[str, Any], str | None, bool]:
    """Validate a start body; return (problem, inputs, user, streaming)."""
    data = parse_json_object(body, empty_is_object=False)
    if data is None:
        return "Request body must be a JSON object", {}, None, False
    inputs = data.get("inputs")
    if not isinstance(inputs, dict):
        return "inputs is required in input form", {}, None, False
    user = data.get("user")
    if not isinstance(user, str) or not user:
        return "Arg user must be provided.", {}, None, False
    missing = [name for name in workflow.required_inputs if name not in inputs]
    if missing:
        return f"{missing[0]} is required in input form", {}, None, False
    mode = data.get("response_mode") or "blocking"
    if mode not in ("blocking", "streaming"):
        return "response_mode must be blocking or streaming", {}, None, False
    return None, inputs, user, mode == "streaming"
