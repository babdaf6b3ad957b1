"""How a wait ended: by a webhook callback, by polling, or by what the start told.

The state generators fill one in for the caller that asks (`run`, to warn when runs that
expect callbacks keep finishing by polling), and log it at DEBUG for every wait, so that a
user can see what each run cost without counting requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .._core.log import logger
from .._core.models import WorkflowRun

__all__ = ["Ending", "WaitEnd", "log_end"]

Ending = Literal["callback", "poll", "stream", "start"]


@dataclass(slots=True)
class WaitEnd:
    """Filled in when a wait ends: `how` it ended and how many `queries` it sent."""

    how: Ending | None = None
    queries: int = 0


def log_end(
    end: WaitEnd | None, how: Ending, queries: int, provider: str, run: WorkflowRun
) -> None:
    """Record how the wait for `run` (its final state) ended in `end`; log it at DEBUG."""
    if end is not None:
        end.how, end.queries = how, queries
    logger.debug(
        "run %s ended %s by %s after %d quer%s",
        run.id,
        run.raw_status or run.status.value,
        how,
        queries,
        "y" if queries == 1 else "ies",
        extra={"provider": provider, "operation": "wait", "run_id": run.id, "ended_by": how},
    )
