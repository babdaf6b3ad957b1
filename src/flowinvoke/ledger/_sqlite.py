"""`SQLiteLedger`: the default ledger, one SQLite file (standard library, WAL mode).

One connection per process, used under a lock: every statement is short, and a second
connection would only add lock contention. WAL lets several processes read while one
writes; writers wait up to `busy_timeout` for each other. With `synchronous=NORMAL` in
WAL mode a committed write survives the process being killed (the operating system holds
it); a power cut may lose the last moments, `synchronous="FULL"` closes that too at the
price of an fsync per write.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from ._errors import LedgerSchemaError, LedgerUnavailableError
from ._sql import SQLLedger, migrate

__all__ = ["SQLiteLedger"]


class SQLiteLedger(SQLLedger):
    """A run ledger in one SQLite file.

    Args:
        path: The file (created with its folder's permissions if missing).
        busy_timeout: Seconds a write waits for another process's write before the ledger
            counts as locked (`LedgerUnavailableError`).
        synchronous: "NORMAL" (survives a killed process) or "FULL" (also a power cut).

    Raises:
        LedgerUnavailableError: the file cannot be created, opened or read (an unwritable
            folder, a file that is not a SQLite database, a lock held too long).
        LedgerSchemaError: the file was written by a newer flowinvoke.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 5.0,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', not {synchronous!r}")
        self.path = Path(path)
        self.location = str(self.path)
        self._busy_timeout = busy_timeout
        self._synchronous = synchronous
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._connection = self._connect()

    def __repr__(self) -> str:
        return f"SQLiteLedger({self.location!r})"

    def close(self) -> None:
        """Close the connection (the file stays)."""
        with self._lock:
            self._connection.close()

    def __del__(self) -> None:
        # A ledger dropped without close() (a one-off `SQLiteLedger(path).get(key)`):
        # its connection closes with it rather than whenever the collector reaches the
        # connection (Python 3.13 warns of a connection left open to the collector).
        connection = self.__dict__.get("_connection")
        if connection is not None:
            connection.close()

    def _connect(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,  # autocommit: each statement is its own transaction
                check_same_thread=False,  # used from worker threads, under self._lock
            )
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from None
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(f"PRAGMA synchronous={self._synchronous}")
            self._migrate(connection)
        except sqlite3.Error as exc:
            connection.close()
            raise self._unavailable(exc) from None
        except LedgerSchemaError:
            connection.close()
            raise
        return connection

    def _migrate(self, connection: sqlite3.Connection) -> None:
        # BEGIN IMMEDIATE takes the write lock first, so two processes opening a new file
        # at once apply each migration once.
        connection.execute("BEGIN IMMEDIATE")
        try:
            migrate(lambda sql, params: connection.execute(sql, params).fetchall(), self.location)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def _execute(
        self, sql: str, params: Sequence[Any] = (), *, durable: bool = False
    ) -> tuple[list[tuple[Any, ...]], int]:
        # Every commit is as durable as `synchronous` says: in WAL mode NORMAL costs no
        # fsync per commit, so there is nothing to gain by treating writes differently.
        with self._lock:
            if self._pid != os.getpid():  # a forked child: a connection is not fork-safe
                self._pid = os.getpid()
                self._connection = self._connect()
            try:
                cursor = self._connection.execute(sql, params)
                return cursor.fetchall(), cursor.rowcount
            except sqlite3.Error as exc:
                raise self._unavailable(exc) from None

    def _unavailable(self, exc: sqlite3.Error) -> LedgerUnavailableError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            hint = f"another process held it longer than busy_timeout={self._busy_timeout} s"
        elif "not a database" in text or "malformed" in text:
            hint = "the file is not a flowinvoke ledger or is corrupt: use another ledger= file"
        elif "unable to open" in text or "readonly" in text:
            hint = "check that the ledger= path's folder exists and is writable"
        else:
            hint = "check the ledger= setting"
        return LedgerUnavailableError(f"ledger {self.location}: {text} ({hint})")
