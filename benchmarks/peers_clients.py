"""The clients of the peers benchmark, one per library, and the process that runs one.

`bench_peers.py` starts `python benchmarks/peers_clients.py --peer NAME ...` once per client
and scenario, so that each client's CPU and peak RSS are its own process's. Each client
starts its runs and waits for them the way its library's documentation shows, with its
defaults (bench_peers.py and docs/performance.md say which). The child prints its figures
as one JSON line: runs that ended, errors by type, each run's lag, CPU, wall time, peak
RSS, and the API key it used (the server counts requests by key).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

APP = "bench/peers"  # fal's application id (owner/alias)
LOOP_INTERVAL = 1.0  # the hand-written loops' fixed poll interval
WARM_KEY = "0"  # the warm-up run ends at once


class Peer:
    """A client library as its users run it: start a run and wait for its output."""

    async def open(self, base_url: str, key: str) -> None:
        """Build the client whose API key is `key`."""
        raise NotImplementedError

    async def one(self, index: int) -> dict[str, Any]:
        """Start one run and wait for it; return its output."""
        raise NotImplementedError

    async def many(self, count: int, concurrency: int, tally: Tally) -> None:
        """Run `count` runs, `concurrency` at a time, into `tally`."""
        slots = asyncio.Semaphore(concurrency)

        async def slot(index: int) -> None:
            async with slots:
                await tally.record(self.one(index))

        await asyncio.gather(*(slot(index) for index in range(count)))

    async def close(self) -> None:
        """Release the client's connections."""


class Flowinvoke(Peer):
    """flowinvoke's AsyncClient on the GPTBots wire, defaults otherwise."""

    def __init__(self, *, fast: bool) -> None:
        self.fast = fast

    async def open(self, base_url: str, key: str) -> None:
        from flowinvoke import AsyncClient

        self.client = AsyncClient(
            provider="gptbots", api_key=key, base_url=base_url, fast_transport=self.fast
        )

    async def one(self, index: int) -> dict[str, Any]:
        run = await self.client.run({"item": index}, timeout=600.0)
        return dict(run.output)

    async def many(self, count: int, concurrency: int, tally: Tally) -> None:
        inputs = [{"item": index} for index in range(count)]
        items = await self.client.run_many(inputs, concurrency=concurrency, timeout=600.0)
        for item in items:
            if item.ok and item.run is not None:
                tally.outputs.append(dict(item.run.output))
            else:
                tally.fail(item.error or RuntimeError(f"run ended {item.status}"))

    async def close(self) -> None:
        await self.client.aclose()


class HttpxLoop(Peer):
    """A hand-written loop: invoke, then sleep and query at a fixed interval (GPTBots wire).

    `pool=None` keeps every httpx default (100 connections, 5 s timeouts, the pool's
    included). A number gives that many connections, no pool timeout, and at most that many
    requests in flight (a semaphore before each), as flowinvoke sends them: the waits that
    fall due together queue on the semaphore, not in httpcore's pool, whose queue costs
    CPU for each request waiting in it.
    """

    def __init__(self, *, pool: int | None) -> None:
        self.pool = pool

    async def open(self, base_url: str, key: str) -> None:
        import httpx

        options: dict[str, Any] = {}
        if self.pool is not None:
            options["limits"] = httpx.Limits(
                max_connections=self.pool, max_keepalive_connections=self.pool
            )
            options["timeout"] = httpx.Timeout(30.0, pool=None)
        headers = {"Authorization": f"Bearer {key}"}
        self.client = httpx.AsyncClient(base_url=base_url, headers=headers, **options)
        # The loop as written by hand has no limit of its own.
        self.in_flight: Any = asyncio.Semaphore(self.pool) if self.pool else nullcontext()

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.in_flight:
            answer = await self.client.post(path, json=body)
        answer.raise_for_status()
        return dict(answer.json())

    async def one(self, index: int) -> dict[str, Any]:
        started = await self._post("/v1/workflow/invoke", {"input": {"item": index}})
        query = {"workflowRunId": started["workflowRunId"]}
        queried = 0
        while True:
            await asyncio.sleep(self.pause(queried))
            body = await self._post("/v1/workflow/query/result", query)
            if body["status"] not in ("PENDING", "RUNNING"):
                return dict(body["output"])
            queried += 1

    def pause(self, queried: int) -> float:
        """Seconds to sleep before the next query, after `queried` of them."""
        return LOOP_INTERVAL

    async def close(self) -> None:
        await self.client.aclose()


class HttpxToldTheEnd(HttpxLoop):
    """The floor of the waits' lag on httpx's own transport: the raw httpx loop on
    flowinvoke's pool, told when the runs end (the `until:` key), so that it sends one query
    per run at the end and no query before. No client that must find the end out can do
    better on this machine: its lag is the CPU of sending every query after one moment."""

    async def open(self, base_url: str, key: str) -> None:
        await super().open(base_url, key)
        self.ends = float(key.removeprefix("until:")) if key.startswith("until:") else None

    def pause(self, queried: int) -> float:
        """To the end before the first query; then a hair (a clock behind the server's)."""
        if queried:
            return 0.01
        return 0.0 if self.ends is None else max(0.0, self.ends - time.monotonic())


