"""`flowinvoke batch`: run every line of a JSONL file, results to a JSONL file, resumable.

Inputs are read as a stream (one JSON object per line) and drawn only as run slots free up,
so a file of a million lines costs no more memory than one of ten. Each finished input is
written at once as one whole JSON line and flushed, in completion order:

    {"index": 3, "run_id": "...", "status": "SUCCEEDED", "output": {...}, "error": null}

`index` is the input's 0-based line number in the input file (blank lines are skipped but
counted). Each run id is also recorded as soon as its start returns, in the started-runs
journal next to the results (`_journal`). With `--resume` the indices already in the output
file are skipped, the runs recorded in the journal without a result are waited for (never
started again), and the rest appended; a torn last line (a crash mid-write) is cut off
first. A line that is not a JSON object, and a result that cannot be written as UTF-8 JSON,
become error lines: every input gets a line, so a batch always makes progress.

Exit codes: 0 every input succeeded; 1 some failed (the output is complete); 2 usage or
configuration; 3 the API refused the key or the credits ran out (the batch stops at once,
and `--resume` retries what was not done), or every input failed with an API error; 130
Ctrl-C, 143 SIGTERM (the output stays valid; `--resume` continues).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import AbstractContextManager, closing, contextmanager, nullcontext, suppress
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from .._batch_items import BatchItem
from .._compat import sync_map_unordered
from .._errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    FlowInvokeError,
    InsufficientCreditsError,
    PermissionDeniedError,
    UnsupportedOperationError,
    WaitTimeoutError,
    WorkflowFailedError,
)
from .._models import WorkflowRun
from .._sync.client import DEFAULT_BATCH_CONCURRENCY, DEFAULT_MAX_CONNECTIONS, Client
from ._exit import ExitCode, Job, exit_with, flag_words, handle_errors, interrupted_code
from ._journal import StartedJournal, journal_path, read_journal
from ._render import err_console, error_line, format_seconds, note_line
from ._safe import clean_json
from ._settings import Settings, client_options

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

__all__ = ["batch", "make_client", "result_line"]

#: Errors that every other input of the batch would meet too: the batch stops at the first.
#: Their inputs are not written, so `--resume` runs them once the cause is fixed.
_STOP_API = (AuthenticationError, PermissionDeniedError, InsufficientCreditsError)
_STOP_USAGE = (ConfigurationError, UnsupportedOperationError)


def make_client(
    settings: Settings, *, rate_limit: float | None, max_connections: int
) -> AbstractContextManager[Client]:
    """Build the batch's client (a context manager that closes it); tests replace this.

    Raises:
        ConfigurationError: a setting is missing or wrong (no key, unknown provider, ...).
    """
    return Client(
        **settings.client_kwargs(), rate_limit=rate_limit, max_connections=max_connections
    )


def _parse(raw: bytes) -> dict[str, Any] | str:
    """The input object of a line, or why it is not one (a message for its error line)."""
    try:
        value = json.loads(raw)
        json.dumps(value)  # the client must be able to send it again
    except RecursionError:
        return "not a usable JSON object: nested too deeply"
    except ValueError as exc:  # UnicodeDecodeError included
        return f"not valid JSON: {exc}"
    if not isinstance(value, dict):
        kind = "an array" if isinstance(value, list) else type(value).__name__
        return f"expected a JSON object, got {kind}"
    return value


def result_line(item: BatchItem, index: int) -> dict[str, Any]:
    """The output line of one finished input (before `json.dumps`)."""
    run = item.run
    error: dict[str, str] | None = None
    if item.error is not None:
        error = {"type": type(item.error).__name__, "message": flag_words(str(item.error))}
    elif not item.ok:  # pragma: no cover - a batch item without success carries an error
        error = {"type": "Unknown", "message": "the run did not succeed"}
    return {
        "index": index,
        "run_id": item.run_id,
        "status": None if run is None else run.status.value,
        "output": None if run is None else run.output,
        "error": error,
    }


def _error_line(index: int, kind: str, message: str, **known: Any) -> dict[str, Any]:
    return {
        "index": index,
        "run_id": known.get("run_id"),
        "status": known.get("status"),
        "output": None,
        "error": {"type": kind, "message": message},
    }


def _encode(line: dict[str, Any]) -> bytes:
    """One result line as UTF-8 JSON (key masked, control characters escaped).

    A result that cannot be written so (an output holding a lone surrogate, or nested too
    deeply to encode) becomes an error line of type `UnwritableResult` with its run id and
    status, so that its input is done and a resume never starts it again.
    """
    try:
        return (clean_json(json.dumps(line, ensure_ascii=False, default=str)) + "\n").encode()
    except (ValueError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
        reason = f"the result cannot be written as UTF-8 JSON: {type(exc).__name__}: {exc}"
        known = {name: line.get(name) for name in ("run_id", "status")}
        fallback = _error_line(line["index"], "UnwritableResult", reason, **known)
        return (clean_json(json.dumps(fallback, default=str)) + "\n").encode()


class _IndexSet:
    """A set of non-negative ints as a bitmap: a million indices take 125 kB."""

    __slots__ = ("_bits", "count")

    def __init__(self) -> None:
        self._bits = bytearray()
        self.count = 0

    def add(self, index: int) -> bool:
        """Add `index`; False if it was there already."""
        byte, bit = divmod(index, 8)
        if byte >= len(self._bits):
            self._bits.extend(bytes(max(byte + 1 - len(self._bits), len(self._bits))))
        if self._bits[byte] >> bit & 1:
            return False
        self._bits[byte] |= 1 << bit
        self.count += 1
        return True

    def __contains__(self, index: int) -> bool:
        byte, bit = divmod(index, 8)
        return byte < len(self._bits) and bool(self._bits[byte] >> bit & 1)


#: The start of every line this command writes: a resume reads a million of them in a second.
_INDEX_PREFIX = re.compile(rb'\{"index": (\d+), ')


def _index_of(line: bytes) -> int | None:
    """The `index` of a result line, or None if it is not one."""
    match = _INDEX_PREFIX.match(line)
    if match is not None and line.rstrip().endswith(b"}"):
        return int(match[1])
    try:  # written by hand, or by another tool: read it properly
        index = json.loads(line)["index"]
    except (ValueError, TypeError, KeyError):
        return None
    return index if type(index) is int and index >= 0 else None


def _scan_results(path: Path) -> _IndexSet:
    """The indices already in a results file; a torn last line is truncated away.

    Raises:
        click.UsageError: a complete line is not a result line of this command.
    """
    done = _IndexSet()
    good = 0  # the end of the last complete line
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            if not raw.endswith(b"\n"):
                break  # torn: written by a process that died mid-line
            good += len(raw)
            if not raw.strip():
                continue
            index = _index_of(raw)
            if index is None:
                raise click.UsageError(
                    f"line {number} of {path} is not a result line of 'flowinvoke batch'; "
                    "choose another --out"
                )
            done.add(index)
    if good < path.stat().st_size:
        with path.open("r+b") as file:
            file.truncate(good)
    return done


class _ResultWriter:
    """Appends result lines, each in one write and flushed; never leaves a torn line."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self._good = file.seek(0, os.SEEK_END)
        self.written = 0

    def write(self, line: dict[str, Any]) -> None:
        data = _encode(line)
        self._file.write(data)
        self._file.flush()
        self._good += len(data)
        self.written += 1

    def repair(self) -> None:
        """Cut off a line an interruption left half-written (a signal during `write`)."""
        with suppress(OSError, ValueError):  # best effort, on the way out
            self._file.truncate(self._good)


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
        self._drawn = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for number, raw in enumerate(self._file):
            if not raw.strip() or self._skip(number):
                continue
            value = _parse(raw)
            if isinstance(value, str):
                if self.on_bad is not None:
                    self.on_bad(number, value)
                continue
            self._lines[self._drawn] = number
            self._drawn += 1
            yield value

    def line_number(self, index: int) -> int:
        """The line number of the input the client numbered `index`."""
        return self._lines[index]

    def line_of(self, item: BatchItem) -> int:
        """The line number of a finished item's input (forgotten once asked)."""
        return self._lines.pop(item.index)


