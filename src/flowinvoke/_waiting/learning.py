"""Run durations learned per workflow, so that polling can query when a run is likely done.

A client keeps one `RunDurations`: for each workflow it saw runs of (at most
`max_workflows`, least recently used dropped first), the last `window` durations of runs that
finished successfully. From them it derives a `DurationEstimate` (clusters of similar
durations), which `PollPolicy.learned_delay` turns into a schedule. Nothing here sleeps or
sends; a `RunTimer` is the per-wait part the poller feeds with what each query saw.
"""

from __future__ import annotations

import math
import random
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._core import deadline as _deadline
from .._core.errors import ConfigurationError
from .estimate import MIN_RUNS, DurationEstimate, estimate_durations

if TYPE_CHECKING:
    from .._core.models import WorkflowRun
    from .policy import PollPolicy

__all__ = [
    "LearnedDuration",
    "RunDurations",
    "RunTimer",
    "WorkflowKey",
]

_EXPORT_VERSION = 1


@dataclass(frozen=True, slots=True)
class WorkflowKey:
    """Whose durations: a provider, the URL it was reached at and a workflow identity.

    `workflow` is the run's workflow id when the start answer names one, else the client's
    `workflow_id`, else `"key:"` and a 12-hex-digit BLAKE2b fingerprint of the API key (one
    GPTBots key belongs to one workflow). The key itself is never stored.
    """

    provider: str
    base_url: str
    workflow: str


@dataclass(frozen=True, slots=True)
class LearnedDuration:
    """One workflow's row in `RunDurations.snapshot()`.

    Attributes:
        key: The workflow.
        durations: The remembered durations in seconds, oldest first.
        median: Their median, in seconds.
        estimate: What the next wait on this workflow will schedule around.
    """

    key: WorkflowKey
    durations: tuple[float, ...]
    median: float
    estimate: DurationEstimate


class _History:
    """One workflow's last durations and the estimate drawn from them (cached)."""

    __slots__ = ("durations", "estimate")

    def __init__(self, window: int) -> None:
        self.durations: deque[float] = deque(maxlen=window)
        self.estimate = DurationEstimate(0, ())


class RunDurations:
    """Durations of finished runs per workflow, which the default poll policy learns from.

    Every client owns one (`client.run_durations`); clients made with `with_options` share
    it. Memory is bounded: `window` durations for each of at most `max_workflows` workflows
    (the least recently used is forgotten first). Only runs that finished successfully are
    recorded; failed, cancelled and timed-out waits teach nothing.

    Args:
        window: Durations remembered per workflow (the newest ones).
        max_workflows: Workflows remembered at most.
        seed: An `export()` of an earlier client, so that a new process starts warm.
    """

    def __init__(
        self,
        *,
        window: int = 32,
        max_workflows: int = 256,
        seed: Mapping[str, Any] | None = None,
    ) -> None:
        if window < MIN_RUNS or max_workflows < 1:
            raise ConfigurationError(
                f"RunDurations: window must be >= {MIN_RUNS} and max_workflows >= 1"
            )
        self._window = window
        self._max_workflows = max_workflows
        self._lock = threading.Lock()  # the blocking client may be shared across threads
        self._histories: OrderedDict[WorkflowKey, _History] = OrderedDict()
        if seed is not None:
            self.seed(seed)

    def __len__(self) -> int:
        return len(self._histories)

    def __repr__(self) -> str:
        return f"RunDurations(workflows={len(self)}, window={self._window})"

    def estimate(self, key: WorkflowKey) -> DurationEstimate:
        """What a wait on `key`'s next run will schedule around."""
        with self._lock:
            history = self._histories.get(key)
            return history.estimate if history else _COLD

    def record(self, key: WorkflowKey, seconds: float) -> None:
        """Remember one successful run's duration (seconds from its start to its end)."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"a duration must be a finite number >= 0, not {seconds!r}")
        with self._lock:
            history = self._histories.get(key)
            if history is None:
                history = self._histories[key] = _History(self._window)
                if len(self._histories) > self._max_workflows:
                    self._histories.popitem(last=False)
            else:
                self._histories.move_to_end(key)
            history.durations.append(float(seconds))
            history.estimate = estimate_durations(tuple(history.durations))

    def snapshot(self) -> list[LearnedDuration]:
        """Every remembered workflow with its durations and estimate, least recent first."""
        with self._lock:
            rows = [(key, tuple(h.durations), h.estimate) for key, h in self._histories.items()]
        return [
            LearnedDuration(key, durations, _median(durations), estimate)
            for key, durations, estimate in rows
        ]

    def export(self) -> dict[str, Any]:
        """The durations as a JSON-able dict, for `seed()` or `RunDurations(seed=...)`."""
        return {
            "version": _EXPORT_VERSION,
            "workflows": [
                {
                    "provider": row.key.provider,
                    "base_url": row.key.base_url,
                    "workflow": row.key.workflow,
                    "durations": [round(value, 4) for value in row.durations],
                }
                for row in self.snapshot()
            ],
        }

    def seed(self, exported: Mapping[str, Any]) -> None:
        """Add the durations of an `export()` (checked first: a bad one changes nothing)."""
        try:
            if exported.get("version") != _EXPORT_VERSION:
                raise ValueError(f"unknown version {exported.get('version')!r}")
            rows = [
                (
                    WorkflowKey(str(row["provider"]), str(row["base_url"]), str(row["workflow"])),
                    [float(value) for value in row["durations"]],
                )
                for row in exported["workflows"]
            ]
            for _, values in rows:
                if not all(math.isfinite(value) and value >= 0 for value in values):
                    raise ValueError("durations must be finite numbers >= 0")
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(f"RunDurations: not an export: {exc}") from None
        for key, values in rows:
            for value in values:
                self.record(key, value)

    def clear(self) -> None:
        """Forget everything (polling goes back to the plain schedule)."""
        with self._lock:
            self._histories.clear()

    def timer(self, key: WorkflowKey) -> RunTimer:
        """Time one wait whose run's start answer has just arrived."""
        return RunTimer(self, key, self.estimate(key))


