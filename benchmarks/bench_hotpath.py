"""Benchmark 6: where flowinvoke's own CPU per request goes (no network, no server).

Every request goes to an in-memory answer of the stdlib server's fixed body, so only client
code runs. Three measures:

1. CPU per call of a raw `httpx.AsyncClient.post` + `.json()`, of `AsyncClient.get_run`, and
   of the query a `wait` sends (`AsyncRequester.send` with a finite deadline, as the poller
   calls it): the differences are flowinvoke's own cost. Measured twice: over an httpx
   `MockTransport` (the transport is skipped), and over httpx's own transport with an
   in-memory network under httpcore (the path a default client takes: httpcore's HTTP/1.1,
   and for flowinvoke its deadline-cutting network backend, without a socket).
2. Micro-benchmarks (`timeit`) of each step flowinvoke adds on that path.
3. A cProfile of `get_run`: the functions with the most own time.

This names costs; it asserts nothing and changes nothing in src/.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import pstats
import time
import timeit
from collections.abc import Callable
from typing import Any

import httpcore
import httpx
from _common import BenchResult, Table, emit
from stdlib_server import BODY, RESPONSE

from flowinvoke import AsyncClient, WorkflowRun
from flowinvoke._core.deadline import Deadline
from flowinvoke._core.models import RunStatus
from flowinvoke._core.scopes import async_deadline_scope
from flowinvoke._core.secret import Redactor
from flowinvoke._transport.build import per_process_inner
from flowinvoke._transport.replies import read_reply
from flowinvoke._transport.retry import RetryPolicy, parse_retry_after
from flowinvoke._transport.templates import timeout_extension
from flowinvoke.providers import get_provider
from flowinvoke.providers._fields import epoch_ms, millis

NAME = "hotpath"
BASE_URL = "http://127.0.0.1:9"
QUERY_URL = BASE_URL + "/v1/workflow/query/result"
RUN_ID = "00000001-a1b2-4c3d-e4f5-a6b7c8d9e0f0000001"
API_KEY = "bench-key"
HEADERS = {"content-type": "application/json", "content-length": str(len(BODY))}


def _answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, headers=HEADERS, content=BODY)


def _transport() -> httpx.MockTransport:
    return httpx.MockTransport(_answer)


class _InMemoryStream(httpcore.AsyncNetworkStream):
    """A keep-alive connection whose server answers every request with `RESPONSE` at once."""

    def __init__(self) -> None:
        self._answer = b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer.startswith(b"POST "):  # a request's head: its answer is ready
            self._answer = RESPONSE

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        answer, self._answer = self._answer, b""
        return answer

    async def aclose(self) -> None:
        pass

    def get_extra_info(self, info: str) -> Any:
        return None


class _InMemoryNetwork(httpcore.AsyncNetworkBackend):
    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return _InMemoryStream()

    async def sleep(self, seconds: float) -> None:
        pass


def _on_memory(pool: Any) -> None:
    """Put the in-memory network under an httpcore pool (below flowinvoke's deadline cut,
    if the pool has it)."""
    backend = pool._network_backend
    if hasattr(backend, "_inner"):
        backend._inner = _InMemoryNetwork()
    else:
        pool._network_backend = _InMemoryNetwork()


def _clients(network: bool) -> tuple[httpx.AsyncClient, AsyncClient]:
    """A raw httpx client and a flowinvoke one: over a `MockTransport`, or (`network`) over
    httpx's own transport on the in-memory network."""
    if not network:
        raw = httpx.AsyncClient(transport=_transport())
        client = AsyncClient(
            provider="gptbots", api_key=API_KEY, base_url=BASE_URL, transport=_transport()
        )
        return raw, client
    own = httpx.AsyncHTTPTransport()
    _on_memory(own._pool)
    raw = httpx.AsyncClient(transport=own)
    client = AsyncClient(provider="gptbots", api_key=API_KEY, base_url=BASE_URL)
    transport: Any = client._requester._http._transport
    _on_memory(per_process_inner(transport)._pool)  # type: ignore[attr-defined]
    return raw, client


