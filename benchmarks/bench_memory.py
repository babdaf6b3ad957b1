"""Benchmark 4: memory of 10,000 concurrent `wait`s on runs that do not finish.

In a fresh child process (so that `ru_maxrss` is this benchmark's alone): 10,000 async
invokes of a workflow that runs for an hour, then 10,000 `AsyncClient.wait` tasks at once,
left polling on the default schedule for a few seconds, then all cancelled. Resident memory
is sampled from /proc/self/statm every 0.1 s and `ru_maxrss` is read at each stage.

Two children: the client's process alone (a plain `AsyncClient` against the emulator
served by `emulator_server.py` in another process, over loopback), and one with the
in-process emulator (`Emulator.async_client`, httpx `MockTransport`, no sockets), whose
10,000 run records are counted too (between "client built" and "after invokes").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import (
    HERE,
    PYCACHE,
    ROOT,
    BenchResult,
    Goal,
    Table,
    emit,
    last_json_line,
    server_process,
)

NAME = "memory"
WAITS = 10_000
GOAL_MB = 100
WORKFLOW = "bench-pending"  # served by emulator_server.py too: runs last an hour
API_KEY = "bench-key-pending"
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float:
    """Current resident set size in MiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * _PAGE / 2**20


def max_rss_mb() -> float:
    """`ru_maxrss` in MiB (Linux reports KiB).

    On Linux it carries over from the parent across fork and exec, so a child started by a
    big parent starts at the parent's size: `peak_rss_mb` is the process's own.
    """
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_mb() -> float:
    """This process's own peak RSS in MiB (`VmHWM`, reset by exec); else `ru_maxrss`."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return max_rss_mb()


def _queries(emulator: Any) -> int:
    """Queries the in-process emulator answered so far (-1: the server counts them)."""
    return -1 if emulator is None else int(emulator.counters.requests_by_operation["query"])


def _stage(stages: dict[str, list[float]], name: str) -> None:
    stages[name] = [peak_rss_mb(), max_rss_mb()]


async def child(waits: int, seconds: float, base_url: str | None) -> dict[str, Any]:
    """Invoke `waits` runs, wait on all of them for `seconds`, cancel; report memory.

    With `base_url`, the runs are the emulator server's (another process, over loopback):
    this process holds the client alone. Without, an in-process emulator serves them.
    """
    stages: dict[str, list[float]] = {}
    if base_url is None:
        from flowinvoke.testing import Emulator, Workflow

        _stage(stages, "imports")
        emulator = Emulator([Workflow(id=WORKFLOW, api_key=API_KEY, duration=3600.0)])
        client = emulator.async_client(WORKFLOW)
    else:
        from flowinvoke import AsyncClient

        _stage(stages, "imports")
        emulator = None
        client = AsyncClient(provider="gptbots", api_key=API_KEY, base_url=base_url)
    await client.invoke({"warm": True}, async_mode=True)
    _stage(stages, "client built")

    runs = []
    for start in range(0, waits, 500):
        chunk = range(start, min(start + 500, waits))
        runs += await asyncio.gather(*(client.invoke({"item": i}, async_mode=True) for i in chunk))
    _stage(stages, "after invokes")
    before_waits = rss_mb()

    samples: list[float] = []
    queries_before = _queries(emulator)
    tasks = [asyncio.ensure_future(client.wait(run, timeout=3600.0)) for run in runs]
    del runs
    await asyncio.sleep(0.05)  # every wait has reached its first sleep (the first is 0.2 s)
    _stage(stages, "waits sleeping")
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        samples.append(rss_mb())
        await asyncio.sleep(0.1)
    _stage(stages, "waits polling")
    queries = _queries(emulator) - queries_before
    pending = sum(1 for task in tasks if not task.done())
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks)
    cancelled = sum(task.cancelled() for task in tasks)
    other = len(tasks) - cancelled
    del tasks
    await client.aclose()
    _stage(stages, "after cancel")
    return {
        "waits": waits,
        "seconds": seconds,
        "stages": stages,
        "rss_before_waits": before_waits,
        "rss_peak_sampled": max(samples, default=before_waits),
        "queries_during_waits": queries,
        "still_waiting_at_end": pending,
        "cancelled_cleanly": cancelled,
        "other_outcomes": other,
    }


def _run_child(waits: int, seconds: float, base_url: str | None) -> dict[str, Any]:
    command = [
        sys.executable,
        str(HERE / "bench_memory.py"),
        "--child",
        "--seconds",
        str(seconds),
        "--waits",
        str(waits),
    ]
    if base_url is not None:
        command += ["--base-url", base_url]
    # Bytecode cached as for an installed package (compiling from source inflates the peak).
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    done = subprocess.run(command, capture_output=True, check=True, cwd=ROOT, timeout=300, env=env)
    return last_json_line(done.stdout)


def _table(title: str, report: dict[str, Any], notes: list[str]) -> Table:
    waits, seconds = report["waits"], report["seconds"]
    stages: dict[str, list[float]] = report["stages"]
    queries = report["queries_during_waits"]
    table = Table(
        title,
        ["stage", "peak RSS so far (VmHWM)", "ru_maxrss"],
        notes=[
            f"waits polled for {seconds:g} s and sent {queries:,} queries; "
            f"{report['still_waiting_at_end']:,} were still waiting when cancelled, "
            f"{report['cancelled_cleanly']:,} ended with CancelledError, "
            f"{report['other_outcomes']} otherwise",
            f"RSS sampled every 0.1 s: {report['rss_before_waits']:.1f} MiB before the waits, "
            f"{report['rss_peak_sampled']:.1f} MiB at most while they polled",
            *notes,
            "waits sleeping: every wait started and asleep before its first query",
        ],
    )
    for stage, (own, inherited) in stages.items():
        table.rows.append([stage, f"{own:.1f} MiB", f"{inherited:.1f} MiB"])
    base = stages["after invokes"][0]
    for label, stage in (("asleep", "waits sleeping"), ("polling", "waits polling")):
        per_wait = (stages[stage][0] - base) * 1024 / waits
        table.rows.append(
            [f"per wait, {label} ({stage} - after invokes)", f"{per_wait:.1f} KiB", ""]
        )
    return table


def _peak(report: dict[str, Any]) -> float:
    """The process's own peak RSS in MiB, the cancellation included."""
    return max(own for own, _ in report["stages"].values())


