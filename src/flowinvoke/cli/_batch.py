"""`flowinvoke batch`: run every line of a JSONL file, results to a JSONL file, resumable.

Inputs are read as a stream (one JSON object per line) and drawn only as run slots free up,
so a file of a million lines costs no more memory than one of ten. Each finished input is
written at once as one whole JSON line and flushed, in completion order:

    {"index": 3, "run_id": "...", "status": "SUCCEEDED", "output": {...}, "error": null}

`index` is the input's 0-based line number in the input file (blank lines are skipped but
counted). Each input is run with the key `line-<index>` on a run ledger next to the results
(`RESULTS.jsonl.runs.db`, the library's `SQLiteLedger`): the intent before its start, the
run id as soon as the start returns. With `--resume` the indices already in the output
file are skipped and the others run again by key, so a run the ledger knows is waited for
(never started again), a start whose answer was lost at a kill becomes an
`AmbiguousStartError` line (unless `--restart-ambiguous`), and the rest start; a torn last
line (a crash mid-write) is cut off first. A line that is not a JSON object, and a result
that cannot be written as UTF-8 JSON, become error lines: every input gets a line, so a
batch always makes progress.

Exit codes: 0 every input succeeded; 1 some failed (the output is complete); 2 usage or
configuration; 3 the API refused the key or the credits ran out (the batch stops at once,
and `--resume` retries what was not done), or every input failed with an API error; 130
Ctrl-C, 143 SIGTERM (the output stays valid; `--resume` continues).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, closing, contextmanager, nullcontext
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from flowinvoke import (
    DEFAULT_BATCH_CONCURRENCY,
    DEFAULT_MAX_CONNECTIONS,
    APIError,
    AuthenticationError,
    BatchItem,
    BatchProgress,
    BatchTally,
    Client,
    ConfigurationError,
    Hooks,
    InsufficientCreditsError,
    PermissionDeniedError,
    UnsupportedOperationError,
    WorkflowRun,
)
from flowinvoke.ledger import LedgerError, SQLiteLedger

from ._cost import BatchCost
from ._exit import ExitCode, Job, exit_with, flag_words, handle_errors, interrupted_code
from ._live import BatchProgressBar
from ._render import err_console, error_line, format_duration, note_line
from ._results import (
    IndexSet,
    ResultWriter,
    count_todo,
    error_result,
    parse_input,
    result_line,
    scan_results,
)
from ._settings import Settings, client_options
from ._temporal_options import temporal_options

if TYPE_CHECKING:
    pass

__all__ = ["batch", "make_client"]

#: Errors that every other input of the batch would meet too: the batch stops at the first.
#: Their inputs are not written, so `--resume` runs them once the cause is fixed.
_STOP_API = (AuthenticationError, PermissionDeniedError, InsufficientCreditsError)
_STOP_USAGE = (ConfigurationError, UnsupportedOperationError)


def make_client(
    settings: Settings,
    *,
    rate_limit: float | None,
    max_connections: int,
    ledger: SQLiteLedger,
    hooks: Hooks | None = None,
) -> AbstractContextManager[Client]:
    """Build the batch's client (a context manager that closes it); tests replace this.

    `hooks` count what the batch costs (queries, retries).

    Raises:
        ConfigurationError: a setting is missing or wrong (no key, unknown provider, ...).
    """
    return Client(
        **settings.client_kwargs(),
        rate_limit=rate_limit,
        max_connections=max_connections,
        ledger=ledger,
        hooks=hooks,
    )


def ledger_path(results: Path) -> Path:
    """Where the run ledger of the batch writing `results` lives."""
    return results.with_name(results.name + ".runs.db")


def _open_ledger(results: Path, *, fresh: bool) -> SQLiteLedger:
    """The batch's ledger; a new batch starts from an empty one."""
    path = ledger_path(results)
    try:
        if fresh:
            _delete_ledger(path)
        return SQLiteLedger(path)
    except (OSError, LedgerError) as exc:
        message = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise click.BadParameter(
            f"cannot use the run ledger {path}: {message}", param_hint="'--out'"
        ) from None


