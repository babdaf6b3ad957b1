"""What a batch reports: one item per input, and a running tally."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Generic

from .errors import FlowInvokeError
from .models import OutputT, WorkflowRun

__all__ = ["BatchItem", "BatchProgress", "BatchTally"]


@dataclass(frozen=True, slots=True)
class BatchItem(Generic[OutputT]):
    """The outcome of one input of a batch.

    Attributes:
        index: The input's position in the inputs, from 0.
        input: The input as given.
        run: The last state of the run, if one was started (even when it failed).
        error: Why the input did not succeed, if it did not: a `WorkflowFailedError` for a
            run that ended without success, the request's error, a `WaitTimeoutError`, or
            the `TypeError`/`ValueError` of an input that was never sent, or an
            `OutputValidationError` (then `run` holds the run, its output as received).
    """

    index: int
    input: Any
    run: WorkflowRun[OutputT] | None
    error: Exception | None

    @property
    def ok(self) -> bool:
        """True when the run succeeded."""
        return self.error is None and self.run is not None and self.run.succeeded

    @property
    def run_id(self) -> str | None:
        """The run's id wherever it is known: on the run, or on the error."""
        if self.run is not None and self.run.id is not None:
            return self.run.id
        return self.error.run_id if isinstance(self.error, FlowInvokeError) else None


@dataclass(frozen=True, slots=True)
class BatchProgress:
    """A tally of a batch so far, passed to `on_progress` after each input finishes.

    Attributes:
        done: Inputs finished, whatever their outcome.
        succeeded: Inputs whose run succeeded.
        failed: Inputs that did not succeed.
        in_flight: Inputs started and not finished.
    """

    done: int
    succeeded: int
    failed: int
    in_flight: int


class BatchTally:
    """Counts a batch's inputs as they start and finish (from any task or thread)."""

    __slots__ = ("_done", "_failed", "_lock", "_started")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = self._done = self._failed = 0

    def started(self) -> None:
        """One more input has taken a run slot."""
        with self._lock:
            self._started += 1

    def finished(self, item: BatchItem) -> BatchProgress:
        """One input has finished; return the tally including it."""
        with self._lock:
            self._done += 1
            self._failed += not item.ok
            return self._progress()

    def progress(self) -> BatchProgress:
        """The tally so far (a progress display redraws from it after each start)."""
        with self._lock:
            return self._progress()

    def _progress(self) -> BatchProgress:
        return BatchProgress(
            done=self._done,
            succeeded=self._done - self._failed,
            failed=self._failed,
            in_flight=self._started - self._done,
        )
