"""The ledger's operations as SQL, shared by the SQLite and PostgreSQL backends.

Each operation is one statement in autocommit mode, so it is atomic on its own and two
processes racing for one key meet at the primary key: `INSERT ... ON CONFLICT DO NOTHING`
lets exactly one of them write the intent. A backend supplies `_execute` (run a statement,
map driver errors to `LedgerUnavailableError`, make a `durable` write durable) and
`_migrate` (run the schema's statements under a lock that serialises processes opening one
ledger at once).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from ._errors import LedgerSchemaError
from ._record import COLUMNS, Intent, LedgerState, RunRecord
from ._schema import MIGRATIONS, SCHEMA_VERSION, TABLE

__all__ = ["SQLLedger", "migrate"]

#: Run one statement with `?` placeholders; its rows.
Run = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


def migrate(run: Run, location: str) -> None:
    """Bring a ledger's tables to `SCHEMA_VERSION`, inside the caller's transaction (which
    holds the lock that keeps two processes from migrating at once).

    Raises:
        LedgerSchemaError: the ledger has a newer version.
    """
    run("CREATE TABLE IF NOT EXISTS flowinvoke_meta (name TEXT PRIMARY KEY, value TEXT)", ())
    rows = run("SELECT value FROM flowinvoke_meta WHERE name = 'schema_version'", ())
    version = int(rows[0][0]) if rows else 0
    if version > SCHEMA_VERSION:
        raise LedgerSchemaError(
            f"the ledger {location} has schema version {version}, newer than this "
            f"flowinvoke's {SCHEMA_VERSION}: upgrade flowinvoke or point ledger= elsewhere"
        )
    for statements in MIGRATIONS[version:]:
        for statement in statements:
            run(statement, ())
    run(
        "INSERT INTO flowinvoke_meta VALUES ('schema_version', ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (str(SCHEMA_VERSION),),
    )


_SELECT = f"SELECT {', '.join(COLUMNS)} FROM {TABLE}"
_INSERT = (
    f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
    "ON CONFLICT (key) DO NOTHING"
)
_UNFINISHED = f"state <> '{LedgerState.FINISHED.value}'"


class SQLLedger:
    """The `Ledger` operations on a SQL database; see `flowinvoke.ledger.Ledger`."""

    #: Where the ledger lives, for messages (a path, or a URL without its password).
    location: str = ""

    def _execute(
        self, sql: str, params: Sequence[Any] = (), *, durable: bool = False
    ) -> tuple[list[tuple[Any, ...]], int]:
        """Run one statement; its rows and row count. `durable` marks the writes that must
        be on disk before the call returns (an intent: the start is sent next)."""
        raise NotImplementedError

    def claim(self, intent: Intent) -> tuple[bool, RunRecord]:
        """Write the intent unless the key has a row: (True, the new row) for the caller
        that wrote it, else (False, the row that was there)."""
        while True:
            now = time.time()
            record = RunRecord(
                key=intent.key,
                provider=intent.provider,
                host=intent.host,
                workflow=intent.workflow,
                account=intent.account,
                inputs_digest=intent.inputs_digest,
                inputs=intent.inputs,
                state=LedgerState.STARTING,
                run_id=None,
                status=None,
                created_at=now,
                updated_at=now,
                finished_at=None,
                attempts=1,
                owner=intent.owner,
                result=None,
                error=None,
                trace=intent.trace,
            )
            values = [getattr(record, name) for name in COLUMNS]
            values[COLUMNS.index("state")] = record.state.value
            _, count = self._execute(_INSERT, values, durable=True)
            if count == 1:
                return True, record
            existing = self.get(intent.key)
            if existing is not None:  # else it was released in between: try again
                return False, existing

    def get(self, key: str) -> RunRecord | None:
        """The row of `key`, if any."""
        rows, _ = self._execute(f"{_SELECT} WHERE key = ?", (key,))
        return _record(rows[0]) if rows else None

    def started(self, key: str, run_id: str) -> None:
        """Record the run id the platform gave."""
        self._execute(
            f"UPDATE {TABLE} SET state = ?, run_id = ?, updated_at = ? "
            f"WHERE key = ? AND {_UNFINISHED}",
            (LedgerState.STARTED.value, run_id, time.time(), key),
        )

    def finished(
        self, key: str, run_id: str | None, status: str, result: str | None, error: str | None
    ) -> None:
        """Record the run's end: its status word, its last state and its error (JSON)."""
        now = time.time()
        self._execute(
            f"UPDATE {TABLE} SET state = ?, run_id = COALESCE(?, run_id), status = ?, "
            "result = ?, error = ?, finished_at = ?, updated_at = ? WHERE key = ?",
            (LedgerState.FINISHED.value, run_id, status, result, error, now, now, key),
        )

    def ambiguous(self, key: str, error: str | None) -> None:
        """Mark an intent whose start was sent without an answer (it may have started)."""
        self._execute(
            f"UPDATE {TABLE} SET state = ?, error = ?, updated_at = ? "
            "WHERE key = ? AND run_id IS NULL AND state = ?",
            (LedgerState.AMBIGUOUS.value, error, time.time(), key, LedgerState.STARTING.value),
        )

    def release(self, key: str, owner: str) -> None:
        """Delete an intent whose start surely started nothing, so a retry may start."""
        self._execute(
            f"DELETE FROM {TABLE} WHERE key = ? AND run_id IS NULL AND state = ? AND owner = ?",
            (key, LedgerState.STARTING.value, owner),
        )

    def take_over(self, key: str, attempts: int, owner: str) -> bool:
        """Claim an ambiguous (or abandoned) start to send it again: True for the one caller
        whose `attempts` still matched the row."""
        _, count = self._execute(
            f"UPDATE {TABLE} SET state = ?, owner = ?, attempts = attempts + 1, error = NULL, "
            "updated_at = ? WHERE key = ? AND run_id IS NULL AND state IN (?, ?) AND attempts = ?",
            (
                LedgerState.STARTING.value,
                owner,
                time.time(),
                key,
                LedgerState.STARTING.value,
                LedgerState.AMBIGUOUS.value,
                attempts,
            ),
            durable=True,
        )
        return count == 1

    def pending(
        self,
        *,
        provider: str | None = None,
        workflow: str | None = None,
        older_than: float | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        """The unfinished rows, oldest first: optionally of one provider or workflow, and
        only those created more than `older_than` seconds ago."""
        where, params = [_UNFINISHED], list[Any]()
        if provider is not None:
            where.append("provider = ?")
            params.append(provider)
        if workflow is not None:
            where.append("workflow = ?")
            params.append(workflow)
        if older_than is not None:
            where.append("created_at < ?")
            params.append(time.time() - older_than)
        sql = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY created_at"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows, _ = self._execute(sql, params)
        return [_record(row) for row in rows]

    def runs(self, *, limit: int = 100) -> list[RunRecord]:
        """The newest rows, finished or not."""
        rows, _ = self._execute(f"{_SELECT} ORDER BY created_at DESC LIMIT ?", (limit,))
        return [_record(row) for row in rows]

    def prune(self, *, older_than: float | None = None, keep: int | None = None) -> int:
        """Delete finished rows that finished more than `older_than` seconds ago, or all but
        the newest `keep` finished rows; unfinished rows are never pruned. The count deleted."""
        finished = f"state = '{LedgerState.FINISHED.value}'"
        deleted = 0
        if older_than is not None:
            _, count = self._execute(
                f"DELETE FROM {TABLE} WHERE {finished} AND finished_at < ?",
                (time.time() - older_than,),
            )
            deleted += count
        if keep is not None:
            _, count = self._execute(
                f"DELETE FROM {TABLE} WHERE {finished} AND key NOT IN "
                f"(SELECT key FROM {TABLE} WHERE {finished} ORDER BY finished_at DESC LIMIT ?)",
                (keep,),
            )
            deleted += count
        return deleted


def _record(row: Sequence[Any]) -> RunRecord:
    values = dict(zip(COLUMNS, row, strict=True))
    values["state"] = LedgerState(values["state"])
    return RunRecord(**values)
