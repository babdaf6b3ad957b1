"""Benchmark: the client-wide waiter at scale, and waits that share a run id.

1. 100,000 concurrent waits in one process (`--quick`: 10,000), every one to its result:
   a fresh child process with the in-process emulator (`Emulator.async_client`, no
   sockets), whose run records are in the process too. Each run is started and its wait
   begun at once, in chunks of 1,000; the runs last 90 s (`--quick`: 30 s), longer than
   it takes to start them all, so every wait is in the schedule at once (`most waiting`
   says so). A fixed schedule queries each run once, just past its end (at 101 % to
   109 % of the duration). Peak RSS is the child's own (`VmHWM`).
2. 100 waits on the same run id against one wait on a run started with it (a 10 s run,
   the default schedule without jitter): the queries the emulator counts for each run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import HERE, PYCACHE, ROOT, BenchResult, Goal, Table, emit, last_json_line

NAME = "waiter"
GOAL_MB = 500
SHARED_WAITS = 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * _PAGE / 2**20


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return rss_mb()


async def child(waits: int, duration: float) -> dict[str, Any]:
    """Start `waits` runs of `duration` s and wait for each; report memory and outcomes."""
    from flowinvoke import PollPolicy
    from flowinvoke.testing import Emulator, Workflow

    stages: dict[str, float] = {"imports": peak_rss_mb()}
    emulator = Emulator(
        [Workflow(id="bench-waiter", api_key="bench-key-waiter", duration=duration)]
    )
    # One query per wait, just past its run's end (101 % to 109 % of the duration).
    every = duration * 1.05
    poll = PollPolicy(initial_delay=every, multiplier=1.0, max_interval=every, jitter=0.04)
    client = emulator.async_client("bench-waiter", poll=poll)
    await client.invoke({"warm": True}, async_mode=True)
    stages["client built"] = peak_rss_mb()
    waiting = most = succeeded = other = 0
    samples: list[float] = []

    async def wait(run: Any) -> None:
        nonlocal waiting, most, succeeded, other
        waiting += 1
        most = max(most, waiting)
        try:
            result = await client.wait(run)
        except Exception:  # counted: every wait is to finish with its result
            other += 1
        else:
            succeeded += result.succeeded
            other += not result.succeeded
        finally:
            waiting -= 1

    async def sample() -> None:
        while True:
            samples.append(rss_mb())
            await asyncio.sleep(0.5)

    sampler = asyncio.ensure_future(sample())
    started = time.perf_counter()
    tasks: list[asyncio.Future[None]] = []
    for first in range(0, waits, 1000):
        chunk = range(first, min(first + 1000, waits))
        runs = await asyncio.gather(*(client.invoke({"item": i}, async_mode=True) for i in chunk))
        tasks += [asyncio.ensure_future(wait(run)) for run in runs]
        del runs
    start_seconds = time.perf_counter() - started
    await asyncio.sleep(0)
    stages["all started"] = peak_rss_mb()
    await asyncio.gather(*tasks)
    sampler.cancel()
    stages["all finished"] = peak_rss_mb()
    await client.aclose()
    queries = int(emulator.counters.requests_by_operation["query"])
    return {
        "waits": waits,
        "duration": duration,
        "stages": stages,
        "rss_sampled_max": max(samples, default=0.0),
        "start_seconds": start_seconds,
        "total_seconds": time.perf_counter() - started,
        "most_waiting": most,
        "succeeded": succeeded,
        "other_outcomes": other,
        "queries": queries,
    }


def _run_child(waits: int, duration: float) -> dict[str, Any]:
    command = [
        sys.executable,
        str(HERE / "bench_waiter.py"),
        "--child",
        "--waits",
        str(waits),
        "--duration",
        str(duration),
    ]
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    done = subprocess.run(command, capture_output=True, check=True, cwd=ROOT, timeout=1800, env=env)
    return last_json_line(done.stdout)


async def shared_run_id(waits: int) -> dict[str, int]:
    """Queries of one run followed by `waits` waits, and of one followed by a single wait."""
    import anyio

    from flowinvoke import PollPolicy
    from flowinvoke.testing import Emulator, Workflow

    emulator = Emulator([Workflow(id="bench-shared", api_key="bench-key-shared", duration=10.0)])
    poll = PollPolicy(jitter=0)
    async with emulator.async_client("bench-shared", poll=poll) as client:
        shared = await client.invoke({"n": 1}, async_mode=True)
        alone = await client.invoke({"n": 2}, async_mode=True)
        assert shared.id is not None
        assert alone.id is not None
        finished: list[bool] = []

        async def wait(run_id: str) -> None:
            finished.append((await client.wait(run_id)).succeeded)

        async with anyio.create_task_group() as group:
            group.start_soon(client.wait, alone.id)
            for _ in range(waits):
                group.start_soon(wait, shared.id)
    queries = emulator.counters.queries
    return {
        "waits": waits,
        "shared_queries": queries[shared.id],
        "alone_queries": queries[alone.id],
        "succeeded": sum(finished),
    }


def run(*, quick: bool = False) -> BenchResult:
    waits, duration = (10_000, 30.0) if quick else (100_000, 90.0)
    emit(f"[{NAME}] {waits:,} concurrent waits of {duration:g} s runs in one process")
    report = _run_child(waits, duration)
    emit(f"[{NAME}] {SHARED_WAITS} waits on one run id")
    shared = asyncio.run(shared_run_id(SHARED_WAITS))
    stages: dict[str, float] = report["stages"]
    peak = max(stages.values())
    big = Table(
        f"Waiter: {waits:,} concurrent waits in one process, each to its result "
        "(in-process emulator)",
        ["stage", "peak RSS so far (VmHWM)"],
        rows=[[stage, f"{value:.1f} MiB"] for stage, value in stages.items()],
        notes=[
            f"runs of {duration:g} s, started in chunks of 1,000 with each wait begun at "
            f"once; starting them all took {report['start_seconds']:.1f} s, the whole "
            f"{report['total_seconds']:.1f} s",
            f"at most {report['most_waiting']:,} waits at once; {report['succeeded']:,} "
            f"ended with their succeeded run, {report['other_outcomes']} otherwise; "
            f"{report['queries']:,} queries",
            "the emulator's run records are in the same process and included; tracing as "
            "installed (spans on when opentelemetry-api is)",
        ],
    )
    same = Table(
        f"Waiter: {SHARED_WAITS} waits on one run id",
        ["run", "waits", "queries the emulator counted"],
        rows=[
            ["shared", str(SHARED_WAITS), str(shared["shared_queries"])],
            ["alone", "1", str(shared["alone_queries"])],
        ],
        notes=[
            "two 10 s runs started together, the default schedule without jitter; "
            f"{shared['succeeded']} of the {SHARED_WAITS} shared waits ended succeeded"
        ],
    )
    goals = [
        Goal(
            f"{SHARED_WAITS} waits on the same run id",
            "the queries of one wait",
            f"{shared['shared_queries']} against {shared['alone_queries']}",
            shared["shared_queries"] <= shared["alone_queries"]
            and shared["succeeded"] == SHARED_WAITS,
        )
    ]
    if not quick:
        goals.append(
            Goal(
                f"peak RSS with {waits:,} concurrent waits in one process, each to its result",
                f"<= {GOAL_MB} MB",
                f"{peak * 2**20 / 1e6:.0f} MB = {peak:.1f} MiB; {report['succeeded']:,} "
                f"succeeded, {report['most_waiting']:,} at once",
                peak * 2**20 <= GOAL_MB * 1e6
                and report["succeeded"] == waits
                and report["most_waiting"] == waits,
            )
        )
    return BenchResult(NAME, [big, same], goals, {"one_process": report, "shared": shared})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", action="store_true", help="measure (in this process)")
    parser.add_argument("--waits", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=90.0)
    options = parser.parse_args()
    if options.child:
        sys.stdout.write(json.dumps(asyncio.run(child(options.waits, options.duration))) + "\n")
    else:
        emit(run(quick=True).markdown())
