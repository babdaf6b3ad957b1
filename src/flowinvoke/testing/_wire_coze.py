"""The Coze workflow API (cloud and coze-studio), spoken by the emulator.

Endpoints (matched by path suffix, so any host and base path work):

- ``POST .../v1/workflow/run`` — body ``{"workflow_id", "parameters", "is_async"?, "ext"?}``.
  A synchronous run waits for its end and answers ``{"code": 0, "data": "<JSON text>",
  "debug_url", "usage"}``; an async one answers ``{"code": 0, "execute_id", "debug_url"}``
  at once (code 6003 when the workflow has ``coze_async_refused``).
- ``GET .../v1/workflows/{workflow_id}/run_histories/{execute_id}`` — the cloud's history,
  ids as strings, ``logid``, ``error_message``, ``usage``.
- ``GET .../v1/workflow/get_run_history?workflow_id=&execute_id=`` — coze-studio's, ids as
  JSON numbers, ``log_id``, ``error_msg``, ``token`` and ``cost``.

Auth: ``Authorization: Bearer <token>``; a token may call every workflow registered with it.
Errors arrive inside HTTP 200 as ``{"code": <int>, "msg": "..."}``:

==================== ==== ===== ==========================================================
error                HTTP code  when
==================== ==== ===== ==========================================================
unauthorized         200  4100  missing or unknown token
invalid_request      200  4000  bad body, missing parameter
not_found            200  4200  unknown workflow, or one of another token (history of an
                                unknown run: 4314)
insufficient_credits 200  4011  workflow scripted with credits_exhausted
rate_limited         429  4020  injected fault
internal             200  5000  a synchronous run that FAILED, or an injected fault
==================== ==== ===== ==========================================================
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any
from urllib.parse import parse_qs

from ._routes import Route, WireOptions, post_start_get_query
from ._state import EmulatorState, Run
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

__all__ = ["CozeWire", "coze_operation"]

RUN_PATH = "/v1/workflow/run"
STUDIO_HISTORY_PATH = "/v1/workflow/get_run_history"
_CLOUD_HISTORY = re.compile(r"/v1/workflows/([^/]+)/run_histories/([^/]+)/?$")

_ERRORS: dict[str, tuple[int, int, str]] = {
    "unauthorized": (200, 4100, "authentication failed: token invalid"),
    "invalid_request": (200, 4000, "invalid parameter"),
    "not_found": (200, 4200, "workflow not found or not published"),
    "insufficient_credits": (200, 4011, "insufficient balance"),
    "rate_limited": (429, 4020, "requests per minute exceeded"),
    "internal": (200, 5000, "internal server error"),
}
_WORDS = {"PENDING": "Running", "RUNNING": "Running", "SUCCEED": "Success", "FAILED": "Fail"}


def coze_operation(path: str) -> str | None:
    """ "invoke" or "query" for a Coze path, else None."""
    path = path.rstrip("/")
    if path.endswith(RUN_PATH):
        return "invoke"
    if path.endswith(STUDIO_HISTORY_PATH) or _CLOUD_HISTORY.search(path):
        return "query"
    return None


class CozeWire:
    """Translates Coze requests into state changes and state into Coze answers."""

    def __init__(self, state: EmulatorState, lock: threading.Lock, options: WireOptions) -> None:
        self._state = state
        self._lock = lock

    def route(self, request: WireRequest) -> Route | None:
        """Starts are POSTs, queries GETs."""
        return post_start_get_query(request, coze_operation(request.path.rstrip("/")), self)

    def named_workflow(self, request: WireRequest) -> Workflow | None:
        """The Coze workflow the request names (body, path or query), whoever calls."""
        workflow_id, _ = _ids(request)
        workflow = self._state.workflows.get(workflow_id or "")
        return workflow if workflow is not None and workflow.is_coze_family else None

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
        """A Coze error answer of this kind (see the module table)."""
        default_status, default_code, default_message = _ERRORS[kind]
        body = {
            "code": code if code is not None else default_code,
            "msg": message or default_message,
            "detail": {"logid": "20261128000000EMULATOR"},
        }
        return json_response(status if status is not None else default_status, body, headers)

    def _authorised(self, request: WireRequest) -> tuple[WireResponse | None, Workflow | None]:
        """(the error to answer, the workflow) for a request naming a workflow."""
        token = bearer_token(request.headers)
        if token is None or token not in self._state.coze_keys:
            return self.error("unauthorized", None), None
        workflow = self.named_workflow(request)
        if workflow is None or workflow.api_key != token:
            return self.error("not_found", workflow), None
        return None, workflow

    # -- operations --------------------------------------------------------------------------

    def invoke(self, request: WireRequest) -> Handling:
        """Start a run: async answers at once, sync waits (yields) until its end."""
        with self._lock:
            data = parse_json_object(request.body, empty_is_object=False)
            if data is None:
                return self.error("invalid_request", None, message="body must be a JSON object")
            problem, workflow = self._authorised(request)
            if problem is not None or workflow is None:
                return problem or self.error("not_found", None)
            parameters = data.get("parameters") or {}
            if isinstance(parameters, str):  # the docs' "JSON-serialised string" form
                try:
                    parameters = json.loads(parameters)
                except ValueError:
                    parameters = None
            if not isinstance(parameters, dict):
                return self.error("invalid_request", workflow, message="parameters is invalid")
            missing = [name for name in workflow.required_inputs if name not in parameters]
            if missing:
                message = f"missing required parameter: {', '.join(missing)}"
                return self.error("invalid_request", workflow, message=message)
            if workflow.credits_exhausted:
                return self.error("insufficient_credits", workflow)
            is_async = data.get("is_async") is True
            if is_async and workflow.coze_async_refused:
                message = "async execution is not supported on the current plan"
                return self.error("internal", workflow, code=6003, message=message)
            ext = data.get("ext")
            user = ext.get("user_id") if isinstance(ext, dict) else None
            run = self._state.start_run(
                workflow, parameters, user_id=user, is_async=is_async, progressive=is_async
            )
            debug_url = _debug_url(run)
            if is_async:
                body = {"code": 0, "msg": "", "execute_id": run.run_id, "debug_url": debug_url}
                return json_response(200, body)
            remaining = (run.ended_at or 0.0) - self._state.now()
        if remaining > 0:
            yield remaining
        if run.final_status == "FAILED":
            message = str(run.output.get("error") or workflow.error_message)
            return self.error("internal", workflow, message=message)
        tokens = workflow.tokens
        return json_response(
            200,
            {
                "code": 0,
                "msg": "",
                "data": json.dumps(run.output, ensure_ascii=False),
                "debug_url": debug_url,
                "usage": {"input_count": tokens // 3, "token_count": tokens, "output_count": 0},
            },
        )

    def query(self, request: WireRequest) -> Handling:
        """Answer a run's history entry, in the cloud's or studio's shape (no waiting)."""
        yield from ()
        with self._lock:
            problem, workflow = self._authorised(request)
            if problem is not None:
                return problem
            _, run_id = _ids(request)
            run = self._state.queried(run_id or "")
            if run is None or workflow is None or run.workflow.id != workflow.id:
                return self.error("not_found", workflow, code=4314, message="record not found")
            now = self._state.now()
            run.observe(now)
            studio = request.path.rstrip("/").endswith(STUDIO_HISTORY_PATH)
            entry = self._history(run, now, studio=studio)
            return json_response(200, {"code": 0, "msg": "", "data": [entry]})

    def _history(self, run: Run, at: float, *, studio: bool) -> dict[str, Any]:
        wire_status = run.status(at)
        done = wire_status in ("SUCCEED", "FAILED")
        failed = wire_status == "FAILED"
        execute_id: int | str = int(run.run_id) if studio else run.run_id
        output: dict[str, Any] = run.output if wire_status == "SUCCEED" else {}
        entry: dict[str, Any] = {
            "execute_id": execute_id,
            "execute_status": _WORDS[wire_status],
            "bot_id": 0 if studio else "0",
            "connector_id": 1024 if studio else "1024",
            "connector_uid": run.user_id or "",
            "run_mode": 2 if run.is_async else 0,
            "create_time": int(self._state.epoch_seconds(run.created_at)),
            "update_time": int(
                self._state.epoch_seconds(run.ended_at if done and run.ended_at else at)
            ),
            "output": json.dumps(output, ensure_ascii=False),
            "error_code": "5000" if failed else "",
            "debug_url": _debug_url(run),
        }
        message = str(run.output.get("error") or "") if failed else ""
        if studio:
            entry.update(log_id="emulator", error_msg=message, token=str(run.workflow.tokens))
            entry["cost"] = f"{run.workflow.cost:.5f}"
        else:
            tokens = run.workflow.tokens if done else 0
            entry.update(logid="emulator", error_message=message, token=str(tokens))
            entry["usage"] = {"input_count": 0, "token_count": tokens, "output_count": 0}
            entry["is_output_trimmed"] = False
        return entry


def _ids(request: WireRequest) -> tuple[str | None, str | None]:
    """(workflow id, execute id) a request names, as text (studio sends numbers)."""
    match = _CLOUD_HISTORY.search(request.path)
    if match:
        return match.group(1), match.group(2)
    if request.path.rstrip("/").endswith(STUDIO_HISTORY_PATH):
        query = parse_qs(request.query)
        workflow_ids, run_ids = query.get("workflow_id", []), query.get("execute_id", [])
        return (workflow_ids[0] if workflow_ids else None), (run_ids[0] if run_ids else None)
    body = parse_json_object(request.body, empty_is_object=False) or {}
    workflow_id = body.get("workflow_id")
    if isinstance(workflow_id, int | str) and not isinstance(workflow_id, bool):
        return str(workflow_id), None
    return None, None


def _debug_url(run: Run) -> str:
    return (
        "https://www.coze.com/work_flow?execute_id="
        f"{run.run_id}&space_id=7000000000000000000&workflow_id={run.workflow.id}"
    )