def _count_todo(path: Path, done: _IndexSet) -> int:
    """Non-blank lines not done yet: a quick pass that gives the progress bar its total."""
    with path.open("rb") as file:
        return sum(1 for number, raw in enumerate(file) if raw.strip() and number not in done)


class _Tally:
    """Inputs done, succeeded and failed with an API error; runs in flight (any thread)."""

    def __init__(self) -> None:
        self.done = self.succeeded = self.api_errors = 0
        self._running: set[int] = set()
        self._lock = threading.Lock()

    @property
    def failed(self) -> int:
        return self.done - self.succeeded

    @property
    def running(self) -> int:
        return len(self._running)

    def started(self, line: int) -> None:
        with self._lock:
            self._running.add(line)

    def finished(self, line: int, *, ok: bool, api_error: bool) -> None:
        with self._lock:
            self._running.discard(line)
            self.done += 1
            self.succeeded += ok
            self.api_errors += api_error


class _Display:
    """A rich progress bar on a terminal; nothing otherwise (the summary line follows)."""

    def __init__(self, console: Console, total: int | None) -> None:
        self._console = console
        self._total = total
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> _Display:
        if self._console.is_terminal:
            self._progress = _make_progress(self._console, eta=self._total is not None)
            self._progress.start()
            self._task = self._progress.add_task("batch", total=self._total, failed=0, running=0)
        return self

    def update(self, tally: _Tally) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task, completed=tally.done, failed=tally.failed, running=tally.running
            )

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _make_progress(console: Console, *, eta: bool) -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            elapsed = task.elapsed or 0.0
            rate = task.completed / elapsed if elapsed > 0 else 0.0
            return Text(f"{rate:.1f}/s", style="dim")

    columns: list[ProgressColumn | str] = [
        SpinnerColumn(),
        BarColumn() if eta else TextColumn(""),
        MofNCompleteColumn() if eta else TextColumn("{task.completed} done"),
        TextColumn("[red]{task.fields[failed]} failed"),
        TextColumn("[cyan]{task.fields[running]} running"),
        RateColumn(),
        TimeElapsedColumn(),
    ]
    if eta:
        columns += ["left", TimeRemainingColumn()]
    return Progress(*columns, console=console, transient=True, refresh_per_second=4)


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
@click.option("--user-id", metavar="ID", help="Tag every run with your user's id (GPTBots userId).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Each run's deadline, from when it takes a slot. [default: 1800]",
)
def batch(
    settings: Settings,
    inputs: str,
    out: Path,
    concurrency: int,
    rate: float | None,
    resume: bool,
    user_id: str | None,
    timeout: float | None,
) -> None:
    """Run the workflow once per line of INPUTS.jsonl (a JSON object per line; - for stdin).

    Each finished input becomes one JSON line in RESULTS.jsonl, written at once:
    {"index", "run_id", "status", "output", "error"}, where index is the input's 0-based
    line number. Each run id is recorded in RESULTS.jsonl.started as soon as its start
    returns. After Ctrl-C, SIGTERM or a crash, run the same command with --resume: it
    waits for the runs already started instead of starting them again.

    \b
    Examples:
      flowinvoke batch questions.jsonl --out answers.jsonl --concurrency 50 --rate 2
      flowinvoke batch questions.jsonl --out answers.jsonl --resume

    Exit codes: 0 all succeeded, 1 some failed, 2 usage, 3 key refused or every input
    failed with an API error, 130 interrupted, 143 terminated (SIGTERM).
    """
    try:
        _check_paths(inputs, out, resume)
        done = _scan_results(out) if resume and out.exists() else _IndexSet()
        recorded = read_journal(journal_path(out)) if resume else {}
    except OSError as exc:
        raise click.BadParameter(
            f"cannot read {out}: {exc.strerror or exc}", param_hint="'--out'"
        ) from None
    waits = {line: run_id for line, run_id in recorded.items() if line not in done}
    job = Job(settings)
    with _open_input(inputs) as source, handle_errors(job), _quiet_library_warnings():
        console = err_console()
        total = None
        if inputs != "-" and console.is_terminal:
            total = _count_todo(Path(inputs), done)
        connections = min(concurrency, DEFAULT_MAX_CONNECTIONS)
        with make_client(settings, rate_limit=rate, max_connections=connections) as client:
            job.bind(client)
            try:
                results = out.open("ab")
                journal = StartedJournal(journal_path(out), fresh=not resume)
            except OSError as exc:
                raise click.BadParameter(
                    f"cannot write {out}: {exc.strerror or exc}", param_hint="'--out'"
                ) from None
            with results:
                code = _run(
                    client,
                    _Inputs(source, skip=lambda line: line in done or line in waits),
                    _ResultWriter(results),
                    journal,
                    waits,
                    display=_Display(console, total),
                    out=out,
                    skipped=done.count,
                    concurrency=concurrency,
                    user_id=user_id,
                    timeout=timeout,
                )
    exit_with(code)


