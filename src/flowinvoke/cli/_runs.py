"""`flowinvoke runs list|show|resume|prune`: read and manage a run ledger.

The ledger is the one the library writes for keyed runs (`key=`), named by `--ledger` or
`FLOWINVOKE_LEDGER`: a SQLite file or a `postgresql://` URL. Rows are printed as JSON
lines (the inputs only as their digest unless the client stored them, never a key).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from flowinvoke.ledger import Ledger, LedgerError, RunRecord, open_ledger

from . import _settings
from ._exit import ExitCode, Job, exit_with, handle_errors
from ._render import error_line, note_line
from ._settings import Settings, client_options

__all__ = ["runs"]

_ledger_option = click.option(
    "--ledger",
    "target",
    envvar="FLOWINVOKE_LEDGER",
    required=True,
    metavar="PATH|URL",
    help="The run ledger: a SQLite file or a postgresql:// URL. [env FLOWINVOKE_LEDGER]",
)


@contextmanager
def _opened(target: str) -> Iterator[Ledger]:
    """The ledger, closed at the end; a ledger that cannot be opened is exit 2."""
    try:
        ledger = open_ledger(target)
    except (LedgerError, ValueError) as error:
        error_line(str(error))
        exit_with(ExitCode.USAGE)
    try:
        yield ledger
    except LedgerError as error:
        error_line(str(error))
        exit_with(ExitCode.USAGE)
    finally:
        ledger.close()


def _row(record: RunRecord) -> str:
    values: dict[str, Any] = record.summary()
    return json.dumps(values, ensure_ascii=False, default=str)


@click.group(short_help="List, show, resume and prune the runs of a ledger.")
def runs() -> None:
    """Read and manage a run ledger (the record of runs started with a key)."""


@runs.command("list")
@_ledger_option
@click.option("--pending", is_flag=True, help="Only the runs not known to have finished.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
def list_runs(target: str, pending: bool, limit: int) -> None:
    """Print the newest runs (or the pending ones, oldest first) as JSON lines."""
    with _opened(target) as ledger:
        rows = ledger.pending(limit=limit) if pending else ledger.runs(limit=limit)
        for record in rows:
            click.echo(_row(record))


@runs.command("show")
@_ledger_option
@click.argument("key")
def show(target: str, key: str) -> None:
    """Print the run recorded for KEY as one JSON object (exit 1 if there is none)."""
    with _opened(target) as ledger:
        record = ledger.get(key)
    if record is None:
        error_line(f"no run is recorded for key {key!r}")
        exit_with(ExitCode.RUN_FAILED)
    click.echo(_row(record))


@runs.command("resume")
@client_options
@_ledger_option
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="The most runs waited for at once.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Each run's wait deadline. [default: 1800]",
)
def resume(settings: Settings, target: str, concurrency: int, timeout: float | None) -> None:
    """Wait for the pending runs this key started, recording each end; one JSON line each.

    Exit 0 when all succeeded, 1 when some did not (failed, timed out, or an ambiguous
    start with no run id to wait for).
    """
    job = Job(settings)
    failed = done = 0
    with (
        handle_errors(job),
        _opened(target) as ledger,
        _settings.make_client(settings, ledger=ledger) as client,
    ):
        job.bind(client)
        for item in client.resume(concurrency=concurrency, timeout=timeout):
            done += 1
            failed += item.error is not None
            status = item.run.status.value if item.run is not None else None
            error = None if item.error is None else f"{type(item.error).__name__}: {item.error}"
            line = {"key": item.key, "run_id": item.record.run_id, "status": status}
            click.echo(json.dumps({**line, "error": error}, ensure_ascii=False))
    note_line(f"resumed {done} run(s), {failed} did not succeed")
    exit_with(ExitCode.RUN_FAILED if failed else ExitCode.OK)


@runs.command("prune")
@_ledger_option
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Delete finished runs that finished more than this long ago.",
)
@click.option(
    "--keep", type=click.IntRange(min=0), metavar="N", help="Keep only the newest N finished runs."
)
def prune(target: str, older_than: float | None, keep: int | None) -> None:
    """Delete finished runs by age or count; pending runs are never deleted."""
    if older_than is None and keep is None:
        raise click.UsageError("give --older-than SECONDS or --keep N (or both)")
    with _opened(target) as ledger:
        deleted = ledger.prune(older_than=older_than, keep=keep)
    note_line(f"deleted {deleted} finished run(s)")
