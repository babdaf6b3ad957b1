"""Benchmark 1: client CPU per request and requests/s, flowinvoke against raw clients.

Four clients send the same request, a GPTBots query (`POST /v1/workflow/query/result` with
`{"workflowRunId": ...}` and a bearer key) answered by a finished run's JSON body, and each
parses the JSON:

- flowinvoke `AsyncClient.get_run` on httpx's own transport (`fast_transport=False`),
- flowinvoke `AsyncClient.get_run` on httpx over aiohttp (`fast_transport=True`),
- a raw `httpx.AsyncClient.post` + `.json()`,
- a raw `aiohttp.ClientSession.post` + `.json()`.

Concurrency N means N tasks, each sending its next request as soon as the previous one is
answered, on a client whose pool holds N connections. Each cell warms up (every connection
open), then runs for a fixed wall time; client CPU is `time.process_time()` of this process,
server CPU is read from the server process (a separate process, not counted as client CPU).

Two servers, each in a subprocess: the stdlib asyncio server of `stdlib_server.py` (fixed
answer: measures the clients) and the flowinvoke emulator under uvicorn
(`emulator_server.py`: measures the emulator's own CPU per request as well).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from _common import (
    BenchResult,
    Goal,
    ServerProcess,
    Table,
    emit,
    ms,
    server_process,
)

from flowinvoke import AsyncClient

NAME = "client_cpu"
CLIENTS = ("flowinvoke", "flowinvoke-fast", "httpx", "aiohttp")
LABELS = {
    "flowinvoke": "flowinvoke, own transport",
    "flowinvoke-fast": "flowinvoke, fast (httpx over aiohttp)",
    "httpx": "raw httpx.AsyncClient",
    "aiohttp": "raw aiohttp.ClientSession",
}
CONCURRENCIES = (1, 10, 100)
QUERY_PATH = "/v1/workflow/query/result"
STDLIB_KEY = "bench-key"
STDLIB_RUN_ID = "00000001-a1b2-4c3d-e4f5-a6b7c8d9e0f0000001"
EMULATOR_KEY = "bench-key-instant"

Send = Callable[[], Awaitable[None]]
Close = Callable[[], Awaitable[None]]


@dataclass
class Cell:
    """One measurement: a client at a concurrency against a server."""

    client: str
    concurrency: int
    requests: int
    errors: int
    wall: float
    client_cpu: float
    server_cpu: float

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.wall if self.wall else 0.0

    @property
    def cpu_per_request(self) -> float:
        """Client CPU seconds per request."""
        return self.client_cpu / self.requests if self.requests else float("inf")

    @property
    def server_cpu_per_request(self) -> float:
        """Server CPU seconds per request."""
        return self.server_cpu / self.requests if self.requests else float("inf")


async def make_client(
    kind: str, base_url: str, api_key: str, run_id: str, connections: int
) -> tuple[Send, Close]:
    """A zero-argument coroutine function sending one query, and one closing the client."""
    url = base_url + QUERY_PATH
    body = {"workflowRunId": run_id}
    headers = {"Authorization": f"Bearer {api_key}"}
    if kind in ("flowinvoke", "flowinvoke-fast"):
        client = AsyncClient(
            provider="gptbots",
            api_key=api_key,
            base_url=base_url,
            max_connections=connections,
            fast_transport=kind == "flowinvoke-fast",
        )

        async def send_flowinvoke() -> None:
            run = await client.get_run(run_id)
            if not run.done:
                raise RuntimeError(run.raw_status)

        return send_flowinvoke, client.aclose
    if kind == "httpx":
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        http = httpx.AsyncClient(limits=limits)

        async def send_httpx() -> None:
            response = await http.post(url, json=body, headers=headers)
            response.raise_for_status()
            if response.json()["status"] != "SUCCEED":
                raise RuntimeError(response.text)

        return send_httpx, http.aclose
    if kind == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections))

        async def send_aiohttp() -> None:
            async with session.post(url, json=body, headers=headers) as response:
                response.raise_for_status()
                data: Any = await response.json()
            if data["status"] != "SUCCEED":
                raise RuntimeError(str(data))

        return send_aiohttp, session.close
    raise ValueError(kind)


async def measure(
    server: ServerProcess,
    kind: str,
    concurrency: int,
    seconds: float,
    api_key: str,
    run_id: str,
    warmups: int = 3,
) -> Cell:
    """Warm up, then run `concurrency` request loops for `seconds` of wall time."""
    send, close = await make_client(kind, server.base_url, api_key, run_id, concurrency)
    errors = 0
    try:
        # Warm-up: open every connection and run each code path a few times.
        for _ in range(warmups):
            await asyncio.gather(*(send() for _ in range(concurrency)))
        counts = [0] * concurrency
        stop_at = 0.0

        async def loop(slot: int) -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                try:
                    await send()
                except Exception:
                    errors += 1
                counts[slot] += 1

        gc.collect()
        server_before = server.cpu()
        cpu_before = time.process_time()
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*(loop(slot) for slot in range(concurrency)))
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
        server_cpu = server.cpu() - server_before
    finally:
        await close()
    return Cell(kind, concurrency, sum(counts), errors, wall, cpu, server_cpu)


def _instant_run_id(base_url: str) -> str:
    """Start one run of the emulator's `bench-instant` workflow; return its id."""
    response = httpx.post(
        base_url + "/v1/workflow/invoke",
        json={"input": {"topic": "benchmark"}},
        headers={"Authorization": f"Bearer {EMULATOR_KEY}"},
    )
    response.raise_for_status()
    return str(response.json()["workflowRunId"])


