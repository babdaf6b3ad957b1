"""The run workflow's timer schedule: the client's poll schedule as a pure function.

A workflow must decide the same way when it is replayed, so nothing here reads a clock or a
global random source: the elapsed time comes from `workflow.now()` and the jitter from
`workflow.random()`, both recorded in the history.
"""

from __future__ import annotations

import random

from .._waiting.estimate import DurationEstimate
from .._waiting.policy import PollPolicy

__all__ = ["TimerSchedule"]


class TimerSchedule:
    """The sleeps between a run's queries: learned around known durations, else plain.

    The plain schedule is `PollPolicy.delays`; with duration clusters learned by the worker
    (and an adaptive policy) it is `PollPolicy.learned_delay`, exactly as the in-process
    client polls.
    """

    def __init__(
        self,
        policy: PollPolicy,
        clusters: tuple[tuple[float, float], ...],
        rng: random.Random,
    ) -> None:
        self._policy = policy
        self._rng = rng
        estimate = DurationEstimate(len(clusters), clusters)
        self._estimate = estimate if policy.adaptive and estimate.warm else None
        self._plain = policy.delays(rng)

    def next_delay(self, elapsed: float) -> float:
        """Seconds to sleep before the next query, `elapsed` seconds after the start."""
        if self._estimate is None:
            return next(self._plain)
        return self._policy.learned_delay(self._estimate, elapsed, self._rng.random())