def _delete_ledger(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


class _Inputs:
    """Streams the input lines to run, recording each one's line number.

    Lines in `skip` (done, or started and waited for) are passed over; a line that is not a
    usable JSON object goes to `on_bad` (which writes its error line) and is not run.
    """

    def __init__(
        self,
        file: IO[bytes],
        skip: Callable[[int], bool],
        on_bad: Callable[[int, str], None] | None = None,
    ) -> None:
        self._file = file
        self._skip = skip
        self.on_bad = on_bad
        self._lines: dict[int, int] = {}  # the client's index -> line number, while in flight
        self._keys: dict[int, int] = {}  # id of an input drawn -> its line number
        self._drawn = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for number, raw in enumerate(self._file):
            if not raw.strip() or self._skip(number):
                continue
            value = parse_input(raw)
            if isinstance(value, str):
                if self.on_bad is not None:
                    self.on_bad(number, value)
                continue
            self._lines[self._drawn] = number
            self._keys[id(value)] = number  # the input stays alive while its run is in flight
            self._drawn += 1
            yield value

    def key_of(self, value: Mapping[str, Any]) -> str:
        """The ledger key of an input drawn: its line number, which --resume keeps."""
        return f"line-{self._keys.pop(id(value))}"

    def line_number(self, index: int) -> int:
        """The line number of the input the client numbered `index`."""
        return self._lines[index]

    def line_of(self, item: BatchItem) -> int:
        """The line number of a finished item's input (forgotten once asked)."""
        return self._lines.pop(item.index)


@contextmanager
def _quiet_library_warnings() -> Iterator[None]:
    """Keep the client's warnings (a failed poll, retried) off the progress bar.

    Python prints a library's warnings on standard error when logging is not configured;
    over thousands of runs they would bury the bar, and each input's outcome is in the
    results file anyway. `flowinvoke -v batch ...` (a handler of its own) shows them.
    """
    logger = logging.getLogger("flowinvoke")
    if logger.handlers or logging.getLogger().handlers:
        yield
        return
    handler = logging.NullHandler()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _open_input(path: str) -> AbstractContextManager[IO[bytes]]:
    """The input file, or standard input for `-` (left open at the end)."""
    if path == "-":
        return nullcontext(sys.stdin.buffer)
    try:
        return Path(path).open("rb")
    except OSError as exc:
        raise click.BadParameter(
            f"cannot read {path!r}: {exc.strerror or exc}", param_hint="'INPUTS.jsonl'"
        ) from None


def _check_paths(inputs: str, out: Path, resume: bool) -> None:
    if inputs != "-" and out.exists():
        try:
            same = os.path.samefile(inputs, out)
        except OSError:
            same = False
        if same:
            raise click.BadParameter("must not be the input file", param_hint="'--out'")
    if out.is_dir():
        raise click.BadParameter(f"{out} is a directory", param_hint="'--out'")
    if not resume and out.exists() and out.stat().st_size > 0:
        raise click.UsageError(
            f"{out} exists and is not empty: add --resume to skip the inputs it has "
            "and append the rest, or choose another --out"
        )


@click.command(short_help="Run every line of a JSONL file; results to a JSONL file.")
@client_options
@click.argument("inputs", metavar="INPUTS.jsonl", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="RESULTS.jsonl",
    help="Write one JSON line per finished input here, in completion order.",
)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_CONCURRENCY,
    show_default=True,
    help="The most runs in flight at once (they mostly sleep between polls).",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    metavar="PER_SECOND",
    help="The most requests per second, starts and polls together. [default: no limit]",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Skip the inputs whose index is already in --out and append the rest.",
)
@click.option(
    "--restart-ambiguous",
    is_flag=True,
    help="With --resume: start again the inputs whose start was sent but never answered "
    "(they may have started: the default writes an AmbiguousStartError line instead).",
)
@click.option("--user-id", metavar="ID", help="Tag every run with your user's id (GPTBots userId).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Each run's deadline, from when it takes a slot. [default: 1800]",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="At the end, print the tally and the cost as one JSON object on standard output.",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "temporal"]),
    default="local",
    show_default=True,
    help="Run here, or submit to Temporal workers (see 'flowinvoke worker').",
)
@temporal_options
@click.option("--batch-id", metavar="ID", help="The Temporal batch to submit or follow again.")
def batch(
    settings: Settings,
    inputs: str,
    out: Path,
    concurrency: int,
    rate: float | None,
    resume: bool,
    restart_ambiguous: bool,
    user_id: str | None,
    timeout: float | None,
    as_json: bool = False,
    engine: str = "local",
    temporal_address: str | None = None,
    namespace: str = "default",
    task_queue: str = "flowinvoke",
    batch_id: str | None = None,
) -> None:
    """Run the workflow once per line of INPUTS.jsonl (a JSON object per line; - for stdin).

    Each finished input becomes one JSON line in RESULTS.jsonl, written at once:
    {"index", "run_id", "status", "output", "error"}, where index is the input's 0-based
    line number. Each start is recorded in the run ledger RESULTS.jsonl.runs.db before it
    is sent, and its run id as soon as it returns. After Ctrl-C, SIGTERM or a crash, run
    the same command with --resume: it waits for the runs already started instead of
    starting them again. The last line says
    what the batch cost: runs started and resumed, queries sent, retries.

    \b
    Examples:
      flowinvoke batch questions.jsonl --out answers.jsonl --concurrency 50 --rate 2
      flowinvoke batch questions.jsonl --out answers.jsonl --resume

    With --engine temporal the runs start on Temporal workers ('flowinvoke worker'); this
    command submits the batch, writes each input's end, and can be stopped and run again
    with --batch-id ID --resume.

    Exit codes: 0 all succeeded, 1 some failed, 2 usage, 3 key refused or every input
    failed with an API error, 130 interrupted, 143 terminated (SIGTERM).
    """
    if engine == "temporal":
        from ._temporal_batch import run_on_temporal

        if inputs == "-":
            raise click.UsageError("--engine temporal reads INPUTS.jsonl from a file, not stdin")
        _check_paths(inputs, out, resume)
        run_on_temporal(
            inputs=Path(inputs),
            out=out,
            resume=resume,
            concurrency=concurrency,
            user_id=user_id,
            timeout=timeout,
            workflow_id=settings.workflow_id,
            temporal_address=temporal_address,
            namespace=namespace,
            task_queue=task_queue,
            batch_id=batch_id,
        )
        return
    try:
        _check_paths(inputs, out, resume)
        done = scan_results(out) if resume and out.exists() else IndexSet()
    except OSError as exc:
        raise click.BadParameter(
            f"cannot read {out}: {exc.strerror or exc}", param_hint="'--out'"
        ) from None
    ledger = _open_ledger(out, fresh=not resume)
    waits = _recorded_runs(ledger, done)
    cost = BatchCost(resumed=len(waits))
    tally = BatchTally()
    job = Job(settings)
    with _open_input(inputs) as source, handle_errors(job), _quiet_library_warnings():
        console = err_console()
        total = None
        if inputs != "-" and console.is_terminal:
            total = count_todo(Path(inputs), done)
        connections = min(concurrency, DEFAULT_MAX_CONNECTIONS)
        with (
            closing(ledger),
            make_client(
                settings,
                rate_limit=rate,
                max_connections=connections,
                ledger=ledger,
                hooks=cost.hooks(),
            ) as client,
        ):
            job.bind(client)
            try:
                results = out.open("ab")
            except OSError as exc:
                raise click.BadParameter(
                    f"cannot write {out}: {exc.strerror or exc}", param_hint="'--out'"
                ) from None
            started = time.monotonic()
            with results:
                code, finished = _run(
                    client,
                    _Inputs(source, skip=lambda line: line in done),
                    ResultWriter(results),
                    waits,
                    display=BatchProgressBar(console, total),
                    out=out,
                    skipped=done.count,
                    concurrency=concurrency,
                    user_id=user_id,
                    timeout=timeout,
                    tally=tally,
                    cost=cost,
                    restart_ambiguous=restart_ambiguous,
                )
            if as_json:
                elapsed = time.monotonic() - started
                click.echo(
                    json.dumps(_json_summary(tally, cost, code, elapsed, skipped=done.count))
                )
        if finished:  # every input has its line: the ledger has nothing left to tell
            _delete_ledger(ledger_path(out))
    exit_with(code)