def _wait_item(client: Client, timeout: float | None, job: tuple[int, str]) -> BatchItem:
    """Wait for a run a killed batch started: its item, as if the batch had gone on."""
    line, run_id = job
    try:
        run = client.wait(run_id, timeout=timeout)
    except WaitTimeoutError as error:
        return BatchItem(line, None, error.last_run, error)
    except (FlowInvokeError, TypeError, ValueError) as error:
        if isinstance(error, FlowInvokeError):
            error.run_id = error.run_id or run_id
        return BatchItem(line, None, None, error)
    return BatchItem(line, None, run, None if run.succeeded else WorkflowFailedError(run))


def _items(
    client: Client,
    waits: Mapping[int, str],
    inputs: _Inputs,
    *,
    on_start: Callable[[int, WorkflowRun], None],
    concurrency: int,
    user_id: str | None,
    timeout: float | None,
) -> Generator[tuple[int, BatchItem], None, None]:
    """(line number, item) for each run: first the recorded runs waited for, then new ones.

    Closing it stops the runs in flight at their next sleep.
    """
    if waits:
        waited = sync_map_unordered(
            partial(_wait_item, client, timeout), waits.items(), min(concurrency, len(waits))
        )
        with closing(waited):
            for item in waited:
                yield item.index, item
    started = client.as_completed(
        inputs, concurrency=concurrency, user_id=user_id, timeout=timeout, on_start=on_start
    )
    with closing(started):
        for item in started:
            yield inputs.line_of(item), item