_COLD = DurationEstimate(0, ())  # shared: every wait of an unknown workflow asks


class RunTimer:
    """One wait's view: when its run started, what the queries saw, what to learn at the end.

    The run ended after the last query that saw it unfinished was sent, and before the
    answer that saw it finished arrived. The duration learned is the server's own
    (`run.duration`) kept inside that bracket, else the bracket's middle when it is narrow,
    else its end (a first query that already sees the end says only "no later than this";
    the schedule then drifts earlier by itself).
    """

    __slots__ = ("_book", "_key", "_origin", "_pending_at", "_sent_at", "estimate")

    def __init__(self, book: RunDurations, key: WorkflowKey, estimate: DurationEstimate) -> None:
        self._book = book
        self._key = key
        self.estimate = estimate
        self._origin = _deadline.now()
        self._pending_at = 0.0
        self._sent_at = 0.0

    @property
    def key(self) -> WorkflowKey:
        """The workflow whose durations this wait uses and feeds."""
        return self._key

    def latest(self) -> DurationEstimate:
        """The workflow's estimate now: other runs may have taught it since this wait began."""
        return self._book.estimate(self._key)

    def replan(
        self, policy: PollPolicy, estimate: DurationEstimate, rng: random.Random | None = None
    ) -> tuple[Iterator[float], float | None]:
        """Plan this wait around `estimate` instead of the one it began with: its sleeps from
        now on (see `delays`), and the sleep before its next query if it must catch up on
        a landing it slept through (`PollPolicy.catch_up_delay`), else None."""
        self.estimate = estimate
        draw = (rng or random).random()
        catch_up = policy.catch_up_delay(estimate, self.elapsed(), self._sent_at, draw)
        return self.delays(policy, rng), catch_up

    def elapsed(self) -> float:
        """Seconds since the run's start answer arrived."""
        return _deadline.now() - self._origin

    def delays(self, policy: PollPolicy, rng: random.Random | None = None) -> Iterator[float]:
        """The sleeps between queries: learned when the estimate is warm, else the plain ones."""
        if policy.adaptive and self.estimate.warm:
            return _LearnedDelays(self, policy, (rng or random).random)
        return policy.delays(rng)  # the schedule's own small object: no wrapper per wait

    def sending(self) -> None:
        """A query is about to be sent."""
        self._sent_at = self.elapsed()

    def answered(self, run: WorkflowRun) -> None:
        """A query's answer arrived; learn the duration if it shows a successful end."""
        if not run.done:
            self._pending_at = self._sent_at
            return
        if not run.succeeded:
            return
        low, high = self._pending_at, self.elapsed()
        if run.duration is not None:
            learned = min(max(run.duration.total_seconds(), low), high)
        elif low >= 0.6 * high:
            learned = (low + high) / 2
        else:
            learned = high
        self._book.record(self._key, learned)


class _LearnedDelays:
    """A learned schedule in progress: a small object rather than a generator (whose frame
    is several times its size), as a re-plan gives one to every wait of a workflow."""

    __slots__ = ("_draw", "_policy", "_timer")

    def __init__(self, timer: RunTimer, policy: PollPolicy, draw: Callable[[], float]) -> None:
        self._timer = timer
        self._policy = policy
        self._draw = draw

    def __iter__(self) -> Iterator[float]:
        return self

    def __next__(self) -> float:
        timer = self._timer
        return self._policy.learned_delay(timer.estimate, timer.elapsed(), self._draw())


def workflow_identity(key_fingerprint: str, *candidates: str | None) -> str:
    """The first workflow id given, else the API key's fingerprint."""
    for candidate in candidates:
        if candidate:
            return candidate
    return key_fingerprint


def key_fingerprint(api_key: str) -> str:
    """A short, one-way name for the workflow behind an API key (never the key itself)."""
    import hashlib  # only when a client first waits

    digest = hashlib.blake2b(api_key.encode(), digest_size=6, person=b"flowinvoke-wf")
    return "key:" + digest.hexdigest()


def _median(values: tuple[float, ...]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if not ordered:
        return math.nan
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