def _recorded_runs(ledger: SQLiteLedger, done: IndexSet) -> set[str]:
    """The run ids the ledger holds for inputs without a result line: --resume waits for
    these (they count as resumed, not started)."""
    try:
        rows = ledger.pending(limit=None)
    except LedgerError as exc:
        raise click.BadParameter(str(exc), param_hint="'--out'") from None
    return {
        row.run_id
        for row in rows
        if row.run_id is not None and int(row.key.removeprefix("line-")) not in done
    }


def _json_summary(
    tally: BatchTally, cost: BatchCost, code: ExitCode, elapsed: float, *, skipped: int
) -> dict[str, Any]:
    progress = tally.progress()
    return {
        "exit_code": int(code),
        "done": progress.done,
        "succeeded": progress.succeeded,
        "failed": progress.failed,
        "skipped": skipped,
        "seconds": round(elapsed, 3),
        **cost.as_json(),
    }


def _run(
    client: Client,
    inputs: _Inputs,
    writer: ResultWriter,
    waits: set[str],
    *,
    display: BatchProgressBar,
    out: Path,
    skipped: int,
    concurrency: int,
    user_id: str | None,
    timeout: float | None,
    tally: BatchTally,
    cost: BatchCost,
    restart_ambiguous: bool,
) -> tuple[ExitCode, bool]:
    """Run the batch to its end (or its stop), writing each result: the exit code, and
    whether every input got its line.

    Each input runs by its key on the batch's ledger, so one whose run was recorded before a
    kill (its id in `waits`) is waited for, not started again.
    """
    batch = _BatchRun(writer, display, inputs, tally, cost, waits)
    items = client.as_completed(
        inputs,
        concurrency=concurrency,
        user_id=user_id,
        timeout=timeout,
        on_start=batch.on_start,
        key=inputs.key_of,
        on_ambiguous="restart" if restart_ambiguous else "raise",
    )
    try:
        with display, closing(items):
            display.update(batch.tally.progress())
            batch.consume((inputs.line_of(item), item) for item in items)
    except OSError as exc:  # the disk is full, the input file went away, ...
        writer.repair()
        where = f" ({exc.filename})" if exc.filename else ""
        error_line(f"stopped: {exc.strerror or exc}{where}; {writer.written} results written")
        note_line(cost.line())
        return ExitCode.USAGE, False
    except KeyboardInterrupt as interrupt:
        return _interrupted(interrupt, writer, out, skipped, cost), False
    return batch.outcome(out, skipped), batch.finished


