"""`flowinvoke demo`: eight runs against the in-process emulator, narrated step by step.

No key, no network: the emulator answers through an httpx mock transport. The last step
(a run finished by webhook) serves a receiver on a loopback port, when uvicorn is installed. Every
step prints plain lines, so the demo reads the same in a terminal, a pipe or a CI log, with
or without colour; on a terminal the slow runs also get the live status line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from flowinvoke import (
    APIStatusError,
    Client,
    Hooks,
    PollPolicy,
    RetryEvent,
    RetryPolicy,
    WorkflowFailedError,
    WorkflowRun,
)

from ._exit import Job, handle_errors
from ._live import RunProgress
from ._render import format_duration, out_console, output_renderable, run_table
from ._settings import Settings

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from flowinvoke.testing import Emulator

__all__ = ["demo"]

_FAST_RUN_SECONDS = 0.1
_RUN_SECONDS = 2.0  # long enough to watch PENDING -> RUNNING -> SUCCEEDED; the whole demo ~15 s


@dataclass
class _Outcome:
    """One row of the summary table."""

    step: str
    workflow: str
    provider: str
    status: str
    seconds: float
    note: str


@click.command(short_help="Try flowinvoke with no account (in-process emulator).")
@click.option(
    "--fast", is_flag=True, help="Make the slow workflow take a fraction of a second (tests)."
)
def demo(fast: bool) -> None:
    """Watch flowinvoke work, with no account: eight runs on the bundled emulator.

    \b
    1. a synchronous run and its output
    2. an asynchronous run going PENDING -> RUNNING -> SUCCEEDED
    3. a failed run, caught as WorkflowFailedError
    4. a transient HTTP 503, retried and survived
    5. a run on the aitutor-api provider
    6. a run finished by webhook (a receiver on a loopback port; needs uvicorn)
    7. a Dify run, its outcome read from the event stream
    8. a Coze run, started asynchronously and polled
    """
    from flowinvoke.testing import demo_emulator

    with handle_errors(Job(Settings())):
        story = _Demo(demo_emulator(run_seconds=_FAST_RUN_SECONDS if fast else _RUN_SECONDS), fast)
        story.play()


class _Demo:
    """The demo's steps, sharing one emulator, one console and the summary rows."""

    def __init__(self, emulator: Emulator, fast: bool) -> None:
        self.emulator = emulator
        self.console: Console = out_console()
        self.outcomes: list[_Outcome] = []
        if fast:
            self.poll = PollPolicy(initial_delay=0.02, multiplier=1.0, max_interval=0.02)
            self.retry = RetryPolicy(initial_delay=0.01, max_delay=0.02)
        else:
            self.poll = PollPolicy(initial_delay=0.2, multiplier=1.2, max_interval=0.5)
            self.retry = RetryPolicy(initial_delay=0.3, max_delay=1.0)

    def play(self) -> None:
        """Run every step, then print the summary."""
        self.console.print(
            "flowinvoke demo: eight workflow runs against the bundled emulator "
            "(in-process: no key, no network).",
            soft_wrap=True,
        )
        for number, step in enumerate(
            (
                self.quick,
                self.slow,
                self.fails,
                self.retried,
                self.aitutor,
                self.pushed,
                self.dify,
                self.coze,
            ),
            start=1,
        ):
            step(number)
        self.summary()

    # -- the steps -------------------------------------------------------------------------

    def quick(self, number: int) -> None:
        """A synchronous run: the call returns the finished run."""
        self.heading(number, "A synchronous run", "demo-quick")
        data = {"text": "flowinvoke starts, waits for and runs workflow runs"}
        self.code(f"client.invoke({data!r})")
        with self.client("demo-quick") as client:
            started = time.monotonic()
            run = client.invoke(data)
        self.show(run)
        self.record(number, "demo-quick", run, started, "one request")

    def slow(self, number: int) -> None:
        """An asynchronous run followed through its states with `wait`."""
        self.heading(number, "An asynchronous run, followed until it ends", "demo-slow")
        data = {"topic": "tea"}
        self.code(f"run = client.invoke({data!r}, async_mode=True); client.wait(run)")
        with self.client("demo-slow") as client:
            started = time.monotonic()
            run = client.invoke(data, async_mode=True)
            self.say(f"the call returned at once with run id {run.id}; now polling it:")
            with self.progress(run) as progress:
                run = client.wait(run, on_update=progress.on_update)
        self.show(run)
        self.record(number, "demo-slow", run, started, f"{self.queries(run)} polls")

    def fails(self, number: int) -> None:
        """A run that ends FAILED; `run` raises `WorkflowFailedError`."""
        self.heading(number, "A failed run", "demo-fails")
        data = {"text": "this one will fail"}
        self.code(f"client.run({data!r})")
        with self.client("demo-fails") as client:
            started = time.monotonic()
            try:
                client.run(data)
            except WorkflowFailedError as error:
                self.say(f"caught WorkflowFailedError: {error}", style="red")
                run = error.run
            else:  # pragma: no cover - the demo workflow always fails
                raise AssertionError("demo-fails did not fail")
        self.show(run, output=False)
        self.record(number, "demo-fails", run, started, "error caught")

    def retried(self, number: int) -> None:
        """A query answered with HTTP 503 once: the client retries and the run succeeds."""
        from flowinvoke.testing import Fault

        self.heading(number, "A transient HTTP 503, survived", "demo-slow")
        self.emulator.inject(
            Fault(kind="server_error", status=503, operation="query", workflow="demo-slow")
        )
        self.say("the emulator will answer the next query of demo-slow with HTTP 503")
        data = {"topic": "coffee"}
        self.code(f"client.run({data!r})")
        faults_before = self.emulator.counters.faults["server_error"]
        retries: list[str] = []

        def retried(event: RetryEvent) -> None:
            line = _retry_summary(event, self.retry.max_retries + 1)
            retries.append(line)
            self.say(f"retrying: {line}", style="yellow")

        hooks = Hooks(on_retry=retried)  # the public hook: no log records to parse
        with self.client("demo-slow", hooks=hooks) as client:
            started = time.monotonic()
            progress = RunProgress(
                live=self._live(), console=self.console, indent="  ", polls=self._polls()
            )
            with progress:
                run = client.run(data, on_update=progress.on_update)
        faults = self.emulator.counters.faults["server_error"] - faults_before
        self.say(f"the emulator injected {faults} fault(s); the run still {run.status.value}")
        self.show(run, output=False)
        plural = "y" if len(retries) == 1 else "ies"
        self.record(
            number, "demo-slow", run, started, f"503 survived ({len(retries)} retr{plural})"
        )

    def aitutor(self, number: int) -> None:
        """A run on aitutor-api: no async mode, no query; the call returns the result."""
        self.heading(number, "A run on aitutor-api", "wf_demo")
        data = {"topic": "dragons"}
        self.code(f"client.run({data!r})")
        with self.client("wf_demo") as client:
            started = time.monotonic()
            run = client.run(data)
        self.show(run)
        self.record(number, "wf_demo", run, started, "same run model")

    def pushed(self, number: int) -> None:
        """A run whose wait ends on the platform's callback, confirmed by one query."""
        self.heading(number, "A run finished by webhook", "demo-slow")
        try:
            from flowinvoke.testing import ReceiverServer

            server = ReceiverServer().start()
        except ImportError:
            self.say(
                'skipped: serving a receiver needs uvicorn (pip install "flowinvoke[emulator]")'
            )
            return
        data = {"topic": "cocoa"}
        with server:
            receiver = server.receiver
            self.say(f"a WebhookReceiver listens at {receiver.public_url}")
            self.code(f"Client(..., webhook_receiver=receiver).run({data!r})")
            client = self.emulator.client(
                "demo-slow", poll=self.poll, retry=self.retry, webhook_receiver=receiver
            )
            with client:
                started = time.monotonic()
                run = client.run(data)
        queries = self.queries(run)
        self.say(
            f"the emulator called the receiver back when the run ended; "
            f"the wait woke and confirmed with {queries} quer{'y' if queries == 1 else 'ies'}"
        )
        self.show(run, output=False)
        self.record(number, "demo-slow", run, started, f"webhook, {queries} query")

    def dify(self, number: int) -> None:
        """A Dify run: streamed, so the id arrives at once and the outcome without polls."""
        self.heading(number, "A run on Dify, followed on its event stream", "demo-dify")
        data = {"text": "the stream"}
        self.code(f"client.run({data!r})")
        with self.client("demo-dify") as client:
            started = time.monotonic()
            with self.progress_of_latest() as progress:
                run = client.run(data, on_update=progress.on_update)
        polls = self.queries(run)
        self.say(f"the stream told the run id and its end: {polls} poll(s) needed")
        self.show(run)
        self.record(number, "demo-dify", run, started, f"streamed, {polls} polls")

    def coze(self, number: int) -> None:
        """A Coze run: `is_async` start, then polling its history."""
        from flowinvoke.testing import DEMO_COZE_WORKFLOW

        self.heading(number, "A run on Coze, started async and polled", DEMO_COZE_WORKFLOW)
        data = {"topic": "rivers"}
        self.code(f"client.run({data!r})")
        with self.client(DEMO_COZE_WORKFLOW) as client:
            started = time.monotonic()
            with self.progress_of_latest() as progress:
                run = client.run(data, on_update=progress.on_update)
        self.show(run)
        self.record(number, "coze", run, started, f"{self.queries(run)} polls")

    def progress_of_latest(self) -> RunProgress:
        """A progress tracker for a run whose id is not known yet."""
        return RunProgress(
            live=self._live(), console=self.console, indent="  ", polls=self._polls()
        )

    def summary(self) -> None:
        """The table of every step's outcome."""
        from rich.table import Table
        from rich.text import Text

        self.console.print()
        self.console.rule("Summary", style="dim")
        table = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False)
        for column in ("step", "workflow", "provider", "status", "time", "note"):
            table.add_column(column, no_wrap=column != "note")
        for row in self.outcomes:
            style = "green" if row.status == "SUCCEEDED" else "red"
            table.add_row(
                row.step,
                row.workflow,
                row.provider,
                Text(row.status, style=style),
                format_duration(row.seconds),
                row.note,
            )
        self.console.print(table)
        self.console.print(
            "Next: flowinvoke emulator serve, then flowinvoke run --base-url ... "
            "(see docs/cli.md).",
            style="dim",
            soft_wrap=True,
        )

    # -- helpers ---------------------------------------------------------------------------

    def client(self, workflow: str, **options: Any) -> Client:
        """A flowinvoke `Client` bound to a demo workflow, served in-process."""
        return self.emulator.client(workflow, poll=self.poll, retry=self.retry, **options)

    def heading(self, number: int, title: str, workflow: str) -> None:
        """The step's heading rule."""
        self.console.print()
        self.console.rule(f"{number}. {title} ({workflow})", align="left", style="dim")

    def code(self, line: str) -> None:
        """The Python call the step makes."""
        self.console.print(f"  >>> {line}", style="dim", soft_wrap=True, markup=False)

    def say(self, line: str, style: str = "") -> None:
        """One indented line of narration."""
        self.console.print(f"  {line}", style=style, soft_wrap=True, markup=False)

    def show(self, run: WorkflowRun, *, output: bool = True) -> None:
        """The run's facts and (optionally) its output, indented."""
        self.console.print(_indented(run_table(run)))
        if output and run.output is not None:
            self.console.print(output_renderable(run.output, indent="  "), soft_wrap=True)

    def record(
        self, number: int, workflow: str, run: WorkflowRun, started: float, note: str
    ) -> None:
        """Add the step to the summary."""
        self.outcomes.append(
            _Outcome(
                step=str(number),
                workflow=workflow,
                provider=run.provider,
                status=run.status.value,
                seconds=time.monotonic() - started,
                note=note,
            )
        )

    def queries(self, run: WorkflowRun) -> int:
        """How many times the emulator was asked about `run`."""
        return self.emulator.counters.queries[run.id] if run.id else 0

    def progress(self, run: WorkflowRun) -> RunProgress:
        """A progress tracker printing transitions on standard output for `run`."""
        return RunProgress(
            run_id=run.id,
            live=self._live(),
            console=self.console,
            indent="  ",
            polls=lambda: self.queries(run),
        )

    def _polls(self) -> Callable[[], int]:
        """Polls of the latest run, for a tracker made before the run id is known."""

        def count() -> int:
            runs = self.emulator.runs()
            return runs[-1].queries if runs else 0

        return count

    def _live(self) -> bool:
        return self.console.is_terminal


def _indented(renderable: RenderableType) -> RenderableType:
    from rich.padding import Padding

    return Padding(renderable, (0, 0, 0, 2), expand=False)


def _retry_summary(event: RetryEvent, attempts: int) -> str:
    """`query, attempt 2 of 3, in 0.01s, after HTTP 503`, from a retry hook's event."""
    error = event.error
    cause = (
        f"HTTP {error.status_code}" if isinstance(error, APIStatusError) else type(error).__name__
    )
    return (
        f"{event.request.operation}, attempt {event.request.attempt + 1} of {attempts}, "
        f"in {event.delay:.2f}s, after {cause}"
    )
