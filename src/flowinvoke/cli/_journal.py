"""The started-runs journal of `flowinvoke batch`: each run id, as soon as its start returns.

The results file records only finished inputs; a batch killed mid-way (SIGKILL, a power cut,
an out-of-memory kill) would leave its runs in flight unrecorded, and `--resume` would pay
for them again. So each run id is appended here as soon as the server has answered its
start, before the wait begins, one JSON line each, next to the results:
`RESULTS.jsonl.started` holds `{"index": 3, "run_id": "..."}` lines.

Each line is handed to the operating system at once (it survives the process being
killed) and the file is fsynced at most once a second and on close (so a machine crash
loses at most the last second of ids). `--resume` waits for every run in the journal that
has no result line instead of starting it again. A batch that ends with every input done
deletes its journal.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import IO

__all__ = ["StartedJournal", "journal_path", "read_journal"]

_FSYNC_EVERY = 1.0  # seconds


def journal_path(results: Path) -> Path:
    """Where the journal of the batch writing `results` lives."""
    return results.with_name(results.name + ".started")


def read_journal(path: Path) -> dict[int, str]:
    """The run id recorded for each input index; lines that are not whole are ignored."""
    started: dict[int, str] = {}
    try:
        file = path.open("rb")
    except FileNotFoundError:
        return started
    with file:
        for raw in file:
            try:
                line = json.loads(raw)
                index, run_id = line["index"], line["run_id"]
            except (ValueError, TypeError, KeyError, RecursionError):
                continue  # torn by a kill mid-write, or not ours
            if type(index) is int and index >= 0 and isinstance(run_id, str) and run_id:
                started[index] = run_id
    return started


class StartedJournal:
    """Appends `(index, run id)` lines from any thread; see the module's docstring."""

    def __init__(self, path: Path, *, fresh: bool) -> None:
        self.path = path
        self._file: IO[bytes] = path.open("wb" if fresh else "ab")
        self._lock = threading.Lock()
        self._synced = time.monotonic()

    def record(self, index: int, run_id: str) -> None:
        """Append one line and hand it to the OS (fsync at most once a second)."""
        data = (json.dumps({"index": index, "run_id": run_id}) + "\n").encode()
        with self._lock:
            self._file.write(data)
            self._file.flush()
            now = time.monotonic()
            if now - self._synced >= _FSYNC_EVERY:
                os.fsync(self._file.fileno())
                self._synced = now

    def close(self, *, delete: bool = False) -> None:
        """Sync and close; `delete` removes the file (every input of the batch is done)."""
        with self._lock:
            if self._file.closed:
                return
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
            finally:
                self._file.close()
            if delete:
                self.path.unlink(missing_ok=True)