def sweep(
    server: ServerProcess,
    api_key: str,
    run_id: str,
    seconds: float,
    rounds: int,
    warmups: int,
    concurrencies: tuple[int, ...] = CONCURRENCIES,
) -> dict[tuple[str, int], Cell]:
    """Every client at every concurrency; with several rounds, the lowest CPU/request wins.

    Rounds go client by client in turn, so slow drift of the machine hits every client alike.
    """
    best: dict[tuple[str, int], Cell] = {}
    for _ in range(rounds):
        for concurrency in concurrencies:
            for kind in CLIENTS:
                cell = asyncio.run(
                    measure(server, kind, concurrency, seconds, api_key, run_id, warmups)
                )
                key = (kind, concurrency)
                if key not in best or cell.cpu_per_request < best[key].cpu_per_request:
                    best[key] = cell
    return best


def _table(title: str, cells: dict[tuple[str, int], Cell], notes: list[str]) -> Table:
    table = Table(
        title,
        [
            "client",
            "concurrency",
            "requests",
            "requests/s",
            "client CPU / request",
            "vs raw httpx",
            "client CPU use",
            "server CPU / request",
            "errors",
        ],
        notes=notes,
    )
    for concurrency in sorted({concurrency for _, concurrency in cells}):
        httpx_cpu = cells[("httpx", concurrency)].cpu_per_request
        for kind in CLIENTS:
            cell = cells[(kind, concurrency)]
            table.rows.append(
                [
                    LABELS[kind],
                    str(concurrency),
                    str(cell.requests),
                    f"{cell.rate:,.0f}",
                    ms(cell.cpu_per_request),
                    f"{cell.cpu_per_request / httpx_cpu:.2f} x",
                    f"{cell.client_cpu / cell.wall:.0%}",
                    ms(cell.server_cpu_per_request),
                    str(cell.errors),
                ]
            )
    return table


def run(*, quick: bool = False) -> BenchResult:
    """Measure both servers; return the tables, the goals and the raw cells."""
    seconds = 0.3 if quick else 2.0
    rounds = 1 if quick else 2
    warmups = 1 if quick else 3
    emit(f"[{NAME}] stdlib server: {len(CLIENTS) * len(CONCURRENCIES) * rounds} cells")
    with server_process("stdlib_server.py") as server:
        stdlib_cells = sweep(server, STDLIB_KEY, STDLIB_RUN_ID, seconds, rounds, warmups)
    # Quick mode leaves out concurrency 100 here: httpx's own pool needs seconds for it.
    on_emulator = CONCURRENCIES[:2] if quick else CONCURRENCIES
    emit(f"[{NAME}] emulator under uvicorn: {len(CLIENTS) * len(on_emulator)} cells")
    with server_process("emulator_server.py") as server:
        run_id = _instant_run_id(server.base_url)
        emulator_cells = sweep(server, EMULATOR_KEY, run_id, seconds, 1, warmups, on_emulator)

    how = f"each cell: warm-up, then {seconds:g} s of wall time" + (
        f"; best of {rounds} interleaved rounds by CPU/request" if rounds > 1 else ""
    )
    tables = [
        _table(
            "Client CPU per request: stdlib asyncio server (fixed answer, separate process)",
            stdlib_cells,
            [how, "client CPU use: client CPU seconds / wall seconds (100% = one core)"],
        ),
        _table(
            "Client and emulator CPU per request: flowinvoke emulator under uvicorn "
            "(separate process)",
            emulator_cells,
            [how, "server CPU / request is the emulator's own cost (uvicorn + ASGI app)"],
        ),
    ]
    own = stdlib_cells[("flowinvoke", 1)].cpu_per_request
    raw = stdlib_cells[("httpx", 1)].cpu_per_request
    fast = stdlib_cells[("flowinvoke-fast", 100)].cpu_per_request
    goals = [
        Goal(
            "own transport overhead over raw httpx (concurrency 1, stdlib server)",
            "<= 1.10 x",
            f"{own / raw:.3f} x ({ms(own)} vs {ms(raw)})",
            own <= 1.10 * raw,
        ),
        Goal(
            "fast transport CPU per request (concurrency 100, stdlib server)",
            "<= 0.70 ms",
            ms(fast),
            fast <= 0.0007,
        ),
    ]
    data = {
        "stdlib": {f"{k}@{c}": vars(cell) for (k, c), cell in stdlib_cells.items()},
        "emulator": {f"{k}@{c}": vars(cell) for (k, c), cell in emulator_cells.items()},
    }
    return BenchResult(NAME, tables, goals, data)


if __name__ == "__main__":
    result = run(quick=True)
    emit(result.markdown())
