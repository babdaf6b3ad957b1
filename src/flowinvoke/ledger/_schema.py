"""The ledger's tables, versioned: each version a list of statements run once, forward only.

A ledger written by a newer flowinvoke (a version above `SCHEMA_VERSION`) is refused with
`LedgerSchemaError` rather than read wrongly. The SQL is the common subset of SQLite and
PostgreSQL (partial indexes included), so both backends share it.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "TABLE"]

TABLE = "flowinvoke_runs"

#: statements that bring a ledger from version n - 1 to version n, at index n - 1.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        f"""CREATE TABLE {TABLE} (
            key TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            host TEXT NOT NULL,
            workflow TEXT NOT NULL,
            account TEXT NOT NULL,
            inputs_digest TEXT NOT NULL,
            inputs TEXT,
            state TEXT NOT NULL,
            run_id TEXT,
            status TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            finished_at DOUBLE PRECISION,
            attempts INTEGER NOT NULL,
            owner TEXT NOT NULL,
            result TEXT,
            error TEXT,
            trace TEXT
        )""",
        # pending() reads only unfinished rows: a small index however many rows finished.
        f"CREATE INDEX {TABLE}_unfinished ON {TABLE} (created_at) WHERE state <> 'finished'",
        # prune() by age.
        f"CREATE INDEX {TABLE}_finished ON {TABLE} (finished_at) WHERE state = 'finished'",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)
