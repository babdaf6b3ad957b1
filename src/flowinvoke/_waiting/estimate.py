"""What past durations say about a workflow's next run: clusters of similar durations.

Pure and clock-free: `RunDurations` (in `learning`) feeds it the durations it remembers,
and `PollPolicy` (in `policy`) schedules queries around the clusters it finds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["MIN_RUNS", "DurationEstimate", "estimate_durations"]

#: Runs needed before a workflow's schedule is learned (fewer: today's schedule).
MIN_RUNS = 3
#: Neighbouring sorted durations further apart than this ratio start a new cluster.
_CLUSTER_GAP = 1.25
#: A cluster wider than this ratio (longest / shortest) counts as scattered.
_MAX_CLUSTER_RATIO = 2.0
#: At most this many clusters; more means scattered.
_MAX_CLUSTERS = 3
#: Durations outside every cluster may be at most this share of the window.
_MAX_OUTLIERS = 0.25


@dataclass(frozen=True, slots=True)
class DurationEstimate:
    """What polling assumes about a workflow's next run.

    Attributes:
        runs: How many durations the estimate is drawn from.
        clusters: (shortest, longest) seconds of each group of similar durations, shortest
            group first. Empty when the history is too short or too scattered: then polling
            follows the policy's plain schedule.
    """

    runs: int
    clusters: tuple[tuple[float, float], ...]

    @property
    def warm(self) -> bool:
        """True when polling schedules around these durations."""
        return bool(self.clusters)


def estimate_durations(durations: list[float] | tuple[float, ...]) -> DurationEstimate:
    """Group durations into clusters of similar length; none if too few or too scattered.

    Sorted durations are split where one is more than 1.25 x its predecessor. Groups holding
    fewer than max(2, 15 %) of the durations are outliers (a late run's schedule then grows
    as today's does). More than 3 groups, more than 25 % outliers, or a group spanning more
    than 2 x means no useful estimate, and polling keeps the plain schedule.
    """
    runs = len(durations)
    if runs < MIN_RUNS:
        return DurationEstimate(runs, ())
    ordered = sorted(durations)
    groups: list[list[float]] = [[ordered[0]]]
    for value in ordered[1:]:
        if value > groups[-1][-1] * _CLUSTER_GAP + 0.01:
            groups.append([value])
        else:
            groups[-1].append(value)
    least = max(2, math.ceil(0.15 * runs))
    kept = [(group[0], group[-1]) for group in groups if len(group) >= least]
    outliers = runs - sum(len(group) for group in groups if len(group) >= least)
    scattered = (
        not kept
        or len(kept) > _MAX_CLUSTERS
        or outliers > _MAX_OUTLIERS * runs
        or any(high > _MAX_CLUSTER_RATIO * max(low, 0.05) for low, high in kept)
    )
    return DurationEstimate(runs, () if scattered else tuple(kept))