def _run(
    client: Client,
    inputs: _Inputs,
    writer: _ResultWriter,
    journal: StartedJournal,
    waits: Mapping[int, str],
    *,
    display: _Display,
    out: Path,
    skipped: int,
    concurrency: int,
    user_id: str | None,
    timeout: float | None,
) -> ExitCode:
    tally = _Tally()
    started = time.monotonic()
    stopped_by: Exception | None = None
    finished = False

    def on_start(index: int, run: WorkflowRun) -> None:
        line = inputs.line_number(index)
        if run.id is not None:
            journal.record(line, run.id)  # before the wait: a killed batch knows this run
        tally.started(line)
        display.update(tally)

    def on_bad(line: int, message: str) -> None:
        writer.write(_error_line(line, "InvalidInput", message))
        tally.finished(line, ok=False, api_error=False)
        display.update(tally)

    inputs.on_bad = on_bad
    for line in waits:
        tally.started(line)
    items = _items(
        client,
        waits,
        inputs,
        on_start=on_start,
        concurrency=concurrency,
        user_id=user_id,
        timeout=timeout,
    )
    try:
        with display, closing(items):
            display.update(tally)
            for line, item in items:
                if isinstance(item.error, _STOP_API + _STOP_USAGE):
                    stopped_by = item.error
                    break
                writer.write(result_line(item, line))
                tally.finished(line, ok=item.ok, api_error=isinstance(item.error, APIError))
                display.update(tally)
        finished = stopped_by is None
    except OSError as exc:  # the disk is full, the input file went away, ...
        writer.repair()
        where = f" ({exc.filename})" if exc.filename else ""
        error_line(f"stopped: {exc.strerror or exc}{where}; {writer.written} results written")
        return ExitCode.USAGE
    except KeyboardInterrupt as interrupt:
        writer.repair()
        code = interrupted_code(interrupt)
        word = "interrupted" if code is ExitCode.INTERRUPTED else "terminated"
        error_line(
            f"{word}: {writer.written} results written to {out} "
            f"({writer.written + skipped} in all); the runs in flight go on on the server and "
            "--resume waits for them"
        )
        note_line("continue with the same command plus --resume")
        return code
    finally:
        journal.close(delete=finished)
    elapsed = time.monotonic() - started
    if stopped_by is not None:
        error_line(
            f"stopped: {type(stopped_by).__name__}: {flag_words(str(stopped_by))} "
            f"({tally.done} results written to {out}); fix it and rerun with --resume"
        )
        return ExitCode.USAGE if isinstance(stopped_by, _STOP_USAGE) else ExitCode.API_ERROR
    note_line(_summary(tally, elapsed, out, skipped))
    if tally.failed == 0:
        return ExitCode.OK
    if tally.api_errors == tally.done:
        return ExitCode.API_ERROR
    return ExitCode.RUN_FAILED


def _summary(tally: _Tally, elapsed: float, out: Path, skipped: int) -> str:
    rate = f", {tally.done / elapsed:.1f}/s" if elapsed > 0 and tally.done else ""
    resumed = f"; {skipped} skipped (already in {out})" if skipped else ""
    return (
        f"batch: {tally.done} done, {tally.succeeded} succeeded, {tally.failed} failed "
        f"in {format_seconds(elapsed)}{rate}; results in {out}{resumed}"
    )
