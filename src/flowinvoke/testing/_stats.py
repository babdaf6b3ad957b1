"""What an emulator has seen, as JSON-ready numbers: what a test, a demo or a batch cost.

The served emulator answers them at `STATS_PATH` (`flowinvoke emulator stats` prints them),
so a user pointing an app at it sees runs started and queries per run without reading logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._state import Counters

__all__ = ["STATS_PATH", "emulator_stats"]

STATS_PATH = "/_emulator/stats"
"""The path (any method, any host) where an emulator answers its `stats()` as JSON."""


def emulator_stats(counters: Counters, callbacks: Mapping[str, int]) -> dict[str, Any]:
    """The counters summed up; requests to `STATS_PATH` are not counted anywhere."""
    runs = counters.total_invokes
    queries = sum(counters.queries.values())
    return {
        "runs_started": runs,
        "runs_started_by_workflow": dict(sorted(counters.invokes.items())),
        "queries": queries,
        "queries_per_run": round(queries / runs, 2) if runs else None,
        "most_queries_of_a_run": max(counters.queries.values(), default=0),
        "requests": counters.requests,
        "requests_by_operation": dict(sorted(counters.requests_by_operation.items())),
        "faults": dict(sorted(counters.faults.items())),
        "callbacks": dict(sorted(callbacks.items())),
    }
