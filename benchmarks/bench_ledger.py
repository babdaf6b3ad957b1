"""The run ledger: what it costs a start and a batch, and what it keeps across processes.

1. Added start latency: `invoke(key=...)` against `invoke()` on an instant workflow of the
   in-process emulator (no network, so the difference is the ledger's three writes and
   their worker-thread hops), median of interleaved calls; SQLite (a file in a temporary
   folder) and PostgreSQL (a server started for the run on loopback, fsync on).
2. A batch of 2,000 runs x 2 s at 250 in flight (timed_server.py, as the learning
   benchmark's batch) without a ledger and with a SQLite ledger (`key=` per input).
3. Two processes start the same 1,000 keys at once (tests/ledger_worker.py, 100 in flight
   each) on SQLite and PostgreSQL: the emulator (on a loopback port) counts the starts.
4. A process holding 200 waits is SIGKILLed once every run id is recorded; a new process
   calls `resume()`: how many finish, and how many starts the emulator saw in all.
5. 1,000,000 finished rows (and 100 unfinished): `pending()` and a keyed `get()`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import ROOT, BenchResult, Goal, Table, emit, median, ms, server_process

from flowinvoke import AsyncClient
from flowinvoke.ledger import open_ledger
from flowinvoke.testing import Emulator, LoopbackServer, Workflow

NAME = "ledger"
WORKER = str(ROOT / "tests" / "ledger_worker.py")
API_KEY = "sk-bench-ledger"


@contextmanager
def postgres() -> Iterator[str | None]:
    """A PostgreSQL server for the run (fsync on, as in production), or None."""
    sys.path.insert(0, str(ROOT))
    try:
        from tests.postgres_support import postgres_server
    except ImportError:
        yield None
        return
    try:
        with postgres_server(fsync=True) as url:
            yield url
    except BaseException as exc:  # pytest.skip: no binaries here
        if type(exc).__name__ == "Skipped":
            yield None
        else:
            raise


def _targets(folder: Path, pg: str | None) -> list[tuple[str, str]]:
    targets = [("SQLite", str(folder / "runs.db"))]
    if pg is not None:
        targets.append(("PostgreSQL", pg))
    return targets


def _reset(target: str) -> None:
    if target.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(target, autocommit=True) as connection:
            connection.execute("DROP TABLE IF EXISTS flowinvoke_runs, flowinvoke_meta")
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(target + suffix).unlink(missing_ok=True)


# -- 1. added start latency ----------------------------------------------------------------


async def _latency(target: str, calls: int) -> tuple[float, float]:
    emulator = Emulator([Workflow(id="wf", api_key=API_KEY, polls=0)])
    async with emulator.async_client("wf", ledger=target) as client:
        plain: list[float] = []
        keyed: list[float] = []
        for index in range(calls):
            began = time.perf_counter()
            await client.invoke({"n": index})
            plain.append(time.perf_counter() - began)
            began = time.perf_counter()
            await client.invoke({"n": index}, key=f"lat-{index}")
            keyed.append(time.perf_counter() - began)
    return median(plain), median(keyed)


# -- 2. the batch --------------------------------------------------------------------------


async def _batch(base_url: str, ledger: str | None, runs: int, concurrency: int) -> float:
    options: dict[str, Any] = {} if ledger is None else {"key": lambda item: f"b-{item['i']}"}
    async with AsyncClient(api_key="2.0#ledger-batch", base_url=base_url, ledger=ledger) as client:
        began = time.perf_counter()
        items = await client.run_many(
            ({"i": index} for index in range(runs)), concurrency=concurrency, **options
        )
        wall = time.perf_counter() - began
    failed = sum(1 for item in items if not item.ok)
    if failed:
        raise RuntimeError(f"{failed} runs of the batch failed")
    return wall


# -- 3. and 4. processes -------------------------------------------------------------------


def _worker(mode: str, ledger: str, base_url: str, count: int, concurrency: int) -> Any:
    command = [sys.executable, WORKER, mode, ledger, base_url, API_KEY]
    command += [str(count), str(concurrency)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _race(target: str, count: int) -> dict[str, Any]:
    emulator = Emulator([Workflow(id="wf", api_key=API_KEY, duration=0.5)])
    with LoopbackServer(emulator) as served:
        open_ledger(target).close()
        began = time.perf_counter()
        workers = [_worker("race", target, served.base_url, count, 100) for _ in range(2)]
        outputs = [worker.communicate(timeout=600)[0] for worker in workers]
        wall = time.perf_counter() - began
    results = [
        {line["n"]: line for line in map(json.loads, out.splitlines()) if not line["error"]}
        for out in outputs
    ]
    same = sum(1 for n in range(count) if n in results[0] and results[0][n] == results[1].get(n))
    return {
        "starts": emulator.counters.total_invokes,
        "answered": [len(result) for result in results],
        "same_run": same,
        "wall": wall,
    }


def _kill_and_resume(folder: Path, count: int) -> dict[str, Any]:
    ledger = str(folder / "killed.db")
    emulator = Emulator([Workflow(id="wf", api_key=API_KEY, duration=5.0)])
    with LoopbackServer(emulator) as served:
        worker = _worker("start", ledger, served.base_url, count, count)
        assert worker.stdout is not None
        started = 0
        deadline = time.monotonic() + 120
        while started < count and time.monotonic() < deadline:
            started += worker.stdout.readline().startswith("started")
        worker.send_signal(signal.SIGKILL)
        worker.communicate()
        began = time.perf_counter()
        resumer = _worker("resume", ledger, served.base_url, count, count)
        out, _ = resumer.communicate(timeout=600)
        wall = time.perf_counter() - began
    finished = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {
        "recorded_at_kill": started,
        "finished": sum(1 for line in finished if line["status"] == "SUCCEEDED"),
        "starts": emulator.counters.total_invokes,
        "resume_wall": wall,
    }


# -- 5. a million rows ---------------------------------------------------------------------

_ROW = (
    "INSERT INTO flowinvoke_runs (key, provider, host, workflow, account, inputs_digest, "
    "state, run_id, status, created_at, updated_at, finished_at, attempts, owner) "
    "VALUES ({})"
)


def _fill(target: str, rows: int) -> None:
    open_ledger(target).close()
    now = time.time()

    def values(index: int, state: str) -> tuple[Any, ...]:
        finished = now - rows + index if state == "finished" else None
        status = "SUCCEEDED" if state == "finished" else None
        return (
            f"key-{index}",
            "gptbots",
            "api.example",
            "wf",
            "acct",
            "d" * 64,
            state,
            f"run-{index}",
            status,
            now - rows + index,
            now,
            finished,
            1,
            "h/1/t",
        )

    batch = [values(i, "finished") for i in range(rows)]
    batch += [values(rows + i, "started") for i in range(100)]
    if target.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(target) as connection, connection.cursor() as cursor:
            columns = _ROW.split("(", 1)[1].split(")", 1)[0]
            with cursor.copy(f"COPY flowinvoke_runs ({columns}) FROM STDIN") as copy:
                for row in batch:
                    copy.write_row(row)
            cursor.execute("ANALYZE flowinvoke_runs")
    else:
        with sqlite3.connect(target) as connection:
            connection.executemany(_ROW.format(", ".join("?" * 14)), batch)
            connection.execute("ANALYZE")


def _lookups(target: str, rows: int, repeats: int = 30) -> tuple[float, float, int]:
    ledger = open_ledger(target)
    pending_times, get_times = [], []
    found = 0
    for index in range(repeats):
        began = time.perf_counter()
        found = len(ledger.pending())
        pending_times.append(time.perf_counter() - began)
        began = time.perf_counter()
        ledger.get(f"key-{(index * 7919) % rows}")
        get_times.append(time.perf_counter() - began)
    ledger.close()
    return median(pending_times), median(get_times), found


def run(*, quick: bool = False) -> BenchResult:
    """Every section, on SQLite and (where its binaries are) PostgreSQL."""
    calls, runs, concurrency = (200, 250, 125) if quick else (500, 2000, 250)
    race_keys, kill_count = (200, 50) if quick else (1000, 200)
    big = 100_000 if quick else 1_000_000
    goals: list[Goal] = []
    latency = Table(
        "Ledger: added latency of a keyed start (in-process emulator, asyncio)",
        ["ledger", "invoke()", "invoke(key=...)", "added (median)"],
        notes=[
            f"{calls} interleaved calls each; an instant workflow, so the difference is the "
            "intent, run id and end writes and their worker-thread hops",
            "SQLite: WAL, synchronous=NORMAL; PostgreSQL: loopback, fsync on",
        ],
    )
    processes = Table(
        "Ledger: several processes",
        ["scenario", "ledger", "result", "starts seen by the emulator", "wall"],
    )
    lookups = Table(
        f"Ledger: lookups in {big:,} finished rows (+100 unfinished)",
        ["ledger", "pending()", "get(key)", "pending rows"],
        notes=["median of 30; a partial index holds only the unfinished rows"],
    )
    data: dict[str, Any] = {}
    limits = {"SQLite": 0.002, "PostgreSQL": 0.005}
    with tempfile.TemporaryDirectory() as scratch, postgres() as pg:
        folder = Path(scratch)
        for name, target in _targets(folder, pg):
            _reset(target)
            emit(f"[{NAME}] added start latency: {name}")
            plain, keyed = asyncio.run(_latency(target, calls))
            latency.rows.append([name, ms(plain), ms(keyed), ms(keyed - plain)])
            goals.append(
                Goal(
                    f"ledger: added start latency, {name}",
                    f"<= {ms(limits[name])}",
                    ms(keyed - plain),
                    keyed - plain <= limits[name],
                )
            )
            _reset(target)
            emit(f"[{NAME}] two processes x {race_keys} keys: {name}")
            race = _race(target, race_keys)
            data[f"race-{name}"] = race
            processes.rows.append(
                [
                    f"2 processes x {race_keys} keys",
                    name,
                    f"{race['answered']} answered, {race['same_run']} with the same run",
                    str(race["starts"]),
                    f"{race['wall']:.1f} s",
                ]
            )
            goals.append(
                Goal(
                    f"ledger: 2 processes x {race_keys} keys, {name}",
                    f"exactly {race_keys} starts",
                    str(race["starts"]),
                    race["starts"] == race_keys and race["same_run"] == race_keys,
                )
            )
            _reset(target)
            emit(f"[{NAME}] {big:,} rows: {name}")
            _fill(target, big)
            pending, get, found = _lookups(target, big)
            lookups.rows.append([name, ms(pending), ms(get), str(found)])
            goals.append(
                Goal(
                    f"ledger: pending() and get() in {big:,} rows, {name}",
                    "<= 50 ms each",
                    f"{ms(pending)} / {ms(get)}",
                    max(pending, get) <= 0.05,
                )
            )
            _reset(target)
        emit(f"[{NAME}] {kill_count} waits SIGKILLed, then resume()")
        killed = _kill_and_resume(folder, kill_count)
        data["kill"] = killed
        processes.rows.append(
            [
                f"{kill_count} waits SIGKILLed, resume() in a new process",
                "SQLite",
                f"{killed['finished']} of {killed['recorded_at_kill']} finished",
                str(killed["starts"]),
                f"{killed['resume_wall']:.1f} s (resume)",
            ]
        )
        goals.append(
            Goal(
                f"ledger: {kill_count} waits SIGKILLed, then resume()",
                f"{kill_count}/{kill_count}, 0 extra starts",
                f"{killed['finished']}/{kill_count}, {killed['starts'] - kill_count} extra",
                killed["finished"] == kill_count and killed["starts"] == kill_count,
            )
        )
        batch = Table(
            f"Ledger: batch of {runs} runs x 2 s at {concurrency} in flight (real loopback)",
            ["ledger", "wall", "against no ledger"],
            notes=["timed_server.py under uvicorn in a subprocess; the default schedule"],
        )
        with server_process("timed_server.py") as server:
            emit(f"[{NAME}] batch {runs} x 2 s at {concurrency}: no ledger")
            bare = asyncio.run(_batch(server.base_url, None, runs, concurrency))
            emit(f"[{NAME}] batch {runs} x 2 s at {concurrency}: SQLite ledger")
            with_ledger = asyncio.run(
                _batch(server.base_url, str(folder / "batch.db"), runs, concurrency)
            )
        batch.rows += [
            ["none", f"{bare:.1f} s", "1.00 x"],
            ["SQLite", f"{with_ledger:.1f} s", f"{with_ledger / bare:.3f} x"],
        ]
        goals.append(
            Goal(
                f"ledger: batch {runs} x 2 s at {concurrency}",
                "within 5 % of no ledger",
                f"{with_ledger / bare:.3f} x",
                with_ledger <= 1.05 * bare,
            )
        )
        data["batch"] = {"bare": bare, "ledger": with_ledger}
    if pg is None:
        latency.notes.append("PostgreSQL: not measured (initdb/pg_ctl not installed)")
    return BenchResult(NAME, [latency, processes, lookups, batch], goals, data)


if __name__ == "__main__":
    os.chdir(ROOT)
    result = run(quick="--quick" in sys.argv)
    emit(result.markdown())
    for goal in result.goals:
        emit(" | ".join(goal.row()))
