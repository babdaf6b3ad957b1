"""Reading an HTTP answer into a run or a typed error: the I/O-free half of a request.

The async and the generated sync request loops both hand their answers and transport
failures to these functions, so the translation from wire to model exists once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from . import _http
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InsufficientCreditsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
)
from ._models import WorkflowRun
from ._retry import parse_retry_after
from ._secret import Redactor
from .providers._base import ErrorInfo, ErrorKind, Operation, Provider, RequestSpec

__all__ = ["Reply", "read_reply", "transport_error"]

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-trace-id", "x-vercel-id")
_KIND_CLASSES: dict[ErrorKind, type[APIStatusError]] = {
    ErrorKind.BAD_REQUEST: BadRequestError,
    ErrorKind.AUTHENTICATION: AuthenticationError,
    ErrorKind.INSUFFICIENT_CREDITS: InsufficientCreditsError,
    ErrorKind.PERMISSION_DENIED: PermissionDeniedError,
    ErrorKind.NOT_FOUND: NotFoundError,
    ErrorKind.RATE_LIMIT: RateLimitError,
    ErrorKind.SERVER: ServerError,
}
_STATUS_KINDS: dict[int, ErrorKind] = {
    400: ErrorKind.BAD_REQUEST,
    401: ErrorKind.AUTHENTICATION,
    402: ErrorKind.INSUFFICIENT_CREDITS,
    403: ErrorKind.PERMISSION_DENIED,
    404: ErrorKind.NOT_FOUND,
    422: ErrorKind.BAD_REQUEST,
    429: ErrorKind.RATE_LIMIT,
}
# Transport failures that happen before the request is on the wire: nothing reached the
# server, so even a start can be retried. Only consulted when the transport could not
# tell: a connect error after a redirect, say, follows a request that did go out.
_NOT_SENT = (_http.ConnectError, _http.ConnectTimeout, _http.PoolTimeout)


@dataclass(frozen=True, slots=True)
class Reply:
    """A run read from an answer, with the server's wait hint for the next request."""

    run: WorkflowRun
    retry_after: float | None


def read_reply(
    provider: Provider, spec: RequestSpec, response: _http.Response, redact: Redactor
) -> Reply:
    """Translate a received answer into a `Reply`, or raise the typed `APIError` it means."""
    status = response.status_code
    content = response.content
    try:
        body: Any = json.loads(content) if content else None
        decoded = True
    except ValueError:
        body, decoded = response.text, False
    info = provider.parse_error(status, body) if decoded or status >= 300 else None
    if info is None and not 200 <= status < 300:
        info = ErrorInfo(message=f"HTTP {status}")
    if info is not None:
        raise _status_error(provider, spec, response, info, body, redact)
    if not decoded:
        error = provider.invalid("the body is not JSON", body, status_code=status)
        raise _unreadable(error, spec, redact)
    try:
        run = provider.parse_run(body, spec)
    except ResponseValidationError as error:
        raise _unreadable(error, spec, redact) from None
    # A hint only matters for the next poll of an unfinished run.
    return Reply(run, None if run.done else parse_retry_after(response.headers))


def transport_error(
    provider: Provider, spec: RequestSpec, exc: _http.TransportError, redact: Redactor
) -> APIConnectionError:
    """Translate an httpx transport failure, saying whether a start may have gone through.

    What the transport saw (see `_http.settled_failure`) wins; else the error's type tells.
    """
    sent = _http.known_sent(exc)
    if sent is None:
        sent = not isinstance(exc, _NOT_SENT)
    cls = APITimeoutError if isinstance(exc, _http.TimeoutException) else APIConnectionError
    detail = redact(str(exc)) or "no detail"
    return cls(
        f"{provider.name} {spec.operation.value} request failed: {type(exc).__name__}: {detail}",
        provider=provider.name,
        run_id=spec.run_id,
        may_have_started=sent and spec.operation is Operation.INVOKE,
    )


def _status_error(
    provider: Provider,
    spec: RequestSpec,
    response: _http.Response,
    info: ErrorInfo,
    body: Any,
    redact: Redactor,
) -> APIStatusError:
    status = response.status_code
    kind = info.kind or _STATUS_KINDS.get(status) or (ErrorKind.SERVER if status >= 500 else None)
    cls = _KIND_CLASSES.get(kind, APIStatusError) if kind else APIStatusError
    headers = response.headers
    code = f" (code {info.code})" if info.code is not None else ""
    message = redact(
        f"{provider.name} {spec.operation.value} failed with HTTP {status}{code}: {info.message}"
    )
    extra: dict[str, Any] = {}
    if cls is RateLimitError:
        extra["retry_after"] = parse_retry_after(headers)
    return cls(
        message,
        provider=provider.name,
        status_code=status,
        code=info.code,
        request_id=next((headers[h] for h in _REQUEST_ID_HEADERS if h in headers), None),
        body=redact.scrub(body),
        headers=headers,
        run_id=spec.run_id,
        # A server fault on a start (but 503, "not processed") leaves its effect unknown.
        may_have_started=spec.operation is Operation.INVOKE
        and kind is ErrorKind.SERVER
        and status != 503,
        **extra,
    )


def _unreadable(error: ResponseValidationError, spec: RequestSpec, redact: Redactor) -> APIError:
    error.body = redact.scrub(error.body)
    error.run_id = error.run_id or spec.run_id
    # A start that answered 2xx with a body we cannot read may well have started a run.
    error.may_have_started = spec.operation is Operation.INVOKE
    return error
