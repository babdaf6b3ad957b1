"""Benchmark: flowinvoke beside its peers, each with its own wire and its library defaults.

One loopback server (`peers_server.py`, uvicorn, its own process) serves the same timed runs
as GPTBots runs, Replicate predictions and fal queue requests. Each client runs in a fresh
child process of its own (`peers_clients.py`, so that its CPU and peak RSS are its alone),
starts the runs and waits for them the way its documentation shows:

- flowinvoke: `AsyncClient(provider="gptbots", ...)`, `await client.run(...)` each (and
  `run_many(..., concurrency=N)` for the batch), on httpx's own transport and on the fast
  one (`fast_transport=True`); every other setting its default.
- replicate-python: `replicate.Client(api_token=..., base_url=...)`,
  `predictions.async_create(...)` then `prediction.async_wait()` (its 0.5 s poll interval,
  httpx's default pool of 100 connections, its 10 s pool timeout).
- fal-client: `fal_client.AsyncClient(key=...)`, `submit(...)` then `handle.get()` (its 0.1 s
  status poll). Its queue host is `FAL_QUEUE_RUN_HOST` (always https: the server's TLS port,
  a throwaway certificate trusted through `SSL_CERT_FILE`); the status and result URLs the
  submit answers are plain HTTP.
- the httpx loop: `httpx.AsyncClient()` with its defaults, the GPTBots invoke, then sleep 1 s
  and query until the run has ended, as one would write it by hand.
- raw httpx at flowinvoke's concurrency: the same loop on a pool of
  `DEFAULT_MAX_CONNECTIONS` connections, at most that many requests in flight (as
  flowinvoke sends them) and no pool timeout: the client CPU per request flowinvoke is held
  against.
- raw httpx, told the end: that loop, told when the waits' runs end, so that it sends one
  query per run at the end: the floor of the waits' lag on httpx's own transport here (the
  CPU of every query after one moment), which no client finding the end out can beat.

Scenarios:

- waits: N concurrent runs that all end at the same moment, d seconds after the first start
  (the key `until:<time>`, see peers_server.py), repeated R times. Lag: from the run's end
  (on the server's `time.monotonic()`, the same clock as the client's on Linux) to the
  moment the client's call returned. Requests per run: the server's own count, starts and
  queries. Client CPU: `time.process_time()` of the child over the scenario, after one
  warm-up run on another client (first-use imports excluded). Peak RSS: the child's
  VmHWM, imports included.
- batch: M runs of b seconds each, C in flight at once (flowinvoke's `run_many`, an
  `asyncio.Semaphore` for the others); wall time against the ideal M / C x b.

Full size: `python benchmarks/run.py --only peers` (1,000 x 10 s waits, 3 times for
flowinvoke and the raw httpx yardstick, once for the others; 2,000 x 2 s at 250 in flight).
A smaller run: `python benchmarks/bench_peers.py --waits 200 --seconds 4` (see `--help`).
The peers' packages are the `bench` dependency group; a peer that is not installed is left
out and named in the notes.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from _common import (
    HERE,
    HOST,
    PYCACHE,
    ROOT,
    BenchResult,
    Goal,
    Table,
    emit,
    free_port,
    last_json_line,
    median,
    percentile,
    server_process,
    wait_for_port,
)
from peers_clients import LOOP_INTERVAL, NEEDS, PEERS, flowinvoke_pool, patience

NAME = "peers"


#: The yardsticks of the waits: CPU (the raw httpx loop on flowinvoke's pool) and lag (the
#: same told the end). The batch leaves them out.
YARDSTICKS = ("raw httpx, flowinvoke's pool", "raw httpx, told the end")
BATCH_PEERS = tuple(name for name in PEERS if name not in YARDSTICKS)
#: The waits of these run `Scale.repeats` times (issue 21's goals are per run); the other
#: peers' once, which is enough to set them beside flowinvoke and keeps the suite's time.
REPEATED = ("flowinvoke", "flowinvoke fast", *YARDSTICKS)


@dataclass
class Outcome:
    """One peer's figures for one scenario run."""

    peer: str
    runs: int
    ok: int
    errors: dict[str, int]
    lags: list[float]
    wall: float
    cpu: float
    peak_rss_mb: float
    requests: int
    server_cpu: float = 0.0  # the server's CPU while the client's process ran

    @property
    def cpu_per_request(self) -> float:
        """Client CPU seconds per request the server counted (starts and queries)."""
        return self.cpu / self.requests if self.requests else 0.0

    def summary(self) -> dict[str, Any]:
        """The figures as JSON-able numbers: the lags as their quantiles, not one by one."""
        figures = {name: value for name, value in vars(self).items() if name != "lags"}
        lags = self.lags
        quantiles = {"min": min(lags, default=0.0), "median": median(lags)}
        quantiles |= {"p95": _p95(lags), "max": max(lags, default=0.0)}
        return {**figures, "lagged": len(lags), "lag": quantiles}


