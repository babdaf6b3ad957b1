"""Real worker processes killed, a real server restarted: no run starts twice, none is lost."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner

from flowinvoke import AsyncClient
from flowinvoke.cli import cli
from flowinvoke.temporal import RunRequest, TemporalRuns, build_worker, connect
from flowinvoke.testing import Emulator, LoopbackServer, Workflow

from .support import DevServer, WorkerProcess

KEY = "key-temporal-faults-0123"


@pytest.fixture
def emulator_server() -> Iterator[LoopbackServer]:
    with LoopbackServer(Emulator([Workflow(id="wf", api_key=KEY, duration=0.4)])) as server:
        yield server


@asynccontextmanager
async def in_process_worker(
    address: str, server: LoopbackServer, queue: str
) -> AsyncIterator[TemporalRuns]:
    """A worker in this test's loop (it survives what the test does to the others)."""
    temporal = await connect(address)
    client = AsyncClient(**server.client_options("wf"))
    async with client, build_worker(temporal, client, task_queue=queue, sandboxed=False):
        yield TemporalRuns(temporal, task_queue=queue)


def _template(start_timeout: float = 3.0) -> RunRequest:
    # A worker killed mid-start is noticed after start_timeout: short, so the test is too.
    return RunRequest(input={}, start_timeout=start_timeout, query_timeout=3.0)


async def _wait_until(runs: TemporalRuns, batch: str, done: int, seconds: float = 30) -> None:
    with anyio.fail_after(seconds):
        while (await runs.progress(batch)).done < done:  # noqa: ASYNC110 - another process
            await anyio.sleep(0.1)


def _check_each_input_started_at_most_once(emulator: Emulator, count: int) -> None:
    starts = [emulator.counters.invokes_for_input({"i": i}) for i in range(count)]
    assert max(starts) == 1, starts


@pytest.mark.asyncio
async def test_a_worker_sigkilled_mid_batch_loses_no_input_and_starts_none_twice(
    temporal_address: str, queue: str, emulator_server: LoopbackServer
) -> None:
    emulator, count = emulator_server.emulator, 30
    doomed = WorkerProcess(temporal_address, emulator_server.base_url, KEY, queue).start()
    try:
        async with in_process_worker(temporal_address, emulator_server, queue) as runs:
            inputs = [{"i": i} for i in range(count)]
            # A fresh history every 8 inputs: the kill lands across continue-as-new too.
            await runs.submit_batch(
                "killed",
                inputs,
                concurrency=10,
                template=_template(),
                task_timeout=2,
                runs_per_history=8,
            )
            await _wait_until(runs, "killed", 8)
            doomed.kill()
            with anyio.fail_after(40):
                state = await runs.batch("killed").result()
            outcomes = [o async for o in runs.outcomes("killed", range(count))]
    finally:
        doomed.stop()
    assert state.done == count
    assert state.in_flight == ()
    assert sorted(o.index for o in outcomes) == list(range(count))
    _check_each_input_started_at_most_once(emulator, count)
    for outcome in outcomes:  # a run, or a start the killed worker may have sent: never lost
        assert outcome.ok or outcome.error_type == "RunMayHaveStarted", outcome
    started = emulator.counters.invokes_for_input
    assert all(started({"i": o.index}) == 1 for o in outcomes if o.ok)


@pytest.mark.asyncio
async def test_the_server_restarted_with_its_database_mid_batch_finishes_it(
    tmp_path: Path, queue: str, emulator_server: LoopbackServer
) -> None:
    server = DevServer(tmp_path / "restart.db").start()
    count = 20
    try:
        async with in_process_worker(server.address, emulator_server, queue) as runs:
            inputs = [{"i": i} for i in range(count)]
            # A start in flight while the server is down reports its answer once the server
            # is back, if its start_timeout has not passed meanwhile (a restart on a busy
            # machine took more than the 3 s the kill test uses).
            await runs.submit_batch(
                "restarted", inputs, concurrency=5, template=_template(30.0), task_timeout=2
            )
            await _wait_until(runs, "restarted", 5)
            server.stop()
            server.start()  # the same port and database file
            with anyio.fail_after(40):
                state = await runs.batch("restarted").result()
            outcomes = [o async for o in runs.outcomes("restarted", range(count))]
    finally:
        server.stop()
    assert state.done == count
    assert all(outcome.ok for outcome in outcomes), [o for o in outcomes if not o.ok]
    _check_each_input_started_at_most_once(emulator_server.emulator, count)


@pytest.mark.asyncio
async def test_the_cli_submits_follows_and_resumes_a_batch_by_its_id(
    temporal_address: str, queue: str, emulator_server: LoopbackServer, tmp_path: Path
) -> None:
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text('{"i": 0}\n{"i": 1}\nnot json\n{"i": 2}\n')
    out = tmp_path / "results.jsonl"
    command = [
        sys.executable, "-m", "flowinvoke.cli", "batch", str(inputs), "--out", str(out),
        "--engine", "temporal", "--temporal-address", temporal_address,
        "--task-queue", queue, "--batch-id", "cli-batch",
    ]  # fmt: skip
    async with in_process_worker(temporal_address, emulator_server, queue):
        with anyio.fail_after(60):
            first = await anyio.run_process(command, check=False)
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        # Following it again writes nothing new and starts nothing.
        with anyio.fail_after(60):
            again = await anyio.run_process([*command, "--resume"], check=False)
    assert first.returncode == 1, first.stderr  # the bad line is an error line
    assert sorted(line["index"] for line in lines) == [0, 1, 2, 3], first.stderr
    by_index = {line["index"]: line for line in lines}
    assert by_index[2]["error"]["type"] == "InvalidInput"
    assert by_index[3]["status"] == "SUCCEEDED" and by_index[3]["output"] == {"echo": {"i": 2}}
    assert again.returncode == 0, again.stderr
    assert len(out.read_text().splitlines()) == 4
    assert emulator_server.emulator.counters.total_invokes == 3
    assert b"cli-batch" in first.stderr


def test_the_worker_command_needs_an_address_and_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TEMPORAL_ADDRESS", "API_KEY", "BASE_URL"):
        monkeypatch.delenv(f"FLOWINVOKE_{name}", raising=False)
    runner = CliRunner()
    no_address = runner.invoke(
        cli, ["worker", "--base-url", "http://127.0.0.1:1"], env={"FLOWINVOKE_API_KEY": KEY}
    )
    assert no_address.exit_code == 2
    assert "FLOWINVOKE_TEMPORAL_ADDRESS" in no_address.stderr
    no_key = runner.invoke(cli, ["worker", "--temporal-address", "127.0.0.1:1"])
    assert no_key.exit_code == 2
    assert "FLOWINVOKE_API_KEY" in no_key.stderr
    assert KEY not in no_address.output + no_address.stderr
