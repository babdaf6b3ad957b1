"""Benchmark 2: a batch of runs, each with 2 s of server time, many in flight at once.

`AsyncClient.run_many(inputs, concurrency=250)` against the flowinvoke emulator served by
uvicorn in a subprocess (`emulator_server.py`, workflow `bench-2s`: an async start answers
PENDING at once, the run is RUNNING for 2 s of wall time, then SUCCEED). The client uses its
defaults otherwise (connection pool of `DEFAULT_MAX_CONNECTIONS`, the default poll schedule).

The ideal wall time is runs / concurrency x 2 s: every slot busy with a run all the time,
and each run seen finished the moment it ends. Requests are counted by the emulator itself
(its counters, printed by the server process when it stops).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from _common import BenchResult, Goal, Table, emit, last_json_line, server_process

from flowinvoke import DEFAULT_MAX_CONNECTIONS, AsyncClient

NAME = "batch"
RUN_SECONDS = 2.0
API_KEY = "bench-key-2s"


@dataclass
class BatchOutcome:
    """One batch: its size, its timings, what was sent and what went wrong."""

    transport: str
    runs: int
    concurrency: int
    wall: float
    ideal: float
    client_cpu: float
    server_cpu: float
    requests: int
    invokes: int
    queries: int
    errors: int
    error_kinds: dict[str, int]


async def _batch(
    base_url: str, fast: bool, runs: int, concurrency: int
) -> tuple[float, float, dict[str, int]]:
    client = AsyncClient(
        provider="gptbots", api_key=API_KEY, base_url=base_url, fast_transport=fast
    )
    inputs = [{"item": index} for index in range(runs)]
    kinds: dict[str, int] = {}
    async with client:
        cpu_before = time.process_time()
        started = time.perf_counter()
        items = await asyncio.wait_for(
            client.run_many(inputs, concurrency=concurrency, timeout=120.0), timeout=300.0
        )
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
    for item in items:
        if not item.ok:
            name = type(item.error).__name__ if item.error else "not succeeded"
            kinds[name] = kinds.get(name, 0) + 1
    return wall, cpu, kinds


def measure(fast: bool, runs: int, concurrency: int) -> BatchOutcome:
    """One batch against a fresh emulator process (so its counters are this batch's)."""
    with server_process("emulator_server.py") as server:
        server_before = server.cpu()
        wall, cpu, kinds = asyncio.run(_batch(server.base_url, fast, runs, concurrency))
        server_cpu = server.cpu() - server_before
    counters = last_json_line(server.output)
    by_operation = counters.get("by_operation", {})
    return BatchOutcome(
        transport="fast (httpx over aiohttp)" if fast else "own (httpx)",
        runs=runs,
        concurrency=concurrency,
        wall=wall,
        ideal=runs / concurrency * RUN_SECONDS,
        client_cpu=cpu,
        server_cpu=server_cpu,
        requests=int(counters.get("requests", -1)),
        invokes=int(by_operation.get("invoke", -1)),
        queries=int(by_operation.get("query", -1)),
        errors=sum(kinds.values()),
        error_kinds=kinds,
    )


def run(*, quick: bool = False) -> BenchResult:
    """The batch on the fast transport, then on httpx's own."""
    runs, concurrency = (100, 100) if quick else (2000, 250)
    outcomes: list[BatchOutcome] = []
    for fast in (True, False):
        emit(f"[{NAME}] {runs} runs x {RUN_SECONDS:g} s at {concurrency} in flight, fast={fast}")
        outcomes.append(measure(fast, runs, concurrency))
    table = Table(
        f"Batch: {runs} runs x {RUN_SECONDS:g} s server time, {concurrency} in flight "
        "(emulator under uvicorn, separate process)",
        [
            "transport",
            "wall",
            "ideal",
            "wall / ideal",
            "client CPU",
            "server CPU",
            "requests (invoke + query)",
            "queries / run",
            "errors",
        ],
        notes=[
            f"client: AsyncClient defaults (max_connections={DEFAULT_MAX_CONNECTIONS}, "
            "default PollPolicy), `run_many(..., concurrency=N)`",
            "requests are the emulator's own counters; CPU is seconds over the whole batch",
        ],
    )
    for outcome in outcomes:
        table.rows.append(
            [
                outcome.transport,
                f"{outcome.wall:.1f} s",
                f"{outcome.ideal:.1f} s",
                f"{outcome.wall / outcome.ideal:.2f} x",
                f"{outcome.client_cpu:.1f} s",
                f"{outcome.server_cpu:.1f} s",
                f"{outcome.requests} ({outcome.invokes} + {outcome.queries})",
                f"{outcome.queries / outcome.runs:.1f}",
                str(outcome.errors) + (f" ({outcome.error_kinds})" if outcome.error_kinds else ""),
            ]
        )
    on_fast = outcomes[0]
    goals = [
        Goal(
            f"batch of {runs} x {RUN_SECONDS:g} s at {concurrency} in flight, fast transport",
            "<= 1.3 x ideal, 0 errors",
            f"{on_fast.wall / on_fast.ideal:.2f} x, {on_fast.errors} errors",
            on_fast.wall <= 1.3 * on_fast.ideal and on_fast.errors == 0,
        )
    ]
    return BenchResult(NAME, [table], goals, {"outcomes": [vars(o) for o in outcomes]})


if __name__ == "__main__":
    emit(run(quick=True).markdown())
