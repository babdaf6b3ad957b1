"""A client-wide request rate limit, shared by every call of one client."""

from __future__ import annotations

import threading

from .._core.deadline import now, positive_seconds

__all__ = ["RateLimiter"]


class RateLimiter:
    """A token bucket: `rate` requests per second on average, bursts of up to `burst`.

    `reserve()` books the next free slot and says how long to sleep until it; booking is
    done under a lock with no waiting inside, so one limiter serves every task of an event
    loop and every thread of a blocking client alike.
    """

    __slots__ = ("_burst", "_interval", "_lock", "_next_free")

    def __init__(self, rate: float, burst: int = 1) -> None:
        self._interval = 1.0 / positive_seconds(rate, "rate_limit")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self._burst = burst
        self._lock = threading.Lock()
        self._next_free = now()

    @property
    def rate(self) -> float:
        """Requests per second."""
        return 1.0 / self._interval

    def reserve(self) -> float:
        """Book one request; return the seconds to wait before sending it."""
        with self._lock:
            current = now()
            # Idle time earns up to `burst` requests that may go at once.
            earliest = current - (self._burst - 1) * self._interval
            start = max(self._next_free, earliest)
            self._next_free = start + self._interval
            return max(0.0, start - current)
