"""`Ledger`: what a ledger backend provides, so that others can be added."""

from __future__ import annotations

from typing import Protocol

from ._record import Intent, RunRecord

__all__ = ["Ledger"]


class Ledger(Protocol):
    """A durable record of keyed runs (see the Durable runs page).

    The methods are blocking and must be safe to call from several threads at once: the
    blocking client calls them directly, the async client in worker threads (never on
    the event loop). Each must be atomic across processes sharing the ledger: `claim`
    above all, which lets exactly one caller write a key's intent. `SQLLedger` implements
    them all in SQL; a backend on another SQL database only supplies `_execute`.
    """

    #: Where the ledger lives, for messages (no password).
    location: str

    def claim(self, intent: Intent) -> tuple[bool, RunRecord]:
        """Write the intent unless the key has a row: (True, the new row) for the one
        caller that wrote it, else (False, the existing row)."""
        ...

    def get(self, key: str) -> RunRecord | None:
        """The row of `key`, if any."""
        ...

    def started(self, key: str, run_id: str) -> None:
        """Record the run id the platform gave."""
        ...

    def finished(
        self, key: str, run_id: str | None, status: str, result: str | None, error: str | None
    ) -> None:
        """Record the run's end: its status word, last state and error (JSON text)."""
        ...

    def ambiguous(self, key: str, error: str | None) -> None:
        """Mark an intent whose start was sent without an answer."""
        ...

    def release(self, key: str, owner: str) -> None:
        """Delete `owner`'s intent whose start surely started nothing."""
        ...

    def take_over(self, key: str, attempts: int, owner: str) -> bool:
        """Claim an ambiguous start to send it again; True for the one caller that did."""
        ...

    def pending(
        self,
        *,
        provider: str | None = None,
        workflow: str | None = None,
        older_than: float | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        """The unfinished rows, oldest first."""
        ...

    def runs(self, *, limit: int = 100) -> list[RunRecord]:
        """The newest rows, finished or not."""
        ...

    def prune(self, *, older_than: float | None = None, keep: int | None = None) -> int:
        """Delete finished rows by age or beyond a count; how many were deleted."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...
