"""`flowinvoke batch --engine temporal`: the batch runs on Temporal workers, this follows it.

The inputs are read and checked here, submitted as one batch workflow whose id is the
batch id, and each input's end is written to the results file as it is known, in the same
line format as a local batch. The batch goes on without this command: run the same command
with `--batch-id ID --resume` (from any machine) to follow it again; nothing starts twice,
since every input's workflow id is `<batch id>/<index>`.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import anyio
import click

from flowinvoke import PollPolicy
from flowinvoke.temporal import InputOutcome, PollSettings, RunRequest, TemporalRuns, connect

from ._exit import ExitCode, Job, exit_with, handle_errors
from ._render import note_line
from ._results import IndexSet, ResultWriter, error_result, parse_input, scan_results
from ._settings import Settings

__all__ = ["run_on_temporal"]


def run_on_temporal(
    *,
    inputs: Path,
    out: Path,
    resume: bool,
    concurrency: int,
    user_id: str | None,
    timeout: float | None,
    workflow_id: str | None,
    temporal_address: str | None,
    namespace: str,
    task_queue: str,
    batch_id: str | None,
) -> None:
    """Submit (or rejoin) the batch, write every input's end, exit 0 or 1."""
    if resume and batch_id is None:
        raise click.UsageError("--resume with --engine temporal needs the --batch-id to follow")
    batch_id = batch_id or f"batch-{uuid.uuid4().hex[:12]}"
    done = scan_results(out) if resume and out.exists() else IndexSet()
    lines: list[int] = []  # the batch's input index -> the file's line number
    good: list[dict[str, Any]] = []
    bad: list[tuple[int, str]] = []
    with inputs.open("rb") as source:
        for number, raw in enumerate(source):
            if not raw.strip():
                continue
            value = parse_input(raw)
            if isinstance(value, str):
                bad.append((number, value))
            else:
                lines.append(number)
                good.append(value)
    template = RunRequest(
        input={},
        user_id=user_id,
        workflow_id=workflow_id,
        poll=PollSettings.of(PollPolicy(timeout=timeout or 1800.0)),
    )
    failed = 0
    with out.open("ab") as file, handle_errors(Job(Settings())):
        writer = ResultWriter(file)
        for number, message in bad:
            if number not in done:
                writer.write(error_result(number, "InvalidInput", message))
                failed += 1
        note_line(f"batch id {batch_id}; follow it again with --batch-id {batch_id} --resume")
        todo = [index for index, number in enumerate(lines) if number not in done]

        async def follow() -> int:
            runs = TemporalRuns(
                await connect(temporal_address, namespace=namespace), task_queue=task_queue
            )
            await runs.submit_batch(batch_id, good, concurrency=concurrency, template=template)
            failures = 0
            async for outcome in runs.outcomes(batch_id, todo):
                writer.write(_line(outcome, lines[outcome.index]))
                failures += 0 if outcome.ok else 1
            state = await runs.progress(batch_id)
            note_line(f"batch {batch_id}: {state.done}/{state.total} done, {state.failed} failed")
            return failures

        failed += anyio.run(follow)
    exit_with(ExitCode.RUN_FAILED if failed else ExitCode.OK)


def _line(outcome: InputOutcome, number: int) -> dict[str, Any]:
    run = outcome.run
    error = None
    if outcome.error_type is not None:
        error = {"type": outcome.error_type, "message": outcome.error or ""}
    return {
        "index": number,
        "run_id": outcome.run_id,
        "status": None if run is None else run.status.value,
        "output": None if run is None else run.output,
        "error": error,
    }
