"""The poll schedule: how long to sleep between queries of a run, and for how long at all."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._core.errors import ConfigurationError

if TYPE_CHECKING:
    from .estimate import DurationEstimate

__all__ = ["PollPolicy"]


@dataclass(frozen=True)
class PollPolicy:
    """When to query a run that has not finished, and when to give up waiting.

    The defaults poll early runs often and long runs rarely: the first query comes 0.2 s
    after the start, each interval is 1.3 times the previous one up to 30 s, and each is
    jittered by up to +/-10 % so that a batch of runs started together does not query in
    lock-step. A run that ends at time T is therefore seen after a lag of about 15 % of T
    (plus 0.1 s), and a 5-minute run costs about 26 queries; fixed 1 s polling would cost
    300, and google api-core's 1 s x1.5 up to 20 s schedule lags most on short runs.

    Attributes:
        initial_delay: Seconds before the first query.
        multiplier: Growth of the interval per query (1 gives fixed-interval polling).
        max_interval: The longest interval, in seconds.
        jitter: Each interval is scaled by a random factor in [1 - jitter, 1 + jitter].
        timeout: The wait deadline in seconds, measured on a monotonic clock from the start
            of the wait. Finite by default (30 minutes); None waits without a deadline.
        max_hint: A server `Retry-After` hint on a query answer may lengthen the next
            interval, up to this many seconds; it never shortens it, so a hint of 0 cannot
            make polling faster than its schedule.
        adaptive: Learn how long each workflow's runs take (per client, from the runs it saw
            succeed) and query around the expected end instead; see `learned_delay`. False
            gives the plain schedule above, always.
    """

    initial_delay: float = 0.2
    multiplier: float = 1.3
    max_interval: float = 30.0
    jitter: float = 0.1
    timeout: float | None = 1800.0
    max_hint: float = 60.0
    adaptive: bool = True

    def __post_init__(self) -> None:
        checks = (
            (self.initial_delay >= 0, "initial_delay must be >= 0"),
            (self.multiplier >= 1, "multiplier must be >= 1"),
            (self.max_interval >= self.initial_delay, "max_interval must be >= initial_delay"),
            (0 <= self.jitter < 1, "jitter must be in [0, 1)"),
            (self.timeout is None or self.timeout > 0, "timeout must be > 0 or None"),
            (self.max_hint >= 0, "max_hint must be >= 0"),
            (isinstance(self.adaptive, bool), "adaptive must be True or False"),
        )
        for ok, message in checks:
            if not ok:
                raise ConfigurationError(f"PollPolicy: {message}")

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The endless schedule of sleeps between queries, first one first.

        Pass a seeded `random.Random` for a reproducible schedule (tests, benchmarks).
        """
        return _Delays(
            _growth(self.initial_delay, self.multiplier, self.max_interval),
            self.jitter,
            (rng or random).uniform,
        )

    def next_delay(self, scheduled: float, hint: float | None) -> float:
        """The sleep before the next query: the schedule's, lengthened (never shortened) by
        the server's hint up to `max_hint`."""
        if hint is None:
            return scheduled
        return max(scheduled, min(hint, self.max_hint))

    def learned_delay(self, estimate: DurationEstimate, elapsed: float, draw: float) -> float:
        """The sleep before the next query of a run whose durations are known.

        A pure function of the estimate, the seconds since the run's start answer arrived and
        `draw` (uniform in [0, 1), the jitter). For each cluster (shortest `lo`, longest `hi`
        of a group of similar past durations) queries come every `step` seconds from about
        `lo` until one at or after `hi` (one step after `hi` for the last cluster), with
        `step = max(initial_delay / 2, 4 % of lo, (hi - lo) / 6)`; the first of them lands
        at a random point of the step before `lo`, so a batch started together spreads out.
        Before the first cluster, polling sleeps straight to it (but never longer than
        `max_interval`). Between two clusters, where none of the remembered runs ended, each
        interval is the time elapsed so far (at least the plain schedule's interval for it,
        `initial_delay + (multiplier - 1) * elapsed`, at most `max_interval`): a run that ends
        in the gap is seen by about twice its duration, and crossing the gap costs about
        log2(next lo / previous hi) queries rather than a query every 15 % of the time.
        Past the last cluster (an overrun) the interval grows from `step` by
        `max(multiplier - 1, 0.3)` times the overrun, and is never longer than the plain
        schedule's.
        """
        spread = 1 + self.jitter * (2 * draw - 1)
        plain = min(self.initial_delay + (self.multiplier - 1) * elapsed, self.max_interval)
        last = len(estimate.clusters) - 1
        for index, (low, high) in enumerate(estimate.clusters):
            step = _step(self.initial_delay, low, high)
            # A query inside the step before `lo` has arrived: it does not draw a new landing.
            if elapsed < low - step:
                reach = low - step * draw - elapsed
                if not index:
                    return min(reach, self.max_interval)
                across = min(max(plain, elapsed), self.max_interval)  # the gap, sparsely
                return min(reach, across * spread)
            if elapsed < (high + step if index == last else high):
                return step * spread
        # At least 30 % growth, so that a fixed-interval policy's overrun gets back to it.
        growing = step + max(self.multiplier - 1, 0.3) * (elapsed - high)
        return min(growing, plain) * spread

    def catch_up_delay(
        self, estimate: DurationEstimate, elapsed: float, queried_at: float, draw: float
    ) -> float | None:
        """The sleep before the next query of a wait that has just learned `estimate` while
        it waited (other runs of its workflow ended), if it must catch up; else None.

        A pure function like `learned_delay`. `queried_at` is the elapsed time of the
        wait's last query (0 if none). When a cluster's landing (the step before its
        shortest duration) began after that query and the wait is past it, the run may
        have ended since: the next query comes at a random point of the next step, so that
        waits started together catch up spread out. Otherwise None: `learned_delay` plans.
        """
        catch_up: float | None = None
        for low, high in estimate.clusters:
            step = _step(self.initial_delay, low, high)
            if elapsed < low - step:
                break
            catch_up = step * draw if queried_at < low - step else None
        return catch_up


