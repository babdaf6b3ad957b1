"""One request in flight: its deadline, and whether any of its bytes were written.

The deadline-cutting network backends (`deadline_backend`) ask `cut_to_deadline` before each
socket operation; the requester reads the outcome with `settled_failure`/`known_sent`, so a
start that failed before any byte left is known to be safe to repeat.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

from .._core.deadline import Deadline
from .http import URL, RemoteProtocolError, RequestError, TransportError

__all__ = ["Attempt", "attempt", "cut_to_deadline", "known_sent", "settled_failure"]


class Attempt:
    """What the transports learn about one request while sending it.

    `tracked` is True once the request reached the network through a transport
    flowinvoke built over httpcore, which sees every socket write: then `written` says for
    certain whether any byte of the request left this process. Otherwise (a mock, a
    caller's client, aiohttp, a wait in the pool) nothing is known beyond the error's type.

    Used as a context manager, it is the request in flight: socket operations inside the
    block are cut at `deadline`. A class rather than a generator: thousands of queued
    waits each hold one.
    """

    __slots__ = ("_token", "deadline", "tracked", "written")

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.tracked = False
        self.written = False
        self._token: Token[Attempt | None] | None = None

    def __enter__(self) -> Attempt:
        self._token = _ATTEMPT.set(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _ATTEMPT.reset(self._token)
            self._token = None


_ATTEMPT: ContextVar[Attempt | None] = ContextVar("flowinvoke_attempt", default=None)
_SENT = "flowinvoke_request_sent"


def attempt(deadline: Deadline) -> Attempt:
    """Send one request inside this block: its socket operations are cut at `deadline`."""
    return Attempt(deadline)


def settled_failure(exc: RequestError, state: Attempt, url: URL) -> TransportError:
    """`exc` as a `TransportError` that knows whether any of the request was sent.

    A bad body (`DecodingError`) or a redirect loop means an answer came back, so the
    request went out; so did the first request of one whose redirect then failed (the
    failed request has another URL): a start is never repeated after either.
    """
    error = (
        exc
        if isinstance(exc, TransportError)
        else RemoteProtocolError(f"{type(exc).__name__}: {exc}")
    )
    if error is not exc or _redirected(exc, url):
        sent: bool | None = True
    else:
        sent = state.written if state.tracked else None
    setattr(error, _SENT, sent)
    return error


def known_sent(exc: TransportError) -> bool | None:
    """Whether the failed request was sent, if `settled_failure` knew; else None."""
    sent: bool | None = getattr(exc, _SENT, None)
    return sent


def _redirected(exc: RequestError, url: URL) -> bool:
    try:
        failed = exc.request
    except RuntimeError:  # raised outside a request: no URL to compare
        return False
    return failed.url != url


def cut_to_deadline(
    timeout: float | None, error: type[Exception], *, writing: bool = False
) -> float | None:
    """A socket timeout, shortened to what is left of the current request's deadline
    (unchanged outside `attempt`); raises `error` once the deadline has passed."""
    state = _ATTEMPT.get()
    if state is None:
        return timeout
    state.tracked = True  # this request reached the network (not a mock, not a pool wait)
    if state.deadline.finite:
        left = state.deadline.remaining()
        if left <= 0:
            raise error("the request's deadline passed")
        timeout = left if timeout is None else min(timeout, left)
    if writing:
        state.written = True
    return timeout
