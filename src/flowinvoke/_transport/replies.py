"""Reading an HTTP answer into a run or a typed error: the I/O-free half of a request.

The async and the generated sync request loops both hand their answers and transport
failures to these functions, so the translation from wire to model exists once.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

from .._core.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    FlowInvokeError,
    InsufficientCreditsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
)
from .._core.models import WorkflowRun
from .._core.secret import Redactor
from ..providers._base import (
    AuthScheme,
    ErrorInfo,
    ErrorKind,
    Operation,
    Provider,
    RequestSpec,
    StreamError,
)
from . import http as _http
from .attempt import known_sent
from .retry import parse_retry_after

__all__ = ["MAX_JSON_DEPTH", "Reply", "read_reply", "stream_error", "transport_error"]

#: How deeply an answer's JSON may nest. The providers' answers nest a few levels; a body
#: nested hundreds deep is hostile, and reading it would exhaust Python's stack.
MAX_JSON_DEPTH = 200

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
    provider: Provider,
    spec: RequestSpec,
    response: _http.Response,
    redact: Redactor,
    *,
    auth_scheme: AuthScheme | None = None,
) -> Reply:
    """Translate a received answer into a `Reply`, or raise the typed `APIError` it means.

    Whatever the server sent, the outcome is a `Reply` or a `FlowInvokeError`: a body the
    provider cannot read (or that makes its reader fail in any way) becomes
    `ResponseValidationError`, never a bare builtin error. `auth_scheme`, the scheme the
    request was sent with, goes into an authentication failure's message.
    """
    status = response.status_code
    body, problem = _decode(response)
    decoded = problem is None
    try:
        info = provider.parse_error(status, body) if decoded or status >= 300 else None
    except FlowInvokeError:
        raise
    except Exception as exc:  # a reader that trips over a hostile body
        raise _unreadable(_reader_failed(provider, exc, body, status), spec, redact) from exc
    if info is None and not 200 <= status < 300:
        info = ErrorInfo(message=f"HTTP {status}")
    if info is not None:
        raise _status_error(provider, spec, response, info, body, redact, auth_scheme)
    if problem is not None:
        raise _unreadable(provider.invalid(problem, body, status_code=status), spec, redact)
    try:
        run = provider.parse_run(body, spec)
    except ResponseValidationError as error:
        raise _unreadable(error, spec, redact) from None
    except FlowInvokeError:
        raise
    except Exception as exc:
        raise _unreadable(_reader_failed(provider, exc, body, status), spec, redact) from exc
    if spec.run_id is not None and run.id is None:
        run = run.model_copy(update={"id": spec.run_id})
    elif spec.run_id is not None and run.id != spec.run_id:
        # Accepting it would make a waiter follow another run (or change `run.id` mid-wait).
        other = provider.invalid(
            f"the answer to a query of run {spec.run_id} names run {run.id}", body
        )
        raise _unreadable(other, spec, redact)
    # A hint only matters for the next poll of an unfinished run.
    return Reply(run, None if run.done else parse_retry_after(response.headers))


def stream_error(
    provider: Provider, spec: RequestSpec, event: StreamError, redact: Redactor
) -> APIError:
    """The typed error an error event of a 2xx event stream means, read like an answer
    with the event's status and body."""
    response = _http.Response(event.status_code, json=event.body)
    info = provider.parse_error(event.status_code, event.body) or ErrorInfo("stream error")
    error = _status_error(provider, spec, response, info, event.body, redact, None)
    error.run_id = error.run_id or event.run_id
    return error


