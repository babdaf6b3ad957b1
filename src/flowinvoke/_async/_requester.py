"""Sending one operation's request, retrying only what is safe to retry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from .. import _http
from .._compat import AsyncRequestSlots, async_sleep
from .._deadline import Deadline
from .._errors import APIError
from .._logging import logger
from .._rate import RateLimiter
from .._responses import Reply, read_reply, transport_error
from .._retry import RetryPolicy, next_retry_delay
from .._secret import Redactor
from ..providers import Provider, RequestSpec

__all__ = ["AsyncRequester"]

_NO_DEADLINE = Deadline(None)
# Paths with a run id in them (some platforms) must not grow the cache without end.
_MAX_CACHED_URLS = 64


class AsyncRequester:
    """One provider endpoint with its auth, timeouts and retry policy bound in."""

    __slots__ = (
        "_base_url",
        "_headers",
        "_http",
        "_limiter",
        "_provider",
        "_redact",
        "_retry",
        "_slots",
        "_timeout",
        "_urls",
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
    ) -> None:
        self._http = http
        self._provider = provider
        self._base_url = base_url.rstrip("/")
        # Headers the httpx client already sends by default need not be merged per request.
        defaults = http.headers
        same = all(defaults.get(name) == value for name, value in headers.items())
        self._headers = None if same else dict(headers)
        self._urls: dict[str, _http.URL] = {}
        self._timeout = timeout
        self._retry = retry
        self._redact = redact
        self._limiter = limiter
        self._slots = slots

    async def send(self, spec: RequestSpec, deadline: Deadline = _NO_DEADLINE) -> Reply:
        """Send `spec`, retrying transient failures; raise the last error when out of tries.

        Each attempt waits for the client's rate limit, if any; its HTTP timeouts and each
        sleep are cut to what is left of `deadline`.
        """
        url = self._url(spec.path)
        schedule = self._retry.delays()
        budget = Deadline(self._retry.budget)
        attempt = 0
        while True:
            attempt += 1
            if self._limiter is not None and (wait := self._limiter.reserve()) > 0:
                await async_sleep(deadline.cap(wait))
            try:
                response = await self._request(spec, url, deadline)
            except _http.TransportError as exc:
                error: APIError = transport_error(self._provider, spec, exc, self._redact)
                cause: BaseException = exc
            else:
                try:
                    return read_reply(self._provider, spec, response, self._redact)
                except APIError as exc:
                    error = cause = exc
            delay = next_retry_delay(
                error, spec.operation, self._retry, schedule, (budget, deadline)
            )
            if delay is None:
                raise error from (None if cause is error else cause)
            logger.info(
                "retrying %s %s (attempt %d of %d) in %.2fs after: %s",
                self._provider.name,
                spec.operation.value,
                attempt + 1,
                self._retry.max_retries + 1,
                delay,
                error,
            )
            await async_sleep(delay)

    @property
    def redact(self) -> Redactor:
        """Masks the API key in text from the server."""
        return self._redact

    @asynccontextmanager
    async def open_stream(
        self, spec: RequestSpec, deadline: Deadline = _NO_DEADLINE
    ) -> AsyncIterator[_http.Response]:
        """Send `spec` and hand over its 2xx answer with the body unread (an event stream).

        Opening is retried like `send`; a non-2xx answer is read and raised as its typed
        error. Failures while the caller reads the body are the caller's to handle.
        """
        url = self._url(spec.path)
        schedule = self._retry.delays()
        budget = Deadline(self._retry.budget)
        while True:
            opened = False
            try:
                async with self._stream(spec, url, deadline) as response:
                    if response.is_success:
                        opened = True
                        yield response
                        return
                    await response.aread()
                    read_reply(self._provider, spec, response, self._redact)
                    raise AssertionError("a non-2xx answer always raises")  # pragma: no cover
            except _http.TransportError as exc:
                if opened:
                    raise
                error: APIError = transport_error(self._provider, spec, exc, self._redact)
            except APIError as exc:
                if opened:
                    raise
                error = exc
            delay = next_retry_delay(
                error, spec.operation, self._retry, schedule, (budget, deadline)
            )
            if delay is None:
                raise error
            logger.info(
                "retrying %s stream start in %.2fs after: %s", self._provider.name, delay, error
            )
            await async_sleep(delay)

    @asynccontextmanager
    async def _stream(
        self, spec: RequestSpec, url: _http.URL, deadline: Deadline
    ) -> AsyncIterator[_http.Response]:
        if deadline.expired:
            raise _http.PoolTimeout("the deadline passed before the request could be sent")
        async with (
            self._slots.hold(deadline),
            self._http.stream(
                spec.method,
                url,
                content=spec.content,
                headers=self._headers,
                timeout=_capped(self._timeout, deadline),
            ) as response,
        ):
            yield response

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
        if deadline.expired:  # a request with no time left would fail with a baffling error
            raise _http.PoolTimeout("the deadline passed before the request could be sent")
        async with self._slots.hold(deadline):
            return await self._http.request(
                spec.method,
                url,
                content=spec.content,
                headers=self._headers,
                timeout=_capped(self._timeout, deadline),
            )


def _capped(timeout: _http.Timeout, deadline: Deadline) -> _http.Timeout:
    """The request's timeouts, none longer than what is left of the deadline."""
    if not deadline.finite:
        return timeout
    left = deadline.remaining()

    def cap(value: float | None) -> float:
        return left if value is None else min(value, left)

    return _http.Timeout(
        connect=cap(timeout.connect),
        read=cap(timeout.read),
        write=cap(timeout.write),
        pool=cap(timeout.pool),
    )
