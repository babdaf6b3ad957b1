"""Literal examples from the Dify and Coze wire specification (providers-dify-coze.md),
used as test fixtures. Ids the spec elides ("…") or masks ("****") are kept as printed."""

from __future__ import annotations

from typing import Any

# §1.3 Blocking success, HTTP 200 (D-OAS example).
DIFY_BLOCKING_SUCCESS: dict[str, Any] = {
    "task_id": "c3800678-…",
    "workflow_run_id": "fb47b2e6-…",
    "data": {
        "id": "fb47b2e6-…",
        "workflow_id": "7c3e33d4-…",
        "status": "succeeded",
        "outputs": {"result": "Bonjour le monde"},
        "error": None,
        "elapsed_time": 1.23,
        "total_tokens": 150,
        "total_steps": 3,
        "created_at": 1705407629,
        "finished_at": 1705407630,
    },
}

# §1.4 The error envelope.
DIFY_INVALID_PARAM = {"code": "invalid_param", "message": "…", "status": 400}

# §1.5 The failure event of a stream (D-PIPE converter).
DIFY_ERROR_EVENT = (
    'data: {"event":"error","workflow_run_id":"fb47b2e6-…","status":400,'
    '"code":"invalid_param","message":"…"}\n\n'
)
DIFY_PING = "event: ping\n\n"

# §2.3 Sync success (C-DOC).
COZE_SYNC_SUCCESS: dict[str, Any] = {
    "code": 0,
    "msg": "",
    "data": '{"output":"…"}',
    "debug_url": (
        "https://www.coze.cn/work_flow?execute_id=741364789030728****&space_id=…&workflow_id=…"
    ),
    "usage": {"input_count": 50, "token_count": 150, "output_count": 100},
}

# §2.3 Async start.
COZE_ASYNC_START = {"code": 0, "execute_id": "7413647890307280000", "debug_url": "…"}

# §2.3 Status query (cloud, C-DOC).
COZE_HISTORY_SUCCESS: dict[str, Any] = {
    "code": 0,
    "msg": "",
    "detail": {"logid": "…"},
    "data": [
        {
            "execute_id": "743104097880585****",
            "execute_status": "Success",
            "bot_id": "742963486232569****",
            "connector_id": "1024",
            "connector_uid": "…",
            "run_mode": 0,
            "logid": "…",
            "create_time": 1730174063,
            "update_time": 1730174065,
            "output": '{"Output":"…"}',
            "token": "0",
            "usage": {"input_count": 50, "token_count": 150, "output_count": 100},
            "error_code": "",
            "error_message": "",
            "debug_url": "…",
            "is_output_trimmed": False,
        }
    ],
}

# §2.3 Running sample (coze.cn, coze-studio#2453), the rest of the entry as above.
COZE_HISTORY_RUNNING: dict[str, Any] = {
    "code": 0,
    "msg": "",
    "data": [
        {
            "execute_id": "743104097880585****",
            "execute_status": "Running",
            "output": '{"node_status":"{}","Output":""}',
            "error_code": "",
        }
    ],
}

# §2.4 Coze codes and the exception each must raise, by class name.
COZE_CODES: dict[int, str] = {
    4000: "BadRequestError",
    4100: "AuthenticationError",
    4101: "PermissionDeniedError",
    4200: "NotFoundError",
    4314: "NotFoundError",
    4008: "RateLimitError",
    4009: "RateLimitError",
    4020: "RateLimitError",
    4013: "RateLimitError",
    4011: "InsufficientCreditsError",
    4019: "InsufficientCreditsError",
    4022: "InsufficientCreditsError",
    6003: "PermissionDeniedError",
    5000: "ServerError",
    6031: "NotFoundError",
    700012006: "AuthenticationError",
}

# §1.4 Dify codes, their HTTP status and the exception each must raise.
DIFY_CODES: list[tuple[int, str, str]] = [
    (401, "unauthorized", "AuthenticationError"),
    (403, "forbidden", "PermissionDeniedError"),
    (400, "not_workflow_app", "BadRequestError"),
    (400, "invalid_param", "BadRequestError"),
    (404, "not_found", "NotFoundError"),
    (400, "provider_not_initialize", "BadRequestError"),
    (400, "provider_quota_exceeded", "InsufficientCreditsError"),
    (400, "model_currently_not_support", "BadRequestError"),
    (400, "completion_request_error", "BadRequestError"),
    (429, "too_many_requests", "RateLimitError"),
    (429, "rate_limit_error", "InsufficientCreditsError"),
    (500, "internal_server_error", "ServerError"),
    (500, "unknown", "ServerError"),
]
