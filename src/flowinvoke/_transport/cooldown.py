"""A client-wide pause after the server said "slow down" (429, or 503 with Retry-After).

One rate-limited answer means the whole client is sending too much, not just the request
that got it: every wait and start of the client shares one cool-down, so 1,000 waits back
off together instead of each retrying on its own schedule.
"""

from __future__ import annotations

import random
import threading

from .._core.deadline import now

__all__ = ["CoolDown"]

#: The first pause when the server gave no usable hint; each further rate-limited answer
#: to a request sent after the pause began doubles it, up to the cap.
FIRST_PAUSE = 1.0


class CoolDown:
    """When the client may next send a request, after rate-limited answers.

    `pause()` is told of each rate-limited answer: the server's hint (capped) when it gave a
    positive one, else an exponential pause from one second. Only an answer that arrives
    while no pause is on starts a new, longer one: the other answers of the same burst (the
    requests that were in flight together) do not lengthen it, so 100 waits hit by one 429
    window pause once together, not 100 times. Thread-safe, and never waits itself: callers
    sleep for what `wait()` says.
    """

    __slots__ = ("_cap", "_lock", "_streak", "_until")

    def __init__(self, cap: float) -> None:
        self._cap = cap
        self._lock = threading.Lock()
        self._until = 0.0
        self._streak = 0

    def wait(self) -> float:
        """Seconds to sleep before the next request (0 when no pause is on).

        Each caller gets a small random spread past the pause's end, so the requests held
        back do not all go out in the same instant.
        """
        left = self._until - now()
        if left <= 0:
            return 0.0
        return left + random.uniform(0.0, min(1.0, 0.1 * left))  # noqa: S311 - not crypto

    def pause(self, hint: float | None) -> float:
        """Begin (or extend) a pause after a rate-limited answer; return what is left of it.

        Args:
            hint: The server's wait hint in seconds, if it sent one; zero or less counts as
                none (a `Retry-After: 0` on a 429 is no licence to retry at once).
        """
        hinted = min(hint, self._cap) if hint is not None and hint > 0 else None
        with self._lock:
            current = now()
            if current >= self._until:  # no pause on: this answer starts the next, longer one
                self._streak += 1
                if hinted is None:
                    hinted = min(FIRST_PAUSE * 2.0 ** min(self._streak - 1, 30), self._cap)
                self._until = current + hinted
            elif hinted is not None:
                self._until = max(self._until, current + hinted)
            return self._until - current

    def clear_streak(self) -> None:
        """A request went through: the next pause starts from one second again."""
        if self._streak:
            with self._lock:
                self._streak = 0
