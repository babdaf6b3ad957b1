"""The live progress shown on standard error: one run's status line, or a batch's bar.

On a terminal: a spinner with the run id, its status, the time elapsed and the number of
polls, redrawn in place (rich `Live`, cleared when the wait ends). Each change of status is
also printed as a line of its own, on a terminal or not, so logs and CI output show the
run's progress too: `run 6f0c…: RUNNING  (0.61s, 2 polls)`. `flowinvoke batch` shows a
progress bar instead (done, failed, running, rate), on a terminal only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from flowinvoke import BatchProgress, RunStatus, WorkflowRun

from ._render import STATUS_STYLES, err_console, format_duration
from ._safe import clean

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live
    from rich.progress import Progress, TaskID
    from rich.spinner import Spinner
    from rich.text import Text

__all__ = ["BatchProgressBar", "RunProgress", "seconds_left"]


class RunProgress:
    """Follows one run's states for the user: pass `on_update` to `Client.run` or `wait`.

    Use it as a context manager around the waiting; it draws the live line only while
    inside, and only when `live` is true (default: when standard error is a terminal).

    Args:
        run_id: The run's id when known before any update (`flowinvoke wait RUN_ID`).
        live: Draw the live line; None decides by whether the console is a terminal.
        polls: Where the poll count comes from (the demo asks its emulator); by default
            the requests counted by `count_request` after the run id is known.
        console: Where lines go (default: standard error).
        indent: Put before each transition line (the demo indents its steps).
    """

    def __init__(
        self,
        *,
        run_id: str | None = None,
        live: bool | None = None,
        polls: Callable[[], int] | None = None,
        console: Console | None = None,
        indent: str = "",
    ) -> None:
        self.console = console or err_console()
        self.live = self.console.is_terminal if live is None else live
        self.run_id = run_id
        self.last: WorkflowRun | None = None
        self.updates = 0
        self._requests = 0
        self._polls = polls
        self._indent = indent
        self._started = time.monotonic()
        self._display: Live | None = None
        self._spinner: Spinner | None = None

    @property
    def elapsed(self) -> float:
        """Seconds since this object was made (the command's start of waiting)."""
        return time.monotonic() - self._started

    @property
    def polls(self) -> int:
        """Queries made so far for this run."""
        return self._polls() if self._polls is not None else self._requests

    def count_request(self) -> None:
        """Count one HTTP request; those made once the run id is known are polls."""
        if self.run_id is not None:
            self._requests += 1

    def on_update(self, run: WorkflowRun) -> None:
        """Record a new state of the run and print a line if its status changed."""
        self.updates += 1
        previous = self.last
        self.last = run
        if run.id is not None:
            self.run_id = run.id
        if previous is None or previous.status is not run.status:
            self.console.print(self._transition(run), soft_wrap=True)

    def describe(self) -> Text:
        """The live line's text: run id, status, elapsed time, polls."""
        from rich.text import Text

        text = Text()
        text.append(f"run {clean(self.run_id)}" if self.run_id else "starting run", style="bold")
        if self.last is not None:
            status = self.last.status
            text.append("  ")
            text.append(status.value, style=STATUS_STYLES[status])
        text.append(f"  {format_duration(self.elapsed)}", style="dim")
        polls = self.polls
        if polls:
            text.append(f"  {polls} poll{'s' if polls != 1 else ''}", style="dim")
        return text

    def _transition(self, run: WorkflowRun) -> Text:
        from rich.text import Text

        text = Text(self._indent)
        text.append(f"run {clean(run.id)}: " if run.id else "run: ")
        text.append(run.status.value, style=STATUS_STYLES[run.status])
        details = [format_duration(self.elapsed)]
        if self.polls:
            details.append(f"{self.polls} poll{'s' if self.polls != 1 else ''}")
        text.append(f"  ({', '.join(details)})", style="dim")
        if run.status is RunStatus.FAILED and run.error:
            text.append(f"  {clean(run.error)}", style="red")
        return text

    def __rich__(self) -> RenderableType:
        spinner = self._spinner
        if spinner is None:  # pragma: no cover - only drawn while the Live display exists
            return self.describe()
        spinner.update(text=self.describe())
        return spinner

    def __enter__(self) -> RunProgress:
        if self.live:
            from rich.live import Live
            from rich.spinner import Spinner

            self._spinner = Spinner("dots", style="cyan")
            self._display = Live(
                self,
                console=self.console,
                transient=True,
                refresh_per_second=10,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._display.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._display is not None:
            self._display.stop()
            self._display = None


class BatchProgressBar:
    """A rich progress bar on a terminal; nothing otherwise (the summary line follows)."""

    def __init__(self, console: Console, total: int | None) -> None:
        self._console = console
        self._total = total
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> BatchProgressBar:
        if self._console.is_terminal:
            self._progress = _make_progress(self._console, eta=self._total is not None)
            self._progress.start()
            self._task = self._progress.add_task("batch", total=self._total, failed=0, running=0)
        return self

    def update(self, tally: BatchProgress) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task, completed=tally.done, failed=tally.failed, running=tally.in_flight
            )

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def seconds_left(total: int, done: int, elapsed: float) -> float | None:
    """The time the rest will take at the rate measured so far (None before any result).

    The rate is this batch's own, done / elapsed, as the bar shows it: rich's estimate
    divides by the speed of the last few results, which right after a burst of quick ones
    (the first runs all end together) promised 3 s for 193 inputs at 1.9/s.
    """
    if done <= 0 or elapsed <= 0:
        return None
    return max(total - done, 0) * elapsed / done


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
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            elapsed = task.elapsed or 0.0
            rate = task.completed / elapsed if elapsed > 0 else 0.0
            return Text(f"{rate:.1f}/s", style="dim")

    class TimeLeftColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            total = int(task.total or 0)
            left = seconds_left(total, int(task.completed), task.elapsed or 0.0)
            if left is None:
                return Text("-", style="cyan")
            return Text(f"{math.ceil(left)}s" if left < 60 else format_duration(left), style="cyan")

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
        columns += ["left", TimeLeftColumn()]
    return Progress(*columns, console=console, transient=True, refresh_per_second=4)
