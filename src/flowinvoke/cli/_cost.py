"""What a batch cost: runs started (paid for) and resumed, queries sent, retries.

Counted with the library's own hooks, so the figures are the requests that really went
out, whatever the transport; printed as the batch's last line and in its `--json` object.
"""

from __future__ import annotations

import threading
from typing import Any

from flowinvoke import Hooks, RequestEvent, RetryEvent

__all__ = ["BatchCost"]


class BatchCost:
    """Counts a batch's starts, resumed runs, queries and retries (from any thread)."""

    def __init__(self, resumed: int) -> None:
        self._lock = threading.Lock()
        self.resumed = resumed
        self.started = 0
        self.queries = 0
        self.retries = 0

    def hooks(self) -> Hooks:
        """The hooks that count queries and retries; pass them to the batch's client."""
        return Hooks(on_request=self._on_request, on_retry=self._on_retry)

    def run_started(self) -> None:
        """A new run was started (its start answered with a run)."""
        with self._lock:
            self.started += 1

    def _on_request(self, event: RequestEvent) -> None:
        if event.operation == "query":
            with self._lock:
                self.queries += 1

    def _on_retry(self, event: RetryEvent) -> None:
        with self._lock:
            self.retries += 1

    def line(self) -> str:
        """One line of text: `cost: 200 runs (7 resumed, 193 started), 402 queries, 3 retries`."""
        with self._lock:
            runs = self.started + self.resumed
            return (
                f"cost: {runs} run{_s(runs)} ({self.resumed} resumed, {self.started} started), "
                f"{self.queries} quer{'y' if self.queries == 1 else 'ies'}, "
                f"{self.retries} retr{'y' if self.retries == 1 else 'ies'}"
            )

    def as_json(self) -> dict[str, Any]:
        """The counts as the `--json` object's fields."""
        with self._lock:
            return {
                "runs_started": self.started,
                "runs_resumed": self.resumed,
                "queries": self.queries,
                "retries": self.retries,
            }


def _s(count: int) -> str:
    return "" if count == 1 else "s"
