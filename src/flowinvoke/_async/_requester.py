"""Sending one operation's request, retrying only what is safe to retry."""

from __future__ import annotations

import logging
import traceback
from collections.abc import AsyncGenerator, Iterator, Mapping
from contextlib import AbstractContextManager, aclosing, asynccontextmanager
from typing import cast

from .._compat import async_sleep
from .._core.deadline import Deadline
from .._core.defaults import DEFAULT_MAX_RESPONSE_BYTES
from .._core.errors import APIError, RateLimitError
from .._core.log import logger
from .._core.scopes import async_deadline_scope
from .._core.secret import Redactor
from .._observe.events import RequestOutcome, RetryEvent
from .._observe.observers import Observers
from .._transport import http as _http
from .._transport.attempt import Attempt, settled_failure
from .._transport.attempt import attempt as attempt_of
from .._transport.body import ResponseTooLarge, in_small_pieces, with_content
from .._transport.build import cuts_at_deadline
from .._transport.cooldown import CoolDown
from .._transport.instrumentation import traced_by_httpx_instrumentation
from .._transport.rate import RateLimiter
from .._transport.replies import Reply, read_reply, transport_error
from .._transport.retry import RetryPolicy, next_retry_delay, slow_down_hint
from .._transport.slots import AsyncRequestSlots
from .._transport.templates import RequestTemplates, timeout_extension
from ..providers import AuthScheme, Provider, RequestSpec

__all__ = ["AsyncRequester"]

_NO_DEADLINE = Deadline(None)
# How long after its deadline a request is cancelled from outside (the async client), for
# transports that do not cut their own socket operations there (aiohttp, a caller's
# httpx client): their own timeout errors, which tell what was sent, come first.
_CANCEL_GRACE = 0.25
# Paths with a run id in them (some platforms) must not grow the cache without end.
_MAX_CACHED_URLS = 64


