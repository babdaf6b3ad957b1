"""What an injected fault answers in place of the real reply: a broken connection, a bad
body, a 429 with its hints, a gateway's HTML page, or the provider's own error body."""

from __future__ import annotations

from ._faults import Fault
from ._routes import ErrorRenderer
from ._wire import (
    JSON_HEADERS,
    ErrorKind,
    TransportFailure,
    WireDisconnect,
    WireReply,
    WireResponse,
    header_seconds,
)
from ._workflows import Workflow

__all__ = ["TRANSPORT_FAILURES", "fault_reply"]

#: Each connection-level fault: the failure it is, and the words a real client library
#: reports for it.
TRANSPORT_FAILURES: dict[str, tuple[TransportFailure, str]] = {
    "disconnect": ("disconnect", "Server disconnected without sending a response."),
    "reset": ("reset", "[Errno 104] Connection reset by peer"),
    "timeout": ("timeout", "The read operation timed out"),
    "connect_error": ("connect_error", "[Errno 111] Connection refused"),
}

_GATEWAY_TEXT = {
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


def fault_reply(
    fault: Fault, wire: ErrorRenderer, workflow: Workflow | None, processed: WireReply | None
) -> WireReply:
    """The answer `fault` puts in place of `processed` (the real reply, or None if the
    request was never processed)."""
    kind = fault.kind
    done = processed if isinstance(processed, WireResponse) else None
    if kind in TRANSPORT_FAILURES:
        failure, text = TRANSPORT_FAILURES[kind]
        return WireDisconnect(failure, text, partial=done)
    if kind == "malformed_json":
        return _malformed(done)
    retry = _retry_headers(fault)
    if kind == "rate_limit":
        limits = (("x-ratelimit-limit", "100"), ("x-ratelimit-remaining", "0"))
        return _provider_error(fault, wire, workflow, "rate_limited", 429, retry + limits)
    if kind == "server_error" and (fault.status or 500) != 500:
        return _gateway_page(fault.status or 500, retry)
    status = (fault.status or 500) if kind == "server_error" else 200
    return _provider_error(fault, wire, workflow, "internal", status, retry)


def _malformed(done: WireResponse | None) -> WireResponse:
    """Half of the real body (or of an error body): JSON cut mid-way."""
    if done is not None and len(done.body) > 1:
        return WireResponse(done.status, JSON_HEADERS, done.body[: len(done.body) // 2])
    return WireResponse(200, JSON_HEADERS, b'{"code": 0, "message": "')


def _retry_headers(fault: Fault) -> tuple[tuple[str, str], ...]:
    if fault.retry_after is None and fault.kind != "rate_limit":
        return ()
    seconds = 1.0 if fault.retry_after is None else fault.retry_after
    return (("retry-after", header_seconds(seconds)),)


def _gateway_page(status: int, retry: tuple[tuple[str, str], ...]) -> WireResponse:
    """The HTML page a proxy in front of the platform answers with (nginx's wording)."""
    text = _GATEWAY_TEXT.get(status, "Server Error")
    page = f"<html><head><title>{status} {text}</title></head><body>"
    page += f"<center><h1>{status} {text}</h1></center></body></html>"
    return WireResponse(status, (("content-type", "text/html"), *retry), page.encode())


def _provider_error(
    fault: Fault,
    wire: ErrorRenderer,
    workflow: Workflow | None,
    kind: ErrorKind,
    status: int,
    headers: tuple[tuple[str, str], ...],
) -> WireResponse:
    return wire.error(
        kind, workflow, message=fault.message, code=fault.code, status=status, headers=headers
    )
