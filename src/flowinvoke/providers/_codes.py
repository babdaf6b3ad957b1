"""Error code words many platforms share, and reading the parts of an error body.

Platforms spell the same failures alike (`unauthorized`, `invalid_param`, gRPC-style
`UNAUTHENTICATED` in a `status` field) and put the text in `message` or `msg`; reading them
in one place keeps an error inside HTTP 200 mapping to the class of its HTTP twin whichever
provider sent it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._base import ErrorKind
from ._fields import as_int, as_text

__all__ = ["error_text", "named_status", "word_kind"]

_WORD_KINDS: dict[str, ErrorKind] = {
    **dict.fromkeys(
        ("invalid_request", "invalid_param", "invalid_argument", "bad_request"),
        ErrorKind.BAD_REQUEST,
    ),
    **dict.fromkeys(
        ("unauthorized", "unauthenticated", "invalid_api_key", "authentication_failed"),
        ErrorKind.AUTHENTICATION,
    ),
    **dict.fromkeys(
        ("invalid_billing", "spend_limit_reached", "insufficient_credits", "payment_required"),
        ErrorKind.INSUFFICIENT_CREDITS,
    ),
    **dict.fromkeys(("forbidden", "permission_denied"), ErrorKind.PERMISSION_DENIED),
    **dict.fromkeys(("workflow_not_found", "not_found"), ErrorKind.NOT_FOUND),
    **dict.fromkeys(
        ("rate_limited", "rate_limit_exceeded", "too_many_requests", "resource_exhausted"),
        ErrorKind.RATE_LIMIT,
    ),
    **dict.fromkeys(("internal_server_error", "internal", "unavailable"), ErrorKind.SERVER),
}


def word_kind(code: Any) -> ErrorKind | None:
    """The kind a word code names (`"unauthorized"`, `"INVALID_ARGUMENT"`), if known."""
    if not isinstance(code, str):
        return None
    return _WORD_KINDS.get(code.strip().lower().replace("-", "_").replace(" ", "_"))


def error_text(body: Mapping[str, Any]) -> str | None:
    """An error body's message, spelt `message` or `msg`."""
    return as_text(body.get("message")) or as_text(body.get("msg"))


def named_status(value: Any) -> int | None:
    """An HTTP status named inside a body (`"status": 400`), if it is one."""
    number = as_int(value)
    return number if number is not None and 100 <= number <= 599 else None
