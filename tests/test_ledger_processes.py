"""The ledger across real processes: two processes racing for the same keys start each
once (SQLite and PostgreSQL), and a process SIGKILLed while it waits loses nothing: a new
process's resume() finishes every run, with no extra start. The emulator, on a loopback
port in this process, counts the starts per input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowinvoke.ledger import open_ledger
from flowinvoke.testing import Emulator, LoopbackServer, Workflow

pytest.importorskip("uvicorn")

API_KEY = "sk-ledger-procs-51c2"
WORKER = str(Path(__file__).with_name("ledger_worker.py"))


def serve(duration: float) -> Iterator[tuple[Emulator, LoopbackServer]]:
    emulator = Emulator([Workflow(id="wf-procs", api_key=API_KEY, duration=duration)])
    with LoopbackServer(emulator) as served:
        yield emulator, served


@pytest.fixture
def quick() -> Iterator[tuple[Emulator, LoopbackServer]]:
    yield from serve(0.2)


@pytest.fixture
def slow() -> Iterator[tuple[Emulator, LoopbackServer]]:
    yield from serve(3.0)


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "runs.db")
    return str(request.getfixturevalue("postgres_url"))


def worker(mode: str, ledger: str, server: LoopbackServer, count: int, concurrency: int) -> Any:
    command = [sys.executable, WORKER, mode, ledger, server.base_url, API_KEY]
    command += [str(count), str(concurrency)]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )


def lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_two_processes_racing_for_the_same_keys_start_each_once(
    quick: tuple[Emulator, LoopbackServer], ledger_target: str
) -> None:
    emulator, server = quick
    count = 150
    open_ledger(ledger_target).close()  # the schema first, as a deployment would
    processes = [worker("race", ledger_target, server, count, 50) for _ in range(2)]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    results = [{line["n"]: line for line in lines(out)} for out, _ in outputs]
    for result in results:
        assert sorted(result) == list(range(count))
        assert all(line["error"] is None for line in result.values())
    assert all(results[0][n]["run_id"] == results[1][n]["run_id"] for n in range(count))
    assert emulator.counters.invokes["wf-procs"] == count
    assert set(emulator.counters.invokes_by_input.values()) == {1}


def test_a_killed_process_loses_no_wait_and_resume_starts_nothing_again(
    slow: tuple[Emulator, LoopbackServer], tmp_path: Path
) -> None:
    emulator, server = slow
    count, ledger = 200, str(tmp_path / "runs.db")
    process = worker("start", ledger, server, count, count)
    assert process.stdout is not None
    started = 0
    deadline = time.monotonic() + 60
    while started < count and time.monotonic() < deadline:
        if process.stdout.readline().startswith("started"):
            started += 1
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert started == count
    # Runs that ended before the kill (a slow, busy machine) are recorded done; the rest
    # were being waited for and are pending.
    pending = len(open_ledger(ledger).pending())
    assert pending > 0

    resumer = worker("resume", ledger, server, count, count)
    out, err = resumer.communicate(timeout=120)
    assert resumer.returncode == 0, err
    finished = lines(out)
    assert len(finished) == pending
    assert {line["status"] for line in finished} == {"SUCCEEDED"}
    assert emulator.counters.invokes["wf-procs"] == count
    assert set(emulator.counters.invokes_by_input.values()) == {1}
    assert open_ledger(ledger).pending() == []