class _BatchRun:
    """One batch's running state: its tally and display, fed as runs start and end."""

    def __init__(
        self,
        writer: ResultWriter,
        display: BatchProgressBar,
        inputs: _Inputs,
        tally: BatchTally,
        cost: BatchCost,
        waits: set[str],
    ) -> None:
        self.tally = tally
        self._cost = cost
        self.finished = False
        self._writer = writer
        self._waits = waits
        self._display = display
        self._inputs = inputs
        self._api_errors = 0
        self._stopped_by: Exception | None = None
        self._started = time.monotonic()
        inputs.on_bad = self.on_bad

    def on_start(self, index: int, run: WorkflowRun) -> None:
        # The ledger recorded the run id before this is called.
        if run.id not in self._waits:  # a run recorded before a kill was paid for then
            self._cost.run_started()
        self.tally.started()
        self._display.update(self.tally.progress())

    def on_bad(self, line: int, message: str) -> None:
        self._writer.write(error_result(line, "InvalidInput", message))
        self.tally.started()
        self._display.update(self.tally.finished(BatchItem(line, None, None, ValueError(message))))

    def consume(self, items: Iterable[tuple[int, BatchItem]]) -> None:
        """Write each item's result line, until the end or an error that stops the batch."""
        for line, item in items:
            if isinstance(item.error, _STOP_API + _STOP_USAGE):
                self._stopped_by = item.error
                return
            self._writer.write(result_line(item, line))
            self._api_errors += isinstance(item.error, APIError)
            self._display.update(self.tally.finished(item))
        self.finished = True

    def outcome(self, out: Path, skipped: int) -> ExitCode:
        """Say how the batch ended; its exit code."""
        progress = self.tally.progress()
        if self._stopped_by is not None:
            error_line(
                f"stopped: {type(self._stopped_by).__name__}: "
                f"{flag_words(str(self._stopped_by))} ({progress.done} results written to "
                f"{out}); fix it and rerun with --resume"
            )
            note_line(self._cost.line())
            usage = isinstance(self._stopped_by, _STOP_USAGE)
            return ExitCode.USAGE if usage else ExitCode.API_ERROR
        elapsed = time.monotonic() - self._started
        note_line(f"{_summary(progress, elapsed, out, skipped)}; {self._cost.line()}")
        if progress.failed == 0:
            return ExitCode.OK
        if self._api_errors == progress.done:
            return ExitCode.API_ERROR
        return ExitCode.RUN_FAILED


def _interrupted(
    interrupt: KeyboardInterrupt, writer: ResultWriter, out: Path, skipped: int, cost: BatchCost
) -> ExitCode:
    """Ctrl-C or SIGTERM: the results so far are kept, and --resume goes on from them."""
    writer.repair()
    code = interrupted_code(interrupt)
    word = "interrupted" if code is ExitCode.INTERRUPTED else "terminated"
    error_line(
        f"{word}: {writer.written} results written to {out} "
        f"({writer.written + skipped} in all); the runs in flight go on on the server and "
        "--resume waits for them"
    )
    note_line(cost.line())
    note_line("continue with the same command plus --resume")
    return code


def _summary(tally: BatchProgress, elapsed: float, out: Path, skipped: int) -> str:
    rate = f", {tally.done / elapsed:.1f}/s" if elapsed > 0 and tally.done else ""
    resumed = f"; {skipped} skipped (already in {out})" if skipped else ""
    return (
        f"batch: {tally.done} done, {tally.succeeded} succeeded, {tally.failed} failed "
        f"in {format_duration(elapsed)}{rate}; results in {out}{resumed}"
    )
