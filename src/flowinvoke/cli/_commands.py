"""`flowinvoke run`, `get` and `wait`: the commands that talk to a provider."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from flowinvoke import WorkflowRun

from . import _settings
from ._exit import ExitCode, Job, exit_with, handle_errors, status_exit_code
from ._inputs import build_input, parse_pairs
from ._live import RunProgress
from ._render import error_line, note_line, render_run
from ._settings import Settings, client_options

__all__ = ["get", "run", "wait"]

_json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the run as one JSON object (WorkflowRun without 'raw') instead of text.",
)
_timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Give up waiting after this long (exit 4; resume with 'flowinvoke wait'). [default: 1800]",
)


def _finish(run: WorkflowRun, job: Job, *, as_json: bool, finished: bool = True) -> None:
    """Print the run and end with the exit code its status calls for."""
    render_run(run, as_json=as_json)
    code = status_exit_code(run, finished=finished)
    if code is not ExitCode.OK:
        word = run.raw_status or run.status.value
        detail = f": {run.error}" if run.error else ""
        name = f"run {run.id}" if run.id else "the run"
        error_line(f"{name} ended with status {word}{detail}")
    exit_with(code)


@click.command()
@client_options
@click.option(
    "--input",
    "-i",
    "pairs",
    multiple=True,
    metavar="KEY=VALUE",
    callback=parse_pairs,
    help="One input field (repeatable). VALUE is read as JSON if it is valid JSON "
    '(3, true, ["a"], "quoted"), else as a string.',
)
@click.option(
    "--input-json",
    metavar="JSON|@FILE",
    help="The whole input as a JSON object, or @file.json, or @- for standard input. "
    "--input fields are applied on top.",
)
@click.option("--user-id", metavar="ID", help="Tag the run with your user's id (GPTBots userId).")
@click.option(
    "--no-wait",
    is_flag=True,
    help="Start the run and print its id and status without waiting "
    "(asynchronously where the provider can).",
)
@_timeout_option
@_json_option
def run(
    settings: Settings,
    pairs: Sequence[tuple[str, Any]],
    input_json: str | None,
    user_id: str | None,
    no_wait: bool,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Start a workflow run and wait for it to finish.

    \b
    Examples:
      export FLOWINVOKE_API_KEY=...   # the workflow's key
      flowinvoke run -i question="What is flowinvoke?"
      flowinvoke run --input-json @input.json --json | jq .output
      flowinvoke run --provider aitutor --workflow-id wf_123 -i story=dragons
    """
    data = build_input(input_json, pairs)
    progress = RunProgress()
    job = Job(settings, progress=progress)
    with handle_errors(job):
        with _settings.make_client(settings, on_request=progress.count_request) as client:
            job.bind(client)
            if no_wait:
                started = client.invoke(
                    data, user_id=user_id, async_mode=client.provider.supports_async_invoke
                )
                if started.id and not started.done:
                    note_line(f"follow it with: {job.resume_command(started.id)}")
                _finish(started, job, as_json=as_json, finished=False)
            with progress:
                finished = client.run(
                    data,
                    user_id=user_id,
                    timeout=timeout,
                    on_update=progress.on_update,
                    raise_on_failure=False,
                )
        _finish(finished, job, as_json=as_json)


@click.command()
@client_options
@click.argument("run_id")
@_json_option
def get(settings: Settings, run_id: str, as_json: bool) -> None:
    """Query a run's current state once.

    Exits 0 while the run is PENDING or RUNNING or once it SUCCEEDED, 1 if it ended otherwise.

    \b
    Example:
      flowinvoke get 6f0c2d1e-... --json
    """
    job = Job(settings, run_id=run_id)
    with handle_errors(job):
        with _settings.make_client(settings) as client:
            job.bind(client)
            current = client.get_run(run_id)
        _finish(current, job, as_json=as_json, finished=False)


@click.command(short_help="Wait for a started run (resume after a timeout or Ctrl-C).")
@client_options
@click.argument("run_id")
@_timeout_option
@_json_option
def wait(settings: Settings, run_id: str, timeout: float | None, as_json: bool) -> None:
    """Wait for a run that is already started (resume after a timeout or Ctrl-C).

    \b
    Example:
      flowinvoke wait 6f0c2d1e-... --timeout 600
    """
    progress = RunProgress(run_id=run_id)
    job = Job(settings, progress=progress, run_id=run_id)
    with handle_errors(job):
        with _settings.make_client(settings, on_request=progress.count_request) as client:
            job.bind(client)
            with progress:
                finished = client.wait(run_id, timeout=timeout, on_update=progress.on_update)
        _finish(finished, job, as_json=as_json)
