"""Retry policy for one request: which failures are retried, and how long to wait between.

The wait schedule comes from backoff's wait generators driven by our own loop (backoff's
decorators call `asyncio.sleep`, which would break trio and the generated sync client).
Whether a failure is retried depends on the operation, not on the HTTP method: querying a
run is always safe to repeat, starting one is not.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .._core.deadline import Deadline
from .._core.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    ConfigurationError,
    InsufficientCreditsError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
)
from .._core.operation import Operation

__all__ = [
    "RetryPolicy",
    "is_retryable",
    "next_retry_delay",
    "parse_retry_after",
    "retry_hint",
    "slow_down_hint",
]


@dataclass(frozen=True)
class RetryPolicy:
    """How one request is retried after a transient failure.

    Attributes:
        max_retries: Retries after the first attempt (0 disables retrying).
        initial_delay: The base of the first backoff delay, in seconds.
        max_delay: The largest backoff delay, in seconds.
        multiplier: How much the delay grows per retry.
        jitter: Draw each delay uniformly from zero to its value (backoff's `full_jitter`),
            so that many clients failing together do not retry together.
        max_retry_after: The largest server `Retry-After` hint honoured, in seconds; a larger
            hint is capped to this.
        budget: Seconds after a request's first attempt began past which no retry starts
            (an attempt under way is bounded by its HTTP timeout instead). None: no budget.
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    multiplier: float = 2.0
    jitter: bool = True
    max_retry_after: float = 60.0
    budget: float | None = 120.0

    def __post_init__(self) -> None:
        _require(self.max_retries >= 0, "max_retries must be >= 0")
        _require(self.initial_delay >= 0, "initial_delay must be >= 0")
        _require(self.max_delay >= self.initial_delay, "max_delay must be >= initial_delay")
        _require(self.multiplier >= 1, "multiplier must be >= 1")
        _require(self.max_retry_after >= 0, "max_retry_after must be >= 0")
        _require(self.budget is None or self.budget > 0, "budget must be > 0 or None")

    def delays(self) -> Iterator[float]:
        """The backoff delays before retry 1, 2, ... (without server hints), `max_retries` long."""
        import backoff  # here, not at import time: it imports asyncio, which costs ~9 ms

        waits = backoff.expo(base=self.multiplier, factor=self.initial_delay)
        next(waits)  # backoff's generators are primed with one send before the first value
        for _ in range(self.max_retries):
            delay = min(next(waits), self.max_delay)
            yield backoff.full_jitter(delay) if self.jitter else delay


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigurationError(f"RetryPolicy: {message}")


_ALWAYS_RETRIED_STATUSES = frozenset({408, 429})
# A start is retried only where the server surely did not start a run.
_START_RETRIED_STATUSES = frozenset({429, 503})


def is_retryable(error: APIError, operation: Operation) -> bool:
    """Whether `error` from `operation` may be retried without risk of a second run."""
    if isinstance(error, InsufficientCreditsError):
        return False  # a spent quota or balance, whatever its status (Dify sends 429)
    if operation is Operation.QUERY:
        transient = (APIConnectionError, ResponseValidationError, RateLimitError, ServerError)
        if isinstance(error, transient):
            return True
        return isinstance(error, APIStatusError) and (
            error.status_code in _ALWAYS_RETRIED_STATUSES or error.status_code >= 500
        )
    if error.may_have_started:
        return False
    if isinstance(error, APIConnectionError | RateLimitError):
        return True
    return isinstance(error, APIStatusError) and error.status_code in _START_RETRIED_STATUSES


def next_retry_delay(
    error: APIError,
    operation: Operation,
    policy: RetryPolicy,
    schedule: Iterator[float],
    limits: tuple[Deadline, ...],
) -> float | None:
    """The sleep before retrying after `error`, or None when it must not be retried.

    None when the failure is not safe to retry, the retries are used up, or the sleep would
    pass one of `limits` (the request's retry budget, the caller's wait deadline).
    """
    if not is_retryable(error, operation):
        return None
    scheduled = next(schedule, None)
    if scheduled is None:
        return None
    hint = retry_hint(error)
    # A hint may lengthen the wait, never shorten it: `Retry-After: 0` is no licence to spin.
    delay = scheduled if hint is None else max(scheduled, min(hint, policy.max_retry_after))
    if any(limit.remaining() <= delay for limit in limits):
        return None
    return delay


def retry_hint(error: APIError) -> float | None:
    """The server's wait hint carried by an error (`Retry-After` on any status error)."""
    if isinstance(error, RateLimitError) and error.retry_after is not None:
        return error.retry_after
    if isinstance(error, APIStatusError):
        return parse_retry_after(error.headers)
    return None


def slow_down_hint(error: APIError) -> float | None:
    """For an answer that asks the client to slow down, the server's wait hint in seconds.

    A 429, or a 503 that carries a wait hint, asks it; the result is 0.0 when the server
    gave no usable hint, and None for every other failure.
    """
    if not isinstance(error, APIStatusError):
        return None
    if isinstance(error, RateLimitError) or error.status_code == 429:
        return retry_hint(error) or 0.0
    if error.status_code == 503:
        return parse_retry_after(error.headers)
    return None


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Read a server's wait hint: `retry-after-ms`, or `Retry-After` in seconds or HTTP-date.

    Returns seconds (never negative), or None when there is no readable hint.
    """
    millis = headers.get("retry-after-ms")
    if millis is not None:
        seconds = _as_seconds(millis)
        if seconds is not None:
            return seconds / 1000.0
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _as_seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _as_seconds(text: str) -> float | None:
    try:
        seconds = float(text.strip())
    except ValueError:
        return None
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)
