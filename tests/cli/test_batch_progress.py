"""The batch bar's time left, and the cost line every batch ends with (issue 23)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from flowinvoke.cli import _live
from flowinvoke.testing import Emulator, Fault

from .conftest import Invoke
from .test_batch import MIXED, batch_served, built, read_results, write_inputs

__all__ = ["batch_served", "built"]  # fixtures used by the tests below


def test_time_left_comes_from_the_measured_rate_and_the_inputs_left() -> None:
    # 7 of 200 done at 1.9/s: 193 left take about 100 s (rich's own estimate said 3 s).
    assert _live.seconds_left(200, 7, 7 / 1.9) == 193 / 1.9
    assert _live.seconds_left(200, 0, 5.0) is None
    assert _live.seconds_left(200, 200, 5.0) == 0


def test_the_bar_shows_the_time_left_at_the_rate_it_shows() -> None:
    console = Console(force_terminal=True, width=200, record=True, highlight=False)
    progress = _live._make_progress(console, eta=True)
    now = [100.0]
    progress.get_time = lambda: now[0]
    task = progress.add_task("batch", total=200, failed=0, running=0)
    now[0] += 1.0
    progress.update(task, completed=5)  # a burst: five at once
    now[0] += 2.684
    progress.update(task, completed=7)
    console.print(progress.make_tasks_table(progress.tasks))
    row = console.export_text()
    assert "1.9/s" in row
    assert "left 1m41s" in " ".join(row.split())


def test_every_batch_ends_with_its_cost_in_text_and_json(
    batch_served: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    batch_served.inject(Fault("server_error", operation="query"))  # one query retried
    inputs = write_inputs(tmp_path / "in.jsonl", 6)
    out = tmp_path / "out.jsonl"
    result = invoke(["batch", *MIXED, str(inputs), "--out", str(out), "-c", "3", "--json"])
    assert result.exit_code == 1, result.stderr
    queries = batch_served.counters.requests_by_operation["query"]  # the failed one too
    last = result.stderr.strip().splitlines()[-1]
    assert last.endswith(f"; cost: 6 runs (0 resumed, 6 started), {queries} queries, 1 retry")
    summary = json.loads(result.stdout)
    assert summary == {
        "exit_code": 1,
        "done": 6,
        "succeeded": summary["succeeded"],
        "failed": 6 - summary["succeeded"],
        "skipped": 0,
        "seconds": summary["seconds"],
        "runs_started": 6,
        "runs_resumed": 0,
        "queries": queries,
        "retries": 1,
    }
    assert len(read_results(out)) == 6


def test_a_resumed_batch_counts_the_runs_it_waited_for(
    batch_served: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    inputs = write_inputs(tmp_path / "in.jsonl", 4)
    out = tmp_path / "out.jsonl"
    journal = Path(f"{out}.started")
    with batch_served.client("batch-mixed") as client:
        started = [client.invoke({"n": n}, async_mode=True) for n in (0, 1)]
    journal.write_text(
        "".join(json.dumps({"index": n, "run_id": r.id}) + "\n" for n, r in enumerate(started))
    )
    result = invoke(["batch", *MIXED, str(inputs), "--out", str(out), "--resume", "--json"])
    summary = json.loads(result.stdout)
    assert (summary["runs_resumed"], summary["runs_started"]) == (2, 2)
    assert "cost: 4 runs (2 resumed, 2 started)" in result.stderr
    assert sorted(line["index"] for line in read_results(out)) == [0, 1, 2, 3]
