"""`open_ledger`: a ledger from a path, a URL or an object (`ledger=`, `FLOWINVOKE_LEDGER`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .._core.errors import ConfigurationError

if TYPE_CHECKING:
    from ._protocol import Ledger

__all__ = ["LEDGER_ENV", "open_ledger"]

#: The environment variable a client reads when it is given no `ledger=`.
LEDGER_ENV = "FLOWINVOKE_LEDGER"


def open_ledger(ledger: str | os.PathLike[str] | Ledger) -> Ledger:
    """The ledger `ledger` names.

    A `postgresql://` (or `postgres://`) URL opens a `PostgresLedger`; a `sqlite:///path`
    URL or any other path a `SQLiteLedger` file; a `Ledger` object is returned as is.

    Raises:
        ConfigurationError: the value is of no known kind (or psycopg is missing).
        LedgerUnavailableError, LedgerSchemaError: the ledger cannot be opened.
    """
    if isinstance(ledger, os.PathLike):
        ledger = os.fspath(ledger)
    elif not isinstance(ledger, str):
        if callable(getattr(ledger, "claim", None)):  # duck-typed, as the protocol says
            return ledger
        raise ConfigurationError(
            f"ledger= must be a file path, a postgresql:// URL or a Ledger, not {ledger!r}"
        )
    if not ledger.strip():
        raise ConfigurationError(
            f"ledger= must be a file path, a postgresql:// URL or a Ledger, not {ledger!r}"
        )
    if ledger.startswith(("postgresql://", "postgres://")):
        from ._postgres import PostgresLedger

        return PostgresLedger(ledger)
    if "://" in ledger and not ledger.startswith("sqlite:///"):
        scheme = ledger.split("://", 1)[0]
        raise ConfigurationError(
            f"ledger= URL scheme {scheme!r} is not supported: use a file path, sqlite:///path "
            "or postgresql://"
        )
    from ._sqlite import SQLiteLedger

    return SQLiteLedger(Path(ledger.removeprefix("sqlite:///") if "://" in ledger else ledger))


def ledger_from_env(environ: dict[str, str] | None = None) -> Ledger | None:
    """The ledger `FLOWINVOKE_LEDGER` names, or None when it is unset or empty."""
    value = (os.environ if environ is None else environ).get(LEDGER_ENV, "").strip()
    return open_ledger(value) if value else None
