"""`flowinvoke batch` as a real process against the emulator on a loopback port: killed with
SIGKILL mid-batch and resumed, it never starts an input twice (except a start whose answer
was on the wire at the kill instant); SIGTERM stops it as Ctrl-C does, with exit 143."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from flowinvoke.testing import Emulator, LoopbackServer, Workflow

pytest.importorskip("uvicorn")

KILL_KEY = "sk-cli-kill-3e71c0"
INPUTS = 30
# Few enough runs at once that starts go out about as often as with the longer runs this
# test had before (a start on the wire at the kill instant may be paid twice: the bound).
CONCURRENCY = 6


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    """A workflow whose runs last half a second, served over TCP (its counters count the
    starts): long enough that a kill finds runs in flight, short enough that five waves of
    runs take seconds."""
    emulator = Emulator([Workflow(id="kill-me", api_key=KILL_KEY, duration=0.5)])
    with LoopbackServer(emulator) as served:
        yield served


def _inputs(path: Path) -> Path:
    path.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(INPUTS)), "utf-8")
    return path


def _start(server: LoopbackServer, inputs: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "FLOWINVOKE_API_KEY": KILL_KEY,
        "FLOWINVOKE_BASE_URL": server.base_url,
        "NO_COLOR": "1",
    }
    command = [sys.executable, "-m", "flowinvoke.cli", "batch", str(inputs), "--out", str(out)]
    command += ["-c", str(CONCURRENCY), *extra]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _journal(out: Path) -> set[int]:
    path = out.with_name(out.name + ".started")
    return {line["index"] for line in _lines(path)} if path.exists() else set()


def _when(condition: Any, process: subprocess.Popen[str], limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the batch made no progress"
        time.sleep(0.01)


def _starts(emulator: Emulator) -> dict[int, int]:
    return {n: emulator.counters.invokes_for_input({"n": n}) for n in range(INPUTS)}


def test_sigkill_then_resume_waits_for_started_runs_instead_of_paying_twice(
    server: LoopbackServer, tmp_path: Path
) -> None:
    inputs, out = _inputs(tmp_path / "in.jsonl"), tmp_path / "out.jsonl"
    # What each kill left: the journal, and how many times each input had been started.
    recorded_at_kills: list[tuple[set[int], dict[int, int]]] = []
    for attempt in range(2):
        process = _start(server, inputs, out, *(["--resume"] if attempt else []))
        finished_before = len(_lines(out))
        # Kill with runs in flight: some results written and every answered start recorded
        # (the emulator's count of starts equals the journal's lines, so at most a start or
        # two can be on the wire at the kill instant).
        _when(partial(_ready_to_kill, server, out, finished_before + 5), process)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        recorded_at_kills.append((_journal(out), _starts(server.emulator)))
    in_flight = recorded_at_kills[-1][0] - _done(out)
    assert in_flight, "the kill should have left runs in flight"

    process = _start(server, inputs, out, "--resume")
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    lines = _lines(out)
    assert sorted(line["index"] for line in lines) == list(range(INPUTS))
    assert all(line["status"] == "SUCCEEDED" for line in lines)

    final = _starts(server.emulator)
    twice = {n for n, starts in final.items() if starts > 1}
    for recorded, starts_then in recorded_at_kills:
        # A run recorded at a kill is never started after it (one on the wire at an earlier
        # kill may have been started twice before it was recorded: that is the bound below).
        again = {n for n in recorded if final[n] > starts_then[n]}
        assert not again, f"recorded runs started again instead of waited for: {again}"
    assert len(twice) <= 2 * 2, f"started twice: {sorted(twice)}"  # a start or two per kill
    assert not out.with_name(out.name + ".started").exists()  # done: the journal is gone


def _ready_to_kill(server: LoopbackServer, out: Path, results: int) -> bool:
    # Inputs, not starts: a start on the wire at an earlier kill was started once more since,
    # and counting starts would then never match the journal again.
    started = sum(1 for count in _starts(server.emulator).values() if count)
    return len(_lines(out)) >= results and started == len(_journal(out) | _done(out))


def _done(out: Path) -> set[int]:
    return {line["index"] for line in _lines(out)}


def test_sigterm_stops_like_ctrl_c_with_143_and_resume_completes(
    server: LoopbackServer, tmp_path: Path
) -> None:
    inputs, out = _inputs(tmp_path / "in.jsonl"), tmp_path / "out.jsonl"
    process = _start(server, inputs, out)
    _when(lambda: len(_lines(out)) >= 3, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "terminated:" in stderr
    assert "--resume" in stderr
    assert "Traceback" not in stderr
    assert out.read_bytes().endswith(b"\n")  # every line whole

    process = _start(server, inputs, out, "--resume")
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert sorted(line["index"] for line in _lines(out)) == list(range(INPUTS))
    assert max(_starts(server.emulator).values()) == 1  # the stopped runs were waited for
