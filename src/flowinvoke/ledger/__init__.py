"""The run ledger: a durable record of keyed runs, so that a start happens once per key and
a wait survives a restart (see the Durable runs page).

`AsyncClient(ledger="runs.db")` (or `Client`, or `FLOWINVOKE_LEDGER`) records every run
started with `key=`: the intent before the start is sent, the run id as soon as the
platform gives it, the last state when it ends. SQLite by default, one file; PostgreSQL
(`postgresql://...`, the `postgres` extra) when processes on several machines share it.

Names are imported on first use, so that a client that never opens a ledger loads neither
sqlite3 nor psycopg.
"""

from __future__ import annotations

from .._core.lazy import TYPE_CHECKING, lazy_dir, lazy_getattr

if TYPE_CHECKING:
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

#: Where each public name lives.
_HOMES = {
    **dict.fromkeys(
        (
            "AmbiguousStartError",
            "KeyConflictError",
            "LedgerError",
            "LedgerSchemaError",
            "LedgerUnavailableError",
            "LedgerWriteError",
            "MissingLedgerError",
        ),
        "._errors",
    ),
    "LEDGER_ENV": "._open",
    "open_ledger": "._open",
    "PostgresLedger": "._postgres",
    "Ledger": "._protocol",
    "MAX_KEY_LENGTH": "._record",
    "LedgerState": "._record",
    "RunRecord": "._record",
    "ResumedRun": "._resumed",
    "SCHEMA_VERSION": "._schema",
    "SQLLedger": "._sql",
    "SQLiteLedger": "._sqlite",
}

_load = lazy_getattr(__name__, _HOMES, globals())
if not TYPE_CHECKING:  # mypy reads the imports above; a visible __getattr__ would hide typos
    __getattr__ = _load
__dir__ = lazy_dir(globals(), __all__)