def run(*, quick: bool = False) -> BenchResult:
    """Run both children (server in another process; emulator in-process); tabulate."""
    seconds = 1.0 if quick else 5.0
    waits = 2000 if quick else WAITS
    emit(f"[{NAME}] {waits} concurrent waits for {seconds:g} s (child processes)")
    with server_process("emulator_server.py") as server:
        alone = _run_child(waits, seconds, server.base_url)
    alone["queries_during_waits"] = last_json_line(server.output)["by_operation"]["query"]
    shared = _run_child(waits, seconds, None)
    inherited = (
        "VmHWM is this process's own peak; Linux carries ru_maxrss over from the parent "
        "across fork and exec, so in a full run it starts at run.py's own size"
    )
    tables = [
        _table(
            f"Memory: {waits:,} concurrent waits on unfinished runs, the client's process "
            "(emulator server in another process, loopback)",
            alone,
            [
                "the client as a user builds it: `AsyncClient(provider=..., base_url=...)`, "
                "httpx's own transport, default limits",
                "queries: counted by the server, the warm-up's included",
                inherited,
            ],
        ),
        _table(
            f"Memory: {waits:,} concurrent waits on unfinished runs, one process with the "
            "in-process emulator",
            shared,
            [
                f"the emulator's {waits:,} run records live in this process and are included",
                inherited,
            ],
        ),
    ]
    # The goal is for 10,000 waits: a quick run (fewer) reports memory but judges nothing.
    goals = []
    if waits == WAITS:
        for where, report in (("the client's process", alone), ("with the emulator", shared)):
            peak = _peak(report)
            polling = report["stages"]["waits polling"][0]
            goals.append(
                Goal(
                    f"peak RSS with {waits:,} concurrent waits, {where}",
                    f"<= {GOAL_MB} MB",
                    f"{peak * 2**20 / 1e6:.0f} MB = {peak:.1f} MiB with the cancellation "
                    f"({polling * 2**20 / 1e6:.0f} MB while polling)",
                    peak * 2**20 <= GOAL_MB * 1e6,
                )
            )
    return BenchResult(NAME, tables, goals, {"client_process": alone, "in_process": shared})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", action="store_true", help="measure (in this process)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--waits", type=int, default=WAITS)
    parser.add_argument("--base-url", help="the emulator server's URL (default: in-process)")
    options = parser.parse_args()
    if options.child:
        result = asyncio.run(child(options.waits, options.seconds, options.base_url))
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        emit(run(quick=True).markdown())
