"""`ResumedRun`: what `resume()` yields for each unfinished run of the ledger."""

from __future__ import annotations

from dataclasses import dataclass

from .._core.errors import FlowInvokeError
from .._core.models import WorkflowRun
from ._record import RunRecord

__all__ = ["ResumedRun"]


@dataclass(frozen=True)
class ResumedRun:
    """One run `resume()` waited for.

    Attributes:
        record: The ledger's row as it was when the wait began.
        run: The run's last state (its end, unless the wait failed), or None.
        error: Why it did not finish successfully: `WorkflowFailedError`,
            `WaitTimeoutError` (the row stays pending), `AmbiguousStartError` (no run id
            was recorded: nothing to wait for), an `APIError`; else None.
    """

    record: RunRecord
    run: WorkflowRun | None
    error: FlowInvokeError | None

    @property
    def key(self) -> str:
        """The run's idempotency key."""
        return self.record.key
