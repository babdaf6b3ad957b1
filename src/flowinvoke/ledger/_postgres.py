"""`PostgresLedger`: a run ledger shared by processes and machines (psycopg 3).

The operations are the SQLite ledger's statements (`_sql`), with psycopg's placeholders.
One autocommit connection per ledger object, used under a lock from the worker threads
the async client hands its ledger calls to (the blocking client calls it directly): the
same code serves both clients and never blocks an event loop. A connection found broken
(the server restarted, the network cut) is opened again on the next call; the call that
met the break fails with `LedgerUnavailableError` (the client tries a keyed call's writes
once more), and a write after a start that still fails keeps the run id on its
`LedgerWriteError`.

Only the intent waits for the server's disk (`synchronous_commit = on` for that one
statement): it is what keeps a second start from being sent, and a start follows at once.
The run id and the end are committed without waiting for the flush (`synchronous_commit =
off`, the server's own consistent, asynchronous commit): a crash of the database server may
lose the last fraction of a second of them, and such a run then reads as an ambiguous start
or a pending run: never a second start. `flush_every_write=True` makes every write wait.
On a disk that takes 3 ms to flush, that is the difference between one flush per start
and two or three.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ._errors import LedgerSchemaError, LedgerUnavailableError
from ._sql import SQLLedger, migrate

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresLedger"]

_INSTALL_HINT = 'a postgresql:// ledger needs psycopg 3: pip install "flowinvoke[postgres]"'
_MIGRATION_LOCK = 0x666C6F77  # pg_advisory_xact_lock id: processes migrate one at a time


class PostgresLedger(SQLLedger):
    """A run ledger in a PostgreSQL database (the `postgres` extra).

    Args:
        url: A libpq URL, `postgresql://user:password@host:port/dbname`.
        connect_timeout: Seconds to wait for the server when connecting.
        flush_every_write: Wait for the server's disk on every write, not only on the
            intent (see the module's docstring).

    Raises:
        ConfigurationError: psycopg is not installed.
        LedgerUnavailableError: the server refused or could not be reached.
        LedgerSchemaError: the database was written by a newer flowinvoke.
    """

    def __init__(
        self, url: str, *, connect_timeout: float = 10.0, flush_every_write: bool = False
    ) -> None:
        self._url = url
        self._flush_every_write = flush_every_write
        self.location = _without_password(url)
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._connection = self._connect()

    def __repr__(self) -> str:
        return f"PostgresLedger({self.location!r})"

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._connection.close()

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            import psycopg
        except ImportError:
            from .._core.errors import ConfigurationError

            raise ConfigurationError(_INSTALL_HINT) from None
        try:
            connection = psycopg.connect(
                self._url, autocommit=True, connect_timeout=max(1, round(self._connect_timeout))
            )
        except psycopg.Error as exc:
            raise self._unavailable(exc) from None
        try:
            self._migrate(connection)
            if not self._flush_every_write:
                connection.execute("SET synchronous_commit = off")
        except psycopg.Error as exc:
            connection.close()
            raise self._unavailable(exc) from None
        except LedgerSchemaError:
            connection.close()
            raise
        return connection

    def _migrate(self, connection: psycopg.Connection[Any]) -> None:
        def run(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
            cursor = connection.execute(sql.replace("?", "%s"), params)
            return cursor.fetchall() if cursor.description is not None else []

        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            migrate(run, self.location)

    def _execute(
        self, sql: str, params: Sequence[Any] = (), *, durable: bool = False
    ) -> tuple[list[tuple[Any, ...]], int]:
        import psycopg

        with self._lock:
            if self._pid != os.getpid() or self._connection.broken:
                if self._pid == os.getpid():  # a forked child leaves its parent's alone
                    self._connection.close()
                self._pid = os.getpid()
                self._connection = self._connect()
            connection = self._connection
            try:
                if durable and not self._flush_every_write:
                    with connection.transaction():
                        connection.execute("SET LOCAL synchronous_commit = on")
                        cursor = connection.execute(sql.replace("?", "%s"), params)
                else:
                    cursor = connection.execute(sql.replace("?", "%s"), params)
                rows = cursor.fetchall() if cursor.description is not None else []
                return rows, cursor.rowcount
            except psycopg.Error as exc:
                raise self._unavailable(exc) from None

    def _unavailable(self, exc: Exception) -> LedgerUnavailableError:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return LedgerUnavailableError(
            f"ledger {self.location}: {text} (check the ledger= URL and that the server is up)"
        )


def _without_password(url: str) -> str:
    """The URL with any password replaced by ***, for messages and reprs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