def transport_error(
    provider: Provider, spec: RequestSpec, exc: _http.TransportError, redact: Redactor
) -> APIConnectionError:
    """Translate an httpx transport failure, saying whether a start may have gone through.

    What the transport saw (see `attempt.settled_failure`) wins; else the error's type tells.
    """
    sent = known_sent(exc)
    if sent is None:
        sent = not isinstance(exc, _NOT_SENT)
    cls = APITimeoutError if isinstance(exc, _http.TimeoutException) else APIConnectionError
    detail = redact(str(exc)) or "no detail"
    where = redact(f" to {host}") if (host := _host_of(exc)) else ""
    return cls(
        f"{provider.name} {spec.operation.value} request{where} failed: "
        f"{type(exc).__name__}: {detail}",
        provider=provider.name,
        run_id=spec.run_id,
        may_have_started=sent and spec.operation is Operation.INVOKE,
    )


def _host_of(exc: _http.TransportError) -> str | None:
    """The host (and port, if given) the failed request went to: never the URL's userinfo,
    path or query, which may carry credentials."""
    try:
        url = exc.request.url
    except RuntimeError:  # an error raised without its request
        return None
    if not url.host:
        return None
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{host}:{url.port}" if url.port else host


def _status_error(
    provider: Provider,
    spec: RequestSpec,
    response: _http.Response,
    info: ErrorInfo,
    body: Any,
    redact: Redactor,
    auth_scheme: AuthScheme | None,
) -> APIStatusError:
    status = response.status_code
    # An error inside a 200 may name its real status in the body: judge by that one.
    twin = info.status or status
    kind = info.kind or _STATUS_KINDS.get(twin) or (ErrorKind.SERVER if twin >= 500 else None)
    cls = _KIND_CLASSES.get(kind, APIStatusError) if kind else APIStatusError
    headers = response.headers
    code = f" (code {info.code})" if info.code is not None else ""
    message = redact(
        f"{provider.name} {spec.operation.value} failed with HTTP {status}{code}: {info.message}"
    )
    if cls is AuthenticationError and auth_scheme is not None:
        message += provider.auth_failure_hint(auth_scheme)
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
        and twin != 503,
        **extra,
    )


def _decode(response: _http.Response) -> tuple[Any, str | None]:
    """The decoded JSON body and None; or the text and why it could not be decoded."""
    content = response.content
    if not content:
        return None, None
    too_deep = f"the body nests deeper than {MAX_JSON_DEPTH} levels"
    try:
        body = json.loads(content)
    except RecursionError:
        return response.text, too_deep
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text, "the body is not JSON"
    except ValueError:  # valid JSON, but an integer past Python's digit limit
        return response.text, _TOO_LONG_A_NUMBER
    # Readers, redaction and a caller's own code recurse: refuse a hostile depth here, once.
    # A body with no more brackets than the limit cannot nest deeper (a C count, not a walk).
    if content.count(b"[") + content.count(b"{") <= MAX_JSON_DEPTH:
        return body, None
    return (response.text, too_deep) if _nests_deeper(body, MAX_JSON_DEPTH) else (body, None)


_TOO_LONG_A_NUMBER = (
    "the body is JSON, but it holds an integer longer than Python reads "
    f"({getattr(sys, 'get_int_max_str_digits', lambda: 4300)()} digits at most: "
    "sys.set_int_max_str_digits)"
)


def _nests_deeper(value: Any, limit: int) -> bool:
    """Whether decoded JSON nests more than `limit` containers deep (level by level, so
    without recursing: this is the check that keeps recursion safe later)."""
    level: list[Any] = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below: list[Any] = []
        for item in level:
            for child in item.values() if isinstance(item, dict) else item:
                if isinstance(child, dict | list):
                    below.append(child)
        level = below
    return False


def _reader_failed(
    provider: Provider, exc: Exception, body: Any, status: int
) -> ResponseValidationError:
    return provider.invalid(f"{type(exc).__name__} while reading it", body, status_code=status)


def _unreadable(error: ResponseValidationError, spec: RequestSpec, redact: Redactor) -> APIError:
    error.body = redact.scrub(error.body)
    error.run_id = error.run_id or spec.run_id
    # A start that answered 2xx with a body we cannot read may well have started a run.
    error.may_have_started = spec.operation is Operation.INVOKE
    return error
