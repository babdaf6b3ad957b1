"""Benchmark: peak memory of `run(timeout=6)` against a server whose queries are gzip bombs.

In a fresh child process (so that its peak RSS is its own): a plain `AsyncClient` starts a
run on `bomb_server.py` (another process, loopback) and waits 6 s; every query answers 256
MiB of zeros gzipped, which the client cuts at `max_response_bytes` (32 MiB) and retries.
The figure is the peak RSS (VmHWM) above the RSS before the run: each failed attempt's
buffer must be freed with the attempt, not when the garbage collector next runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from _common import HERE, PYCACHE, ROOT, BenchResult, Goal, Table, emit, server_process

NAME = "bomb"
GOAL_MB = 80
TIMEOUT = 6.0
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * _PAGE / 2**20


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def child(base_url: str, timeout: float) -> dict[str, Any]:
    """One `run(timeout=...)` against the bomb server; the memory it took."""
    from flowinvoke import AsyncClient, FlowInvokeError, Hooks, PollPolicy

    queries = 0

    def count(event: Any) -> None:
        nonlocal queries
        queries += event.operation == "query"

    # The fallback-like schedule of a patient wait: first query at 0.2 s, then x1.5.
    poll = PollPolicy(initial_delay=0.2, multiplier=1.5, max_interval=2.0, jitter=0)
    async with AsyncClient(
        provider="gptbots",
        api_key="bench-key",
        base_url=base_url,
        poll=poll,
        hooks=Hooks(on_request=count),
    ) as client:
        baseline = _rss_mb()
        try:
            await client.run({"q": 1}, timeout=timeout)
            outcome = "finished"
        except FlowInvokeError as error:
            outcome = type(error).__name__
    return {
        "baseline": baseline,
        "peak": _peak_mb(),
        "queries": queries,
        "outcome": outcome,
        "timeout": timeout,
    }


def _run_child(base_url: str, timeout: float) -> dict[str, Any]:
    command = [sys.executable, str(HERE / "bench_bomb.py"), "--child", "--base-url", base_url]
    command += ["--timeout", str(timeout)]
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    done = subprocess.run(command, capture_output=True, check=True, cwd=ROOT, timeout=120, env=env)
    return json.loads(done.stdout.decode().strip().splitlines()[-1])  # type: ignore[no-any-return]


def run(*, quick: bool = False) -> BenchResult:
    """Run the child against the bomb server; tabulate and judge the goal."""
    timeout = 3.0 if quick else TIMEOUT
    emit(f"[{NAME}] run(timeout={timeout:g}) against a gzip bomb (child process)")
    with server_process("bomb_server.py") as server:
        report = _run_child(server.base_url, timeout)
    above = report["peak"] - report["baseline"]
    table = Table(
        f"Memory: run(timeout={timeout:g}) against a server whose every query is a gzip bomb",
        ["figure", "value"],
        notes=[
            "bomb: 256 MiB of zeros gzipped to about 250 KiB; max_response_bytes 32 MiB",
            "peak: VmHWM of the child process; baseline: its RSS with the client built",
        ],
    )
    table.rows += [
        ["baseline RSS", f"{report['baseline']:.1f} MiB"],
        ["peak RSS", f"{report['peak']:.1f} MiB"],
        ["peak above baseline", f"{above * 2**20 / 1e6:.0f} MB = {above:.1f} MiB"],
        ["queries sent (each cut at the cap)", str(report["queries"])],
        ["outcome", report["outcome"]],
    ]
    goals = []
    if not quick:
        goals.append(
            Goal(
                f"run(timeout={timeout:g}) against a gzip bomb: peak RSS above baseline",
                f"<= {GOAL_MB} MB",
                f"{above * 2**20 / 1e6:.0f} MB ({report['queries']} queries)",
                above * 2**20 <= GOAL_MB * 1e6,
            )
        )
    return BenchResult(NAME, [table], goals, report)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", action="store_true", help="measure (in this process)")
    parser.add_argument("--base-url")
    parser.add_argument("--timeout", type=float, default=TIMEOUT)
    options = parser.parse_args()
    if options.child:
        result = asyncio.run(child(options.base_url, options.timeout))
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        emit(run(quick=False).markdown())
