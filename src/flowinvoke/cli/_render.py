"""Output: a run as readable text (rich) or as one JSON object, and one-line messages.

Results go to standard output, everything else (progress, errors, hints) to standard error,
so `flowinvoke run ... --json | jq` sees nothing but the JSON. Rich drops colour by itself
when the stream is not a terminal or `NO_COLOR` is set; nothing here depends on colour.
Every text that may come from a server goes through `_safe` (control sequences escaped, the
key masked) before it reaches either stream.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from flowinvoke import RunStatus, WorkflowRun

from ._safe import clean, clean_json

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.text import Text

__all__ = [
    "err_console",
    "error_line",
    "format_duration",
    "note_line",
    "out_console",
    "render_run",
    "run_json",
    "status_text",
]

STATUS_STYLES: dict[RunStatus, str] = {
    RunStatus.PENDING: "yellow",
    RunStatus.RUNNING: "cyan",
    RunStatus.SUCCEEDED: "bold green",
    RunStatus.FAILED: "bold red",
    RunStatus.CANCELLED: "magenta",
    RunStatus.UNKNOWN: "bold magenta",
}


def out_console() -> Console:
    """A rich console on the current standard output (made per call: tests swap streams)."""
    from rich.console import Console

    return Console(highlight=False)


def err_console() -> Console:
    """A rich console on the current standard error."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def error_line(message: str) -> None:
    """Print `flowinvoke: error: MESSAGE` as one line on standard error."""
    from rich.text import Text

    line = Text.assemble(
        ("flowinvoke: ", "dim"), ("error: ", "bold red"), " ".join(clean(message).split())
    )
    err_console().print(line, soft_wrap=True)


def note_line(message: str, style: str = "") -> None:
    """Print one plain line of information on standard error."""
    from rich.text import Text

    err_console().print(Text(clean(message), style=style), soft_wrap=True)


def status_text(run: WorkflowRun) -> Text:
    """The run's status word, styled; for UNKNOWN, the server's own word follows."""
    from rich.text import Text

    text = Text(run.status.value, style=STATUS_STYLES[run.status])
    if run.status is RunStatus.UNKNOWN and run.raw_status:
        text.append(f" (the server said {clean(repr(run.raw_status))})", style="dim")
    return text


def format_duration(seconds: float) -> str:
    """`0.42s`, `12.3s`, `4m05s`: short enough for a status line."""
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def _duration(value: timedelta | None) -> str | None:
    return None if value is None else format_duration(value.total_seconds())


def run_json(run: WorkflowRun) -> dict[str, Any]:
    """The run as the `--json` flag prints it: `model_dump(mode="json")` without `raw`."""
    return run.model_dump(mode="json", exclude={"raw"})


def render_run(run: WorkflowRun, *, as_json: bool) -> None:
    """Print a run on standard output: readable, or (`as_json`) as one JSON object."""
    if as_json:
        click.echo(clean_json(json.dumps(run_json(run), ensure_ascii=False)))
        return
    console = out_console()
    console.print(run_table(run))
    if run.output is not None:
        console.print()
        console.print("Output", style="bold")
        console.print(output_renderable(run.output), soft_wrap=True)


def run_table(run: WorkflowRun) -> RenderableType:
    """A two-column grid of a run's facts; rows without a value are left out."""
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    rows: list[tuple[str, RenderableType | None]] = [
        ("Run id", run.id or "(none: this provider gives no run id)"),
        ("Status", status_text(run)),
        ("Provider", run.provider),
        ("Workflow", _workflow(run)),
        ("Duration", _duration(run.duration)),
        ("Cost", None if run.total_cost is None else f"{run.total_cost:g} credits"),
        ("Tokens", None if run.total_tokens is None else str(run.total_tokens)),
        ("Error", run.error),
    ]
    for label, value in rows:
        if value is not None:
            grid.add_row(label, Text(clean(value)) if isinstance(value, str) else value)
    return grid


def _workflow(run: WorkflowRun) -> str | None:
    parts = [part for part in (run.workflow_name, run.workflow_id) if part]
    if not parts:
        return None
    text = parts[0] if len(parts) == 1 else f"{parts[0]} ({parts[1]})"
    return f"{text} v{run.workflow_version}" if run.workflow_version else text


def output_renderable(output: Any, *, indent: str = "") -> Text:
    """A run's output, pretty-printed: JSON values (and JSON in a string) indented.

    Print it with `soft_wrap=True`: long lines are left whole for the terminal to wrap,
    so the text copies and pipes intact.
    """
    from rich.highlighter import JSONHighlighter
    from rich.text import Text

    if isinstance(output, str):
        try:
            decoded = json.loads(output)
        except ValueError:
            decoded = None
        if not isinstance(decoded, dict | list):
            return Text("\n".join(indent + line for line in clean(output).splitlines()))
        output = decoded
    dumped = clean_json(json.dumps(output, indent=2, ensure_ascii=False, default=str))
    text = Text("\n".join(indent + line for line in dumped.splitlines()))
    JSONHighlighter().highlight(text)
    return text