def installed(peer: str) -> bool:
    """Whether every module `peer` needs can be imported."""
    return all(importlib.util.find_spec(module) is not None for module in NEEDS[peer])


@contextmanager
def tls_files() -> Iterator[tuple[str, str, str]]:
    """A throwaway CA and a 127.0.0.1 certificate: (ca.pem, cert.pem, key.pem)."""
    import trustme

    authority = trustme.CA()
    certificate = authority.issue_cert(HOST)
    with tempfile.TemporaryDirectory(prefix="flowinvoke-peers-") as folder:
        paths = [os.path.join(folder, name) for name in ("ca.pem", "cert.pem", "key.pem")]
        authority.cert_pem.write_to_path(paths[0])
        certificate.private_key_and_cert_chain_pem.write_to_path(paths[1])
        certificate.private_key_pem.write_to_path(paths[2])
        yield paths[0], paths[1], paths[2]


def measure(peer: str, scenario: str, runs: int, seconds: float, concurrency: int) -> Outcome:
    """One peer, one scenario: a fresh server process and a fresh client process."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    env["NO_PROXY"] = "*"  # loopback only, whatever proxy the machine names
    with tls_files() if peer == "fal-client" else nullcontext() as tls:
        server_args: list[str] = []
        if tls is not None:
            tls_port = free_port()
            server_args = ["--tls-port", str(tls_port), "--certfile", tls[1], "--keyfile", tls[2]]
            env["FAL_QUEUE_RUN_HOST"] = f"{HOST}:{tls_port}"
            env["SSL_CERT_FILE"] = tls[0]
        with server_process("peers_server.py", *server_args) as server:
            if tls is not None:
                wait_for_port(int(env["FAL_QUEUE_RUN_HOST"].rsplit(":", 1)[1]), server.process)
            command = [
                sys.executable,
                str(HERE / "peers_clients.py"),
                "--peer",
                peer,
                "--scenario",
                scenario,
                "--runs",
                str(runs),
                "--seconds",
                str(seconds),
                "--concurrency",
                str(concurrency),
                "--base-url",
                server.base_url,
            ]
            limit = patience(seconds) + 120  # the child's own limit, then its exit
            server_before = server.cpu()
            done = subprocess.run(
                command, check=False, capture_output=True, cwd=ROOT, env=env, timeout=limit
            )
            server_cpu = server.cpu() - server_before
            report = last_json_line(done.stdout)
            if done.returncode != 0 or not report:
                tail = done.stderr.decode(errors="replace")[-2000:]
                msg = f"the {peer} client failed ({done.returncode}):\n{tail}"
                raise RuntimeError(msg)
    counts = last_json_line(server.output)
    by_key: dict[str, int] = counts.get("by_key", {})
    return Outcome(
        peer=peer,
        runs=runs,
        ok=int(report["ok"]),
        errors=dict(report["errors"]),
        lags=list(report["lags"]),
        wall=float(report["wall"]),
        cpu=float(report["cpu"]),
        peak_rss_mb=float(report["peak_rss_mb"]),
        requests=int(by_key.get(report["key"], 0)),
        server_cpu=server_cpu,
    )


def _seconds(lags: list[float], quantile: Callable[[list[float]], float]) -> str:
    """A quantile of the lags (`-` when no run succeeded, so there is no lag)."""
    return f"{quantile(lags):.2f} s" if lags else "-"


def _p95(values: list[float]) -> float:
    return percentile(values, 0.95)


def _errors(outcomes: list[Outcome]) -> str:
    """Failed runs of all runs, by the error's type: `700 of 1,000 (PoolTimeout 700)`."""
    kinds: collections.Counter[str] = collections.Counter()
    for outcome in outcomes:
        kinds.update(outcome.errors)
    failed, runs = sum(kinds.values()), sum(outcome.runs for outcome in outcomes)
    if not failed:
        return "0"
    return f"{failed:,} of {runs:,} ({', '.join(f'{kind} {n}' for kind, n in kinds.items())})"


@dataclass(frozen=True)
class Scale:
    """How big the scenarios are."""

    waits: int = 1000
    seconds: float = 10.0
    repeats: int = 3
    batch: int = 2000
    batch_seconds: float = 2.0
    concurrency: int = 250

    @property
    def ideal(self) -> float:
        """The batch's ideal wall time: every slot busy, every end seen at once."""
        return self.batch / self.concurrency * self.batch_seconds


