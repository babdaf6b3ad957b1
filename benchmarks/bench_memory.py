"""Benchmark 4: memory of 10,000 concurrent `wait`s on runs that do not finish.

In a fresh child process (so that `ru_maxrss` is this benchmark's alone): an in-process
emulator (`Emulator.async_client`, httpx `MockTransport`, no sockets) with a workflow that
runs for an hour; 10,000 async invokes, then 10,000 `AsyncClient.wait` tasks at once, left
polling on the default schedule for a few seconds, then all cancelled. Resident memory is
sampled from /proc/self/statm every 0.1 s and `ru_maxrss` is read at each stage.

The emulator lives in the same process, so its 10,000 run records are counted too (they
appear between "client built" and "after invokes").
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

from _common import HERE, PYCACHE, ROOT, BenchResult, Goal, Table, emit, last_json_line

NAME = "memory"
WAITS = 10_000
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


def _stage(stages: dict[str, list[float]], name: str) -> None:
    stages[name] = [peak_rss_mb(), max_rss_mb()]


async def child(waits: int, seconds: float) -> dict[str, Any]:
    """Invoke `waits` runs, wait on all of them for `seconds`, cancel; report memory."""
    from flowinvoke.testing import Emulator, Workflow

    stages: dict[str, list[float]] = {}
    _stage(stages, "imports")
    emulator = Emulator([Workflow(id="bench-pending", api_key="bench-key", duration=3600.0)])
    client = emulator.async_client("bench-pending")
    await client.invoke({"warm": True}, async_mode=True)
    _stage(stages, "client built")

    runs = []
    for start in range(0, waits, 500):
        chunk = range(start, min(start + 500, waits))
        runs += await asyncio.gather(*(client.invoke({"item": i}, async_mode=True) for i in chunk))
    _stage(stages, "after invokes")
    before_waits = rss_mb()

    samples: list[float] = []
    queries_before = emulator.counters.requests_by_operation["query"]
    tasks = [asyncio.ensure_future(client.wait(run, timeout=3600.0)) for run in runs]
    del runs
    await asyncio.sleep(0.05)  # every wait has reached its first sleep (the first is 0.2 s)
    _stage(stages, "waits sleeping")
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        samples.append(rss_mb())
        await asyncio.sleep(0.1)
    _stage(stages, "waits polling")
    queries = emulator.counters.requests_by_operation["query"] - queries_before
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


def run(*, quick: bool = False) -> BenchResult:
    """Run the child process and tabulate its report."""
    seconds = 1.0 if quick else 5.0
    waits = 2000 if quick else WAITS
    emit(f"[{NAME}] {waits} concurrent waits for {seconds:g} s (child process)")
    command = [
        sys.executable,
        str(HERE / "bench_memory.py"),
        "--child",
        "--seconds",
        str(seconds),
        "--waits",
        str(waits),
    ]
    # Bytecode cached as for an installed package (compiling from source inflates the peak).
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    done = subprocess.run(command, capture_output=True, check=True, cwd=ROOT, timeout=300, env=env)
    report = last_json_line(done.stdout)
    stages: dict[str, list[float]] = report["stages"]
    peak = stages["waits polling"][0]
    overall = max(own for own, _ in stages.values())
    table = Table(
        f"Memory: {waits:,} concurrent waits on unfinished runs, one process (in-process emulator)",
        ["stage", "peak RSS so far (VmHWM)", "ru_maxrss"],
        notes=[
            f"waits polled for {seconds:g} s and sent {report['queries_during_waits']:,} "
            f"queries; {report['still_waiting_at_end']:,} were still waiting when cancelled, "
            f"{report['cancelled_cleanly']:,} ended with CancelledError, "
            f"{report['other_outcomes']} otherwise",
            f"RSS sampled every 0.1 s: {report['rss_before_waits']:.1f} MiB before the waits, "
            f"{report['rss_peak_sampled']:.1f} MiB at most while they polled",
            f"the emulator's {waits:,} run records live in the same process and are included",
            "waits sleeping: every wait started and asleep before its first query",
            "VmHWM is this process's own peak; Linux carries ru_maxrss over from the parent "
            "across fork and exec, so in a full run it starts at run.py's own size",
        ],
    )
    for stage, (own, inherited) in stages.items():
        table.rows.append([stage, f"{own:.1f} MiB", f"{inherited:.1f} MiB"])
    base = stages["after invokes"][0]
    asleep = (stages["waits sleeping"][0] - base) * 1024 / waits
    polling = (stages["waits polling"][0] - base) * 1024 / waits
    table.rows.append(
        ["per wait, asleep (waits sleeping - after invokes)", f"{asleep:.1f} KiB", ""]
    )
    table.rows.append(
        ["per wait, polling (waits polling - after invokes)", f"{polling:.1f} KiB", ""]
    )
    # The goal is for 10,000 waits: a quick run (fewer) reports memory but judges nothing.
    goals = [
        Goal(
            f"peak RSS with {waits:,} concurrent waits polling",
            "<= 150 MB",
            f"{peak * 2**20 / 1e6:.0f} MB = {peak:.1f} MiB (with the cancellation: "
            f"{overall * 2**20 / 1e6:.0f} MB)",
            overall * 2**20 <= 150e6,
        )
    ]
    if waits != WAITS:
        goals = []
    return BenchResult(NAME, [table], goals, report)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", action="store_true", help="measure (in this process)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--waits", type=int, default=WAITS)
    options = parser.parse_args()
    if options.child:
        result = asyncio.run(child(options.waits, options.seconds))
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        emit(run(quick=True).markdown())
