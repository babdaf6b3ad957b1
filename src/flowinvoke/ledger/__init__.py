"""The run ledger: a durable record of keyed runs, so that a start happens once per key and
a wait survives a restart (see the Durable runs page).

`AsyncClient(ledger="runs.db")` (or `Client`, or `FLOWINVOKE_LEDGER`) records every run
started with `key=`: the intent before the start is sent, the run id as soon as the
platform gives it, the last state when it ends. SQLite by default, one file; PostgreSQL
(`postgresql://...`, the `postgres` extra) when processes on several machines share it.
"""

from __future__ import annotations

from ._errors import (
    AmbiguousStartError,
    KeyConflictError,
    LedgerError,
    LedgerSchemaError,
    LedgerUnavailableError,
    LedgerWriteError,
    MissingLedgerError,
)
from ._open import LEDGER_ENV, open_ledger
from ._postgres import PostgresLedger
from ._protocol import Ledger
from ._record import MAX_KEY_LENGTH, LedgerState, RunRecord
from ._resumed import ResumedRun
from ._schema import SCHEMA_VERSION
from ._sql import SQLLedger
from ._sqlite import SQLiteLedger

__all__ = [
    "LEDGER_ENV",
    "MAX_KEY_LENGTH",
    "SCHEMA_VERSION",
    "AmbiguousStartError",
    "KeyConflictError",
    "Ledger",
    "LedgerError",
    "LedgerSchemaError",
    "LedgerState",
    "LedgerUnavailableError",
    "LedgerWriteError",
    "MissingLedgerError",
    "PostgresLedger",
    "ResumedRun",
    "RunRecord",
    "SQLLedger",
    "SQLiteLedger",
    "open_ledger",
]