def _step(initial_delay: float, low: float, high: float) -> float:
    """The interval between queries inside a cluster of durations (see `learned_delay`)."""
    return max(initial_delay / 2, 0.04 * low, (high - low) / 6)


_MAX_STEPS = 1024


class _Delays:
    """A schedule in progress: a small object rather than a generator, as thousands of
    waits each hold one while they sleep."""

    __slots__ = ("_draw", "_index", "_jitter", "_steps")

    def __init__(
        self, steps: tuple[float, ...], jitter: float, draw: Callable[[float, float], float]
    ) -> None:
        self._steps = steps
        self._jitter = jitter
        self._draw = draw
        self._index = 0

    def __iter__(self) -> Iterator[float]:
        return self

    def __next__(self) -> float:
        delay = self._steps[self._index]
        if self._index < len(self._steps) - 1:
            self._index += 1
        jitter = self._jitter
        return delay * self._draw(1 - jitter, 1 + jitter) if jitter else delay


@functools.lru_cache(maxsize=64)
def _growth(initial: float, multiplier: float, ceiling: float) -> tuple[float, ...]:
    """The unjittered sleeps, from backoff's `expo`, up to the first at the ceiling (which
    then repeats), the first that no longer grows, or the `_MAX_STEPS`th (a multiplier so
    close to 1 that the schedule is all but fixed by then)."""
    import backoff  # here, not at import time: it imports asyncio, which costs ~9 ms

    waits = backoff.expo(base=multiplier, factor=initial)
    next(waits)  # backoff's generators are primed with one send before the first value
    steps: list[float] = []
    for raw in waits:
        delay = min(raw, ceiling)
        if steps and delay <= steps[-1]:
            break
        steps.append(delay)
        if delay >= ceiling or len(steps) == _MAX_STEPS:
            break
    return tuple(steps)