QUICK = Scale(waits=50, seconds=2.0, repeats=1, batch=100, batch_seconds=1.0, concurrency=50)


def waits_table(scale: Scale, results: dict[str, list[Outcome]]) -> Table:
    """The waits: one row per peer, the median lag of each repetition."""
    table = Table(
        f"Peers: {scale.waits:,} concurrent {scale.seconds:g} s waits ending together "
        "(one loopback server, each client in its own process)",
        [
            "client",
            "median lag (each run)",
            "95th lag",
            "errors",
            "requests / run",
            "client CPU",
            "CPU / request",
            "CPU / run",
            "peak RSS",
            "server CPU",
        ],
    )
    for peer, outcomes in results.items():
        lags = [lag for outcome in outcomes for lag in outcome.lags]
        requests = sum(outcome.requests for outcome in outcomes)
        cpu = sum(outcome.cpu for outcome in outcomes)
        table.rows.append(
            [
                peer,
                " / ".join(_seconds(outcome.lags, median) for outcome in outcomes),
                _seconds(lags, _p95),
                _errors(outcomes),
                f"{requests / sum(outcome.runs for outcome in outcomes):.1f}",
                f"{median([outcome.cpu for outcome in outcomes]):.2f} s",
                f"{cpu / requests * 1000:.3f} ms" if requests else "-",
                f"{_per_run(outcomes) * 1000:.2f} ms",
                f"{max(outcome.peak_rss_mb for outcome in outcomes):.0f} MiB",
                f"{median([outcome.server_cpu for outcome in outcomes]):.2f} s",
            ]
        )
    return table


def batch_table(scale: Scale, results: dict[str, Outcome]) -> Table:
    """The batch: one row per peer."""
    table = Table(
        f"Peers: batch of {scale.batch:,} x {scale.batch_seconds:g} s runs, "
        f"{scale.concurrency} in flight (ideal {scale.ideal:g} s)",
        [
            "client",
            "wall",
            "wall / ideal",
            "errors",
            "requests / run",
            "client CPU",
            "CPU / request",
            "peak RSS",
            "server CPU",
        ],
    )
    for peer, outcome in results.items():
        table.rows.append(
            [
                peer,
                f"{outcome.wall:.1f} s",
                f"{outcome.wall / scale.ideal:.2f} x",
                _errors([outcome]),
                f"{outcome.requests / outcome.runs:.1f}",
                f"{outcome.cpu:.2f} s",
                f"{outcome.cpu_per_request * 1000:.3f} ms",
                f"{outcome.peak_rss_mb:.0f} MiB",
                f"{outcome.server_cpu:.2f} s",
            ]
        )
    return table


def goals(scale: Scale, results: dict[str, list[Outcome]]) -> list[Goal]:
    """Issue 21's figures of the waits: lag on the default transport, CPU on both."""
    found: list[Goal] = []
    label = f"{scale.waits:,} concurrent {scale.seconds:g} s waits ending together"
    default = results.get("flowinvoke", [])
    floor = results.get("raw httpx, told the end", [])
    if default:
        lags = [median(outcome.lags) for outcome in default]
        told = " / ".join(f"{median(outcome.lags):.2f} s" for outcome in floor)
        found.append(
            Goal(
                f"{label}: median lag, default transport",
                "<= 0.3 s" + (f" in each of {len(default)} runs" if len(default) > 1 else ""),
                " / ".join(f"{lag:.2f} s" for lag in lags)
                + (f" (raw httpx told the end: {told})" if floor else ""),
                all(lag <= 0.3 for lag in lags) and all(o.ok == o.runs for o in default),
            )
        )
    raw = results.get("raw httpx, flowinvoke's pool", [])
    if default and raw:
        ours, theirs = _per_request(default), _per_request(raw)
        found.append(
            Goal(
                f"{label}: client CPU per request, default transport",
                "<= 1.2 x raw httpx at the same concurrency",
                f"{ours * 1000:.3f} ms vs {theirs * 1000:.3f} ms ({ours / theirs:.2f} x; per "
                f"run {_per_run(default) / _per_run(raw):.2f} x)",
                ours <= 1.2 * theirs,
            )
        )
    fast = results.get("flowinvoke fast", [])
    if fast:
        per_request = _per_request(fast)
        found.append(
            Goal(
                f"{label}: client CPU per request, fast transport",
                "<= 0.8 ms",
                f"{per_request * 1000:.3f} ms",
                per_request <= 0.0008,
            )
        )
    return found