class AsyncRequester:
    """One provider endpoint with its auth, timeouts and retry policy bound in."""

    __slots__ = (
        "_auth_scheme",
        "_base_url",
        "_cooldown",
        "_cut_by_transport",
        "_cuts_at_deadline",
        "_headers",
        "_http",
        "_limiter",
        "_max_bytes",
        "_observers",
        "_provider",
        "_redact",
        "_retry",
        "_slots",
        "_templates",
        "_timeout",
        "_urls",
        "_whole",
    )

    def __init__(
        self,
        http: _http.AsyncClient,
        *,
        provider: Provider,
        base_url: str,
        headers: Mapping[str, str],
        timeout: _http.Timeout,
        retry: RetryPolicy,
        redact: Redactor,
        slots: AsyncRequestSlots,
        limiter: RateLimiter | None = None,
        cooldown: CoolDown | None = None,
        observers: Observers | None = None,
        auth_scheme: AuthScheme | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self._http = http
        self._auth_scheme = auth_scheme  # named in an authentication failure's message
        self._provider = provider
        self._base_url = base_url.rstrip("/")
        # Headers the httpx client already sends by default need not be merged per request.
        defaults = http.headers
        same = all(defaults.get(name) == value for name, value in headers.items())
        self._headers = None if same else dict(headers)
        self._templates = RequestTemplates(http, self._headers)
        self._urls: dict[str, _http.URL] = {}
        self._timeout = timeout
        self._whole = _http.whole_request_seconds(timeout)
        self._max_bytes = max_response_bytes
        self._retry = retry
        self._redact = redact
        self._limiter = limiter
        self._slots = slots
        self._cooldown = cooldown or CoolDown(retry.max_retry_after)
        self._observers = observers or Observers(tracing=False)
        # The async client cancels a request from outside at its deadline (plus a grace),
        # since a caller's client, aiohttp or a mock may not cut their own waits. The
        # transport a client builds for itself cuts every socket operation there (as the
        # blocking client relies on): while its last request showed it did (it reached the
        # network through that transport, not a mock patched over it), that scope, about
        # 10 µs per request, is left out.
        self._cuts_at_deadline = cuts_at_deadline(http)
        self._cut_by_transport = False

    async def send(self, spec: RequestSpec, deadline: Deadline = _NO_DEADLINE) -> Reply:
        """Send `spec`, retrying transient failures; raise the last error when out of tries.

        Each attempt waits out the client's cool-down after rate-limited answers and its
        rate limit, if any; its HTTP timeouts and each sleep are cut to what is left of
        `deadline`.
        """
        url = self._url(spec.path)
        schedule: Iterator[float] | None = None  # made at the first failure: most have none
        budget = Deadline(self._retry.budget)
        attempt = 0
        while True:
            attempt += 1
            await self._hold_back(deadline)
            reply, error, cause = await self._attempt(spec, url, deadline, attempt)
            if reply is not None:
                self._cooldown.clear_streak()
                if logger.isEnabledFor(logging.DEBUG):  # its fields cost more than the check
                    logger.debug(
                        "%s %s answered: run %s %s",
                        self._provider.name,
                        spec.operation.value,
                        reply.run.id,
                        reply.run.raw_status or reply.run.status.value,
                        extra=_log_fields(self._provider, spec, attempt, reply.run.id),
                    )
                return reply
            assert error is not None
            schedule = schedule or self._retry.delays()
            delay = self._retry_delay(error, spec, url, attempt, schedule, budget, deadline)
            if delay is None:
                raise error from (None if cause is error else cause)
            await async_sleep(delay)

    @property
    def redact(self) -> Redactor:
        """Masks the API key in text from the server."""
        return self._redact

    @asynccontextmanager
    async def open_stream(
        self, spec: RequestSpec, deadline: Deadline = _NO_DEADLINE
    ) -> AsyncGenerator[_http.Response, None]:
        """Send `spec` and hand over its 2xx answer with the body unread (an event stream).

        Opening is retried like `send` (cool-down and rate limit included); a non-2xx
        answer is read and raised as its typed error. Failures while the caller reads the
        body are the caller's to handle.
        """
        url = self._url(spec.path)
        schedule = self._retry.delays()
        budget = Deadline(self._retry.budget)
        attempt = 0
        while True:
            attempt += 1
            opened = False
            await self._hold_back(deadline)
            # The request's hooks and span cover the whole stream (the span is never made
            # current, so it may stay open across the `yield`).
            with self._observe(spec, url, attempt) as outcome:
                try:
                    async with self._stream(spec, url, deadline) as response:
                        outcome.status = response.status_code
                        if response.is_success:
                            opened = True
                            self._cooldown.clear_streak()
                            yield response
                            return
                        await response.aread()
                        read_reply(
                            self._provider,
                            spec,
                            response,
                            self._redact,
                            auth_scheme=self._auth_scheme,
                        )
                        raise AssertionError("a non-2xx answer raises")  # pragma: no cover
                except _http.TransportError as exc:
                    if opened:
                        raise
                    error: APIError = transport_error(self._provider, spec, exc, self._redact)
                except APIError as exc:
                    if opened:
                        raise
                    error = exc
                outcome.error = error
            delay = self._retry_delay(error, spec, url, attempt, schedule, budget, deadline)
            if delay is None:
                raise error
            await async_sleep(delay)

    @asynccontextmanager
    async def _stream(
        self, spec: RequestSpec, url: _http.URL, deadline: Deadline
    ) -> AsyncGenerator[_http.Response, None]:
        if deadline.expired:
            raise _http.PoolTimeout("the deadline passed before the request could be sent")
        async with self._slots.hold(deadline):
            if deadline.expired:
                raise _http.PoolTimeout("the deadline passed before a request slot came free")
            # Socket operations are cut at the deadline while the stream is open (the sync
            # client's too), and a failure says whether any of the request went out.
            with attempt_of(deadline) as attempt:
                try:
                    async with self._http.stream(
                        spec.method,
                        url,
                        content=spec.content,
                        headers=self._headers,
                        timeout=_capped(self._timeout, deadline),
                    ) as response:
                        yield response
                except _http.RequestError as exc:
                    raise settled_failure(exc, attempt, url) from exc

    async def _attempt(
        self, spec: RequestSpec, url: _http.URL, deadline: Deadline, attempt: int
    ) -> tuple[Reply | None, APIError | None, BaseException | None]:
        """One try: its reply, or the typed error it ended with and that error's cause."""
        with self._observe(spec, url, attempt) as outcome:
            try:
                response = await self._request(spec, url, deadline)
            except _http.TransportError as exc:
                _release_frames(exc)
                outcome.error = transport_error(self._provider, spec, exc, self._redact)
                return None, outcome.error, exc
            outcome.status = response.status_code
            try:
                reply = read_reply(
                    self._provider, spec, response, self._redact, auth_scheme=self._auth_scheme
                )
                return reply, None, None
            except APIError as exc:
                _release_frames(exc)
                outcome.error = exc
                return None, exc, exc

    def _observe(
        self, spec: RequestSpec, url: _http.URL, attempt: int
    ) -> AbstractContextManager[RequestOutcome]:
        """The hooks and span of one attempt; no span of ours where OpenTelemetry's httpx
        instrumentation traces the request itself (one span per request, not two)."""
        return self._observers.request(
            self._provider.name, spec, url, attempt, span=self._own_request_span
        )

    def _own_request_span(self) -> bool:
        return not traced_by_httpx_instrumentation(self._http)

    def _retry_delay(
        self,
        error: APIError,
        spec: RequestSpec,
        url: _http.URL,
        attempt: int,
        schedule: Iterator[float],
        budget: Deadline,
        deadline: Deadline,
    ) -> float | None:
        """The sleep before retrying `attempt` after `error`, announced to the hooks and the
        log; None when it is not retried (not safe to, out of tries, or past the retry
        `budget` or the `deadline`). Starts the cool-down the error asks for."""
        self._note_slow_down(error)
        delay = next_retry_delay(error, spec.operation, self._retry, schedule, (budget, deadline))
        if delay is not None:
            delay = max(delay, self._cooldown.wait())
            if deadline.remaining() <= delay:
                delay = None
        if delay is None:
            logger.debug(
                "%s %s failed, not retried: %s",
                self._provider.name,
                spec.operation.value,
                error,
                extra=_log_fields(self._provider, spec, attempt),
            )
            return None
        if self._observers.active:
            event = self._observers.request_event(self._provider.name, spec, str(url), attempt)
            self._observers.retry(RetryEvent(event, error, delay))
        logger.info(
            "retrying %s %s (attempt %d of %d) in %.2fs after: %s",
            self._provider.name,
            spec.operation.value,
            attempt + 1,
            self._retry.max_retries + 1,
            delay,
            error,
            extra=_log_fields(self._provider, spec, attempt + 1),
        )
        return delay

    async def _hold_back(self, deadline: Deadline) -> None:
        """Wait out the cool-down and the rate limit (never past `deadline`)."""
        wait = self._cooldown.wait()
        if self._limiter is not None:
            wait = max(wait, self._limiter.reserve())
        if wait > 0:
            await async_sleep(deadline.cap(wait))

    def _note_slow_down(self, error: APIError) -> None:
        """Start the client-wide cool-down if `error` asks the client to slow down."""
        hint = slow_down_hint(error)
        if hint is None:
            return
        length = self._cooldown.pause(hint)
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            # What callers see is what the client honours: a hint of 1e9 s is not passed on.
            error.retry_after = min(error.retry_after, self._retry.max_retry_after)
        logger.debug("%s asked to slow down; the client pauses %.2fs", self._provider.name, length)

    def _url(self, path: str) -> _http.URL:
        """The parsed URL for `path`; the few fixed paths are parsed once."""
        url = self._urls.get(path)
        if url is None:
            url = _http.URL(self._base_url + path)
            if len(self._urls) < _MAX_CACHED_URLS:
                self._urls[path] = url
        return url

    async def _request(
        self, spec: RequestSpec, url: _http.URL, deadline: Deadline
    ) -> _http.Response:
        """One attempt, ended by `deadline` or the client's timeout, whichever is sooner,
        whatever the server does (a drip-fed or endless answer included).

        A start is never sent after its deadline: waiting for a slot ends there, unsent.
        """
        limit = deadline.within(self._whole)
        if limit.expired:  # a request with no time left would fail with a baffling error
            raise _http.PoolTimeout("the deadline passed before the request could be sent")
        if not self._slots.try_acquire():
            # Thousands of waits may queue here at once: only they pay for a scope.
            with async_deadline_scope(limit) as queued:
                await self._slots.acquire(limit)
            if queued.cancelled_caught:
                raise _http.PoolTimeout("no request slot came free before the deadline")
        try:
            if limit.expired:
                raise _http.PoolTimeout("the deadline passed before a request slot came free")
            attempt = attempt_of(limit)
            if self._cut_by_transport:  # see __init__: no scope needed, none paid for
                with attempt:
                    response = await self._exchange_settled(spec, url, limit, attempt)
            else:
                answer: _http.Response | None = None
                with async_deadline_scope(limit, _CANCEL_GRACE), attempt:
                    answer = await self._exchange_settled(spec, url, limit, attempt)
                if answer is None:  # cut at the deadline
                    raise _cut(attempt, url)
                response = answer
            self._cut_by_transport = self._cuts_at_deadline and attempt.tracked
            return response
        finally:
            self._slots.release()

    async def _exchange_settled(
        self, spec: RequestSpec, url: _http.URL, limit: Deadline, attempt: Attempt
    ) -> _http.Response:
        """`_exchange`, its failures told whether any of the request was sent."""
        try:
            return await self._exchange(spec, url, limit)
        except _http.RequestError as exc:
            raise settled_failure(exc, attempt, url) from exc

    async def _exchange(self, spec: RequestSpec, url: _http.URL, limit: Deadline) -> _http.Response:
        """Send the request and read its body in chunks, stopping at the size cap and, for
        transports that cannot be cut (a caller's blocking client), at the deadline."""
        request = self._templates.build(
            spec.method, spec.path, url, spec.content, timeout_extension(self._timeout, limit)
        )
        response = in_small_pieces(await self._http.send(request, stream=True))
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self._max_bytes:
                raise self._too_large(request)
            body = bytearray()
            # httpx types it an iterator; it is a generator, closed here if abandoned.
            chunks = cast("AsyncGenerator[bytes, None]", response.aiter_bytes())
            async with aclosing(chunks):
                async for chunk in chunks:
                    if len(body) + len(chunk) > self._max_bytes:
                        raise self._too_large(request)
                    body += chunk
                    if limit.expired:
                        raise _http.ReadTimeout("the answer did not end before the deadline")
        finally:
            await response.aclose()
        return with_content(response, bytes(body))

    def _too_large(self, request: _http.Request) -> ResponseTooLarge:
        return ResponseTooLarge(
            f"the answer is larger than max_response_bytes ({self._max_bytes} bytes)",
            request=request,
        )


def _release_frames(error: BaseException) -> None:
    """Clear the finished frames in `error`'s traceback chain, and the answer they hold.

    A failed attempt's error keeps its traceback, whose frames keep their locals: the
    buffer of an answer cut at `max_response_bytes` (32 MiB by default) among them. With
    the error in a reference cycle, only the garbage collector frees them, late: a wait
    retrying against a gzip bomb held one buffer per attempt (over 270 MB in 6 s). The
    chain of errors and the lines of the traceback stay; only the frames' locals go.
    """
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        traceback.clear_frames(link.__traceback__)  # skips the frames still running
        link = link.__cause__ or link.__context__


def _cut(attempt: Attempt, url: _http.URL) -> _http.TransportError:
    """The error of a request its deadline cut once it held a slot."""
    late = _http.ReadTimeout("the answer did not come before the deadline")
    return settled_failure(late, attempt, url)


def _capped(timeout: _http.Timeout, deadline: Deadline) -> _http.Timeout:
    """The request's timeouts, none longer than what is left of the deadline."""
    if not deadline.finite:
        return timeout
    return _http.Timeout(**timeout_extension(timeout, deadline))


def _log_fields(
    provider: Provider, spec: RequestSpec, attempt: int, run_id: str | None = None
) -> dict[str, object]:
    """The structured fields of a request's log records (never the key or a header)."""
    return {
        "provider": provider.name,
        "operation": spec.operation.value,
        "run_id": run_id or spec.run_id,
        "attempt": attempt,
    }