async def _per_call(calls: int, network: bool = False) -> dict[str, float]:
    """CPU seconds per call of each way of sending the query."""
    raw, client = _clients(network)
    requester = client._requester
    spec = client._query_spec(RUN_ID, None)
    body = {"workflowRunId": RUN_ID}
    headers = {"Authorization": f"Bearer {API_KEY}"}

    async def raw_httpx() -> None:
        response = await raw.post(QUERY_URL, json=body, headers=headers)
        response.json()

    async def get_run() -> None:
        await client.get_run(RUN_ID)

    async def wait_query() -> None:
        await requester.send(spec, Deadline(1800.0))

    ways = {"raw httpx": raw_httpx, "get_run": get_run, "wait's query": wait_query}
    results = dict.fromkeys(ways, float("inf"))
    for call in ways.values():
        for _ in range(200):
            await call()
    # Many short interleaved batches, the best of each kept: robust to a busy machine.
    batch = max(1, calls // 20)
    for _ in range(20):
        for name, call in ways.items():
            before = time.process_time()
            for _ in range(batch):
                await call()
            results[name] = min(results[name], (time.process_time() - before) / batch)
    await raw.aclose()
    await client.aclose()
    return results


def _profile(calls: int) -> list[tuple[str, float, float, int]]:
    """(function, own µs per get_run, cumulative µs per get_run, calls per get_run)."""
    client = AsyncClient(
        provider="gptbots", api_key=API_KEY, base_url=BASE_URL, transport=_transport()
    )

    async def loop() -> None:
        for _ in range(calls):
            await client.get_run(RUN_ID)
        await client.aclose()

    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(loop())
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    raw_stats: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (path, line, function), (_, ncalls, own, cumulative, _) in raw_stats.items():
        short = path.split("site-packages/")[-1].split("/src/")[-1]
        rows.append((f"{short}:{line} {function}", own, cumulative, ncalls))
    rows.sort(key=lambda row: row[1], reverse=True)
    return [(name, own / calls * 1e6, cum / calls * 1e6, n // calls) for name, own, cum, n in rows]


def _micro(number: int) -> list[tuple[str, float, str]]:
    """(step, µs per call, note) for each step flowinvoke adds to a query."""
    provider = get_provider("gptbots")
    client = AsyncClient(
        provider="gptbots", api_key=API_KEY, base_url=BASE_URL, transport=_transport()
    )
    spec = client._query_spec(RUN_ID, None)
    redact = Redactor(API_KEY)
    decoded = json.loads(BODY)
    response = httpx.Response(200, headers=HEADERS, content=BODY)
    response.read()
    run = provider.parse_run(decoded, spec)
    other = provider.parse_run(json.loads(BODY), spec)
    timeout = client._config.timeout
    deadline = Deadline(1800.0)
    retry = RetryPolicy()
    fields = {name: getattr(run, name) for name in WorkflowRun.model_fields}
    headers = client._requester._headers
    plain = httpx.AsyncClient(transport=_transport())
    preset = httpx.AsyncClient(transport=_transport(), headers=headers, timeout=timeout)
    query_url = httpx.URL(QUERY_URL)

    steps: list[tuple[str, Callable[[], object], str]] = [
        ("json.loads(body) (raw clients do this too)", lambda: json.loads(BODY), "baseline"),
        (
            "read_reply: the whole answer -> Reply",
            lambda: read_reply(provider, spec, response, redact),
            "_responses.read_reply",
        ),
        (
            "  parse_error(200, body) on a success",
            lambda: provider.parse_error(200, decoded),
            "gptbots.parse_error",
        ),
        ("  parse_run(body)", lambda: provider.parse_run(decoded, spec), "gptbots.parse_run"),
        (
            "    WorkflowRun.model_construct(16 fields)",
            lambda: WorkflowRun.model_construct(**fields),
            "pydantic",
        ),
        (
            "    2 x epoch_ms + millis (datetime/timedelta)",
            lambda: (epoch_ms(1735689600000), epoch_ms(1735689601234), millis(1234)),
            "_fields",
        ),
        ("    RunStatus.from_word", lambda: RunStatus.from_word("SUCCEED"), "_models"),
        (
            "  parse_retry_after(response.headers)",
            lambda: parse_retry_after(response.headers),
            "_retry",
        ),
        (
            "client._query_spec(run_id) (get_run)",
            lambda: client._query_spec(RUN_ID, None),
            "client",
        ),
        (
            "Deadline(budget) + RetryPolicy.delays() per send",
            lambda: (Deadline(retry.budget), retry.delays()),
            "_requester.send",
        ),
        (
            "timeout_extension(timeout, finite deadline) (every wait query)",
            lambda: timeout_extension(timeout, deadline),
            "_transport.templates",
        ),
        (
            "httpx.URL(str) parse (httpx, per request: url passed as str)",
            lambda: httpx.URL(QUERY_URL),
            "_requester.send",
        ),
        (
            "httpx build_request as flowinvoke calls it (str URL, headers, timeout)",
            lambda: plain.build_request(
                "POST", QUERY_URL, json=spec.json, headers=headers, timeout=timeout
            ),
            "_requester.send",
        ),
        (
            "httpx build_request, prebuilt httpx.URL, headers as client defaults",
            lambda: preset.build_request("POST", query_url, json=spec.json),
            "(possible)",
        ),
        ("run != previous run (poll loop, equal runs)", lambda: run != other, "_poller"),
    ]
    rows = []
    for name, function, where in steps:
        best = min(timeit.repeat(function, number=number, repeat=3)) / number
        rows.append((name, best * 1e6, where))
    return rows


async def _scope_cost(number: int) -> float:
    """µs per enter/exit of a request's deadline scope (anyio.move_on_after)."""
    deadline = Deadline(1800.0)
    best = float("inf")
    for _ in range(3):
        before = time.perf_counter()
        for _ in range(number):
            with async_deadline_scope(deadline):
                pass
        best = min(best, (time.perf_counter() - before) / number)
    return best * 1e6


def run(*, quick: bool = False) -> BenchResult:
    """Measure the path and its steps; profile get_run."""
    calls = 1000 if quick else 5000
    emit(f"[{NAME}] in-memory transport: {calls} calls per measure, micro-benchmarks, cProfile")
    per_call = asyncio.run(_per_call(calls))
    per_call_network = asyncio.run(_per_call(calls, network=True))
    scope = asyncio.run(_scope_cost(calls))
    micro = _micro(2000 if quick else 10000)
    profile = _profile(calls)

    raw = per_call["raw httpx"]
    calls_table = Table(
        "Hot path: CPU per query over an in-memory transport (no network, no server)",
        ["call", "CPU / call", "over raw httpx"],
        notes=[
            f"`time.process_time()`; the best of 20 interleaved batches of {max(1, calls // 20)} "
            "calls each, after 200 warm-up calls"
        ],
    )
    for name, value in per_call.items():
        calls_table.rows.append([name, f"{value * 1e6:.0f} µs", f"+{(value - raw) * 1e6:.0f} µs"])
    network_table = Table(
        "Hot path: CPU per query over httpx's own transport and an in-memory network "
        "(the default client's path, no socket)",
        ["call", "CPU / call", "over raw httpx"],
        notes=[
            "httpcore's HTTP/1.1 over a network backend that answers at once; flowinvoke's "
            "deadline-cutting backend sits in between, as on a real socket",
            "measured as the table above",
        ],
    )
    raw_network = per_call_network["raw httpx"]
    for name, value in per_call_network.items():
        network_table.rows.append(
            [name, f"{value * 1e6:.0f} µs", f"+{(value - raw_network) * 1e6:.0f} µs"]
        )
    micro_table = Table(
        "Hot path: the steps flowinvoke adds (timeit, µs per call)",
        ["step", "µs / call", "where"],
    )
    for name, value, where in micro:
        micro_table.rows.append([name, f"{value:.1f}", where])
    micro_table.rows.append(
        [
            "async_deadline_scope enter + exit (a request queued for a slot, or on a "
            "transport that does not cut itself at the deadline)",
            f"{scope:.1f}",
            "_core.scopes",
        ]
    )
    profile_table = Table(
        f"Hot path: cProfile of {calls} `get_run` calls, top 15 functions by own time",
        ["function", "own µs / get_run", "cumulative µs / get_run", "calls / get_run"],
        notes=["cProfile inflates small functions; read it for ranking, not absolute cost"],
    )
    for name, own, cumulative, ncalls in profile[:15]:
        profile_table.rows.append([f"`{name}`", f"{own:.1f}", f"{cumulative:.1f}", str(ncalls)])
    data = {
        "per_call_us": {k: v * 1e6 for k, v in per_call.items()},
        "per_call_network_us": {k: v * 1e6 for k, v in per_call_network.items()},
        "micro_us": {name: value for name, value, _ in micro},
        "scope_us": scope,
    }
    tables = [calls_table, network_table, micro_table, profile_table]
    return BenchResult(NAME, tables, [], data)


if __name__ == "__main__":
    emit(run(quick=True).markdown())