def _per_run(outcomes: list[Outcome]) -> float:
    """Client CPU per run: per request divides by fewer requests when a client sends
    fewer queries, so the two are read together."""
    runs = sum(outcome.runs for outcome in outcomes)
    return sum(outcome.cpu for outcome in outcomes) / runs if runs else float("inf")


def _per_request(outcomes: list[Outcome]) -> float:
    requests = sum(outcome.requests for outcome in outcomes)
    return sum(outcome.cpu for outcome in outcomes) / requests if requests else float("inf")


def run(
    *, quick: bool = False, scale: Scale | None = None, peers: tuple[str, ...] = ()
) -> BenchResult:
    """Every installed peer through the waits (repeated) and the batch; tabulate."""
    scale = scale or (QUICK if quick else Scale())
    chosen = [peer for peer in (peers or tuple(PEERS)) if installed(peer)]
    missing = [peer for peer in (peers or tuple(PEERS)) if peer not in chosen]
    waits: dict[str, list[Outcome]] = {}
    for peer in chosen:
        for repeat in range(scale.repeats if peer in REPEATED else 1):
            emit(f"[{NAME}] {peer}: {scale.waits} waits of {scale.seconds:g} s ({repeat + 1})")
            outcome = measure(peer, "waits", scale.waits, scale.seconds, scale.waits)
            waits.setdefault(peer, []).append(outcome)
    batches: dict[str, Outcome] = {}
    for peer in (peer for peer in chosen if peer in BATCH_PEERS):
        emit(f"[{NAME}] {peer}: batch of {scale.batch} x {scale.batch_seconds:g} s")
        batches[peer] = measure(peer, "batch", scale.batch, scale.batch_seconds, scale.concurrency)
    notes = [
        "lag: from the run's end (the server's clock) to the client's call returning; "
        "requests: the server's count of starts and queries; client CPU: "
        "`time.process_time()` of the client's own process over the scenario; peak RSS: "
        "its VmHWM, imports included; server CPU: the loopback server's while the client's "
        "process ran (the median of repeated runs)",
        "each client with its library's defaults: flowinvoke's pool of "
        f"{flowinvoke_pool() if installed('flowinvoke') else '?'} connections and learned "
        "schedule; "
        "replicate-python polls every 0.5 s on httpx's 100 connections (10 s pool timeout); "
        "fal-client every 0.1 s; the httpx loops every "
        f"{LOOP_INTERVAL:g} s",
    ]
    if missing:
        notes.append(f"not installed, left out: {', '.join(missing)} (the `bench` group)")
    tables = [waits_table(scale, waits), batch_table(scale, batches)]
    for table in tables:
        table.notes += notes
    if scale.repeats > 1:
        tables[0].notes.append(
            f"{', '.join(REPEATED)}: {scale.repeats} runs each (the median lag of each run "
            "is shown); the others one; CPU per request is all runs' CPU over all their "
            "requests, client CPU the median run's"
        )
    data = {
        "scale": vars(scale),
        "waits": {peer: [o.summary() for o in outcomes] for peer, outcomes in waits.items()},
        "batch": {peer: outcome.summary() for peer, outcome in batches.items()},
    }
    return BenchResult(NAME, tables, goals(scale, waits), data)


def main() -> None:
    """Run the harness: small by default, full size with `--full`, any scale by flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the full-size figures")
    parser.add_argument("--peer", action="append", choices=sorted(PEERS), help="repeatable")
    parser.add_argument("--waits", type=int, help="concurrent waits")
    parser.add_argument("--seconds", type=float, help="the waits' run time")
    parser.add_argument("--repeats", type=int, help="how many times flowinvoke's waits run")
    parser.add_argument("--batch", type=int, help="runs in the batch")
    parser.add_argument("--batch-seconds", type=float, help="each batch run's time")
    parser.add_argument("--concurrency", type=int, help="batch runs in flight")
    options = parser.parse_args()
    base = Scale() if options.full else QUICK
    given = {
        "waits": options.waits,
        "seconds": options.seconds,
        "repeats": options.repeats,
        "batch": options.batch,
        "batch_seconds": options.batch_seconds,
        "concurrency": options.concurrency,
    }
    scale = Scale(**{**vars(base), **{k: v for k, v in given.items() if v is not None}})
    result = run(scale=scale, peers=tuple(options.peer or ()))
    emit(result.markdown())
    for goal in result.goals:
        emit(" | ".join(goal.row()))


if __name__ == "__main__":
    main()