class Replicate(Peer):
    """replicate-python: `predictions.async_create` then `async_wait`, its defaults."""

    async def open(self, base_url: str, key: str) -> None:
        import replicate

        self.client = replicate.Client(api_token=key, base_url=base_url)

    async def one(self, index: int) -> dict[str, Any]:
        prediction = await self.client.predictions.async_create(
            version="bench-version", input={"item": index}
        )
        await prediction.async_wait()
        if prediction.status != "succeeded":
            raise RuntimeError(f"prediction {prediction.status}")
        return dict(prediction.output)


class Fal(Peer):
    """fal-client: `submit` then `handle.get()`, its defaults."""

    async def open(self, base_url: str, key: str) -> None:
        import fal_client

        self.client = fal_client.AsyncClient(key=key)

    async def one(self, index: int) -> dict[str, Any]:
        handle = await self.client.submit(APP, arguments={"item": index})
        return dict(await handle.get())


def flowinvoke_pool() -> int:
    """flowinvoke's connections per client, which the raw httpx yardstick uses too."""
    from flowinvoke import DEFAULT_MAX_CONNECTIONS

    return int(DEFAULT_MAX_CONNECTIONS)


PEERS: dict[str, Any] = {
    "flowinvoke": lambda: Flowinvoke(fast=False),
    "flowinvoke fast": lambda: Flowinvoke(fast=True),
    "raw httpx, flowinvoke's pool": lambda: HttpxLoop(pool=flowinvoke_pool()),
    "raw httpx, told the end": lambda: HttpxToldTheEnd(pool=flowinvoke_pool()),
    "httpx loop, httpx defaults": lambda: HttpxLoop(pool=None),
    "replicate-python": Replicate,
    "fal-client": Fal,
}
#: The modules each peer needs: one that is missing leaves the peer out.
NEEDS = {
    "flowinvoke": ("flowinvoke",),
    "flowinvoke fast": ("flowinvoke", "aiohttp", "httpx_aiohttp"),
    "raw httpx, flowinvoke's pool": ("flowinvoke", "httpx"),
    "raw httpx, told the end": ("flowinvoke", "httpx"),
    "httpx loop, httpx defaults": ("httpx",),
    "replicate-python": ("replicate",),
    "fal-client": ("fal_client",),
}


@dataclass
class Tally:
    """The outcomes of one scenario in the child: outputs, lags and errors by type."""

    outputs: list[dict[str, Any]] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)

    async def record(self, waiting: Any) -> None:
        """Await one run; keep its output and lag, or its error's type."""
        try:
            output = await waiting
        except Exception as error:  # every failure is a figure here
            self.fail(error)
            return
        self.lags.append(time.monotonic() - float(output["end"]))
        self.outputs.append(output)

    def fail(self, error: BaseException) -> None:
        """Count a failed run by its error's type."""
        self.errors[type(error).__name__] += 1


def peak_rss_mb() -> float:
    """This process's peak RSS in MiB (VmHWM, Linux). Read here rather than imported from
    the suite's helpers, so that the child holds the client library and nothing else."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def patience(seconds: float) -> float:
    """How long a scenario may take before its unfinished runs count as failed: fal-client's
    1,000 waits of 10 s took minutes on a busy 2-core machine."""
    return seconds * 30 + 300


async def child(options: argparse.Namespace) -> dict[str, Any]:
    """One peer, one scenario, in this process: the figures as a JSON-able dict."""
    peer: Peer = PEERS[options.peer]()
    warm = PEERS[options.peer]()
    await warm.open(options.base_url, WARM_KEY)
    await warm.one(-1)
    await warm.close()

    batch = options.scenario == "batch"
    ends_at = time.monotonic() + options.seconds
    key = f"{options.seconds:g}" if batch else f"until:{ends_at:.6f}"
    tally = Tally()
    await peer.open(options.base_url, key)
    cpu_before = time.process_time()
    started = time.perf_counter()
    if batch:
        work = peer.many(options.runs, options.concurrency, tally)
    else:
        work = asyncio.gather(*(tally.record(peer.one(index)) for index in range(options.runs)))
    try:
        await asyncio.wait_for(work, timeout=patience(options.seconds))
    except asyncio.TimeoutError:
        tally.errors["unfinished"] += options.runs - len(tally.outputs) - sum(tally.errors.values())
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    await peer.close()
    return {
        "key": key,
        "ok": len(tally.outputs),
        "errors": dict(tally.errors),
        "lags": [round(lag, 4) for lag in tally.lags] if not batch else [],
        "wall": wall,
        "cpu": cpu,
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    """Run one client through one scenario; print its figures as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", required=True, choices=sorted(PEERS))
    parser.add_argument("--scenario", required=True, choices=("waits", "batch"))
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True, help="each run's time")
    parser.add_argument("--concurrency", type=int, required=True, help="batch runs in flight")
    parser.add_argument("--base-url", required=True)
    sys.stdout.write(json.dumps(asyncio.run(child(parser.parse_args()))) + "\n")


if __name__ == "__main__":
    main()
