"""`flowinvoke batch` against the in-process emulator: results file, resume, Ctrl-C, exits."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import flowinvoke
from flowinvoke.cli import _batch, _settings
from flowinvoke.testing import DEMO_KEYS, Emulator, Workflow

from ..policies import SHORT_JITTERED_POLL, SHORT_JITTERED_RETRY
from .conftest import SECRET, WRONG_KEY, Invoke, one_line

BATCH_KEY = "sk-cli-batch-0c4e2a"
MIXED = ["--api-key", BATCH_KEY]
QUICK = ["--api-key", DEMO_KEYS["demo-quick"]]


def _mixed_output(inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    """Input {"n": k}: the run fails when k % 7 == 3, else doubles k."""
    if inputs["n"] % 7 == 3:
        raise RuntimeError(f"no luck with {inputs['n']}")
    return {"double": inputs["n"] * 2}


@pytest.fixture
def built() -> list[dict[str, Any]]:
    """The client options of each client the batch command built."""
    return []


@pytest.fixture
def batch_served(
    monkeypatch: pytest.MonkeyPatch, emulator: Emulator, built: list[dict[str, Any]]
) -> Emulator:
    """Point `flowinvoke batch` at `emulator`, which also serves "batch-mixed"."""
    emulator.add_workflow(
        Workflow(id="batch-mixed", api_key=BATCH_KEY, output=_mixed_output, polls=1)
    )

    def make_client(
        settings: _settings.Settings,
        *,
        rate_limit: float | None,
        max_connections: int,
        hooks: flowinvoke.Hooks | None = None,
    ) -> flowinvoke.Client:
        built.append({"rate_limit": rate_limit, "max_connections": max_connections})
        return flowinvoke.Client(
            **settings.client_kwargs(),
            transport=emulator.transport(),
            poll=SHORT_JITTERED_POLL,
            retry=SHORT_JITTERED_RETRY,
            rate_limit=rate_limit,
            max_connections=max_connections,
            hooks=hooks,
        )

    monkeypatch.setattr(_batch, "make_client", make_client)
    return emulator


def write_inputs(path: Path, count: int) -> Path:
    path.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(count)), "utf-8")
    return path


def read_results(path: Path) -> list[dict[str, Any]]:
    """Every line of a results file, parsed (each must be whole JSON)."""
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), "torn last line"
    return [json.loads(line) for line in data.decode().splitlines()]


def failing(n: int) -> bool:
    return n % 7 == 3


def test_mixed_batch_writes_every_index_once_and_exits_1(
    batch_served: Emulator, invoke: Invoke, tmp_path: Path, built: list[dict[str, Any]]
) -> None:
    inputs = write_inputs(tmp_path / "in.jsonl", 30)
    out = tmp_path / "out.jsonl"
    result = invoke(["batch", *MIXED, str(inputs), "--out", str(out), "-c", "8"])
    assert result.exit_code == 1, result.stderr
    lines = read_results(out)
    assert len(lines) == 30
    assert sorted(line["index"] for line in lines) == list(range(30))
    for line in lines:
        n = line["index"]
        assert set(line) == {"index", "run_id", "status", "output", "error"}
        assert line["run_id"]
        if failing(n):
            assert line["status"] == "FAILED"
            assert line["error"]["type"] == "WorkflowFailedError"
            assert f"no luck with {n}" in line["error"]["message"]
        else:
            assert line["status"] == "SUCCEEDED"
            assert line["output"] == {"double": 2 * n}
            assert line["error"] is None
    failed = sum(failing(n) for n in range(30))
    summary = one_line(result)
    assert f"30 done, {30 - failed} succeeded, {failed} failed" in summary
    assert batch_served.counters.total_invokes == 30
    assert result.stdout == ""
    assert BATCH_KEY not in result.stderr
    assert built == [{"rate_limit": None, "max_connections": 8}]


def test_all_succeeded_exits_0_with_rate_limit_and_stdin(
    batch_served: Emulator, invoke: Invoke, tmp_path: Path, built: list[dict[str, Any]]
) -> None:
    out = tmp_path / "out.jsonl"
    stdin = "".join(json.dumps({"text": f"t{n}"}) + "\n" for n in range(12))
    args = ["batch", *QUICK, "-", "--out", str(out), "--rate", "500", "--user-id", "u-1"]
    result = invoke(args, stdin=stdin)
    assert result.exit_code == 0, result.stderr
    lines = read_results(out)
    assert sorted(line["index"] for line in lines) == list(range(12))
    assert all(line["status"] == "SUCCEEDED" and line["error"] is None for line in lines)
    assert "12 done, 12 succeeded, 0 failed" in one_line(result)
    assert built == [{"rate_limit": 500.0, "max_connections": 10}]
    assert {run.user_id for run in batch_served.runs()} == {"u-1"}


def test_resume_skips_done_indices_and_cuts_a_torn_line(
    batch_served: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    inputs = write_inputs(tmp_path / "in.jsonl", 30)
    out = tmp_path / "out.jsonl"
    args = ["batch", *MIXED, str(inputs), "--out", str(out), "-c", "6"]
    assert invoke(args).exit_code == 1
    kept = out.read_bytes().splitlines(keepends=True)[:10]
    out.write_bytes(b"".join(kept) + b'{"index": 29, "run_id": "ab')  # a crash mid-line
    kept_indices = {json.loads(line)["index"] for line in kept}

    result = invoke([*args, "--resume"])
    assert result.exit_code == 1, result.stderr
    lines = read_results(out)
    assert len(lines) == 30
    assert sorted(line["index"] for line in lines) == list(range(30))
    assert "20 done" in result.stderr
    assert "10 skipped" in result.stderr
    counters = batch_served.counters
    for n in range(30):
        assert counters.invokes_for_input({"n": n}) == (1 if n in kept_indices else 2), n
    assert counters.total_invokes == 50

    again = invoke([*args, "--resume"])  # nothing left to do
    assert again.exit_code == 0, again.stderr
    assert "0 done" in again.stderr
    assert len(read_results(out)) == 30
    assert counters.total_invokes == 50


def test_ctrl_c_leaves_a_valid_file_that_resume_completes(
    batch_served: Emulator, invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = write_inputs(tmp_path / "in.jsonl", 30)
    out = tmp_path / "out.jsonl"
    args = ["batch", *MIXED, str(inputs), "--out", str(out), "-c", "5"]
    real = _batch.result_line
    calls = 0

    def interrupt_at_the_eighth(item: flowinvoke.BatchItem, index: int) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 8:
            raise KeyboardInterrupt
        return real(item, index)

    monkeypatch.setattr(_batch, "result_line", interrupt_at_the_eighth)
    result = invoke(args)
    assert result.exit_code == 130
    assert "interrupted: 7 results written" in result.stderr
    assert "--resume" in result.stderr
    assert len(read_results(out)) == 7
    started = batch_served.counters.total_invokes
    assert started < 30  # the batch stopped drawing inputs

    monkeypatch.setattr(_batch, "result_line", real)
    result = invoke([*args, "--resume"])
    assert result.exit_code == 1, result.stderr
    lines = read_results(out)
    assert sorted(line["index"] for line in lines) == list(range(30))


def test_existing_output_needs_resume(
    batch_served: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    inputs = write_inputs(tmp_path / "in.jsonl", 3)
    out = tmp_path / "out.jsonl"
    out.write_text('{"index": 0}\n', "utf-8")
    result = invoke(["batch", *QUICK, str(inputs), "--out", str(out)])
    assert result.exit_code == 2
    assert "--resume" in one_line(result)
    assert out.read_text("utf-8") == '{"index": 0}\n'
    assert batch_served.counters.total_invokes == 0

    out.write_text("")  # an empty file is fine
    assert invoke(["batch", *QUICK, str(inputs), "--out", str(out)]).exit_code == 0
    assert len(read_results(out)) == 3


def test_resume_refuses_a_file_of_something_else(
    batch_served: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    inputs = write_inputs(tmp_path / "in.jsonl", 3)
    out = tmp_path / "out.jsonl"
    out.write_text("id,name\n1,a\n", "utf-8")
    result = invoke(["batch", *QUICK, str(inputs), "--out", str(out), "--resume"])
    assert result.exit_code == 2
    assert "not a result line" in one_line(result)


def test_bad_input_lines_become_error_lines(
    batch_served: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"n": 1}\nnot json\n[1, 2]\n\n{"n": 2}\n{"x": NaN}\n"text"\n', "utf-8")
    out = tmp_path / "out.jsonl"
    result = invoke(["batch", *MIXED, str(inputs), "--out", str(out)])
    assert result.exit_code == 1, result.stderr
    by_index = {line["index"]: line for line in read_results(out)}
    assert sorted(by_index) == [0, 1, 2, 4, 5, 6]  # line 3 is blank: skipped, still counted
    assert by_index[0]["output"] == {"double": 2}
    assert by_index[4]["output"] == {"double": 4}
    for index in (1, 2, 6):
        assert by_index[index]["error"]["type"] == "InvalidInput"
        assert by_index[index]["status"] is None
        assert by_index[index]["run_id"] is None
    assert "not valid JSON" in by_index[1]["error"]["message"]
    assert "expected a JSON object, got an array" in by_index[2]["error"]["message"]
    assert by_index[5]["error"]["type"] == "ValueError"  # NaN: no JSON value
    assert batch_served.counters.total_invokes == 2


def test_usage_errors_exit_2(batch_served: Emulator, invoke: Invoke, tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path / "in.jsonl", 3)
    out = tmp_path / "out.jsonl"
    for extra in (["--concurrency", "0"], ["--rate", "0"], ["--timeout", "-1"]):
        result = invoke(["batch", *QUICK, str(inputs), "--out", str(out), *extra])
        assert result.exit_code == 2, extra
        assert extra[0] in one_line(result)
    result = invoke(["batch", *QUICK, str(tmp_path / "missing.jsonl"), "--out", str(out)])
    assert result.exit_code == 2
    assert "cannot read" in one_line(result)
    result = invoke(["batch", *QUICK, str(inputs)])
    assert result.exit_code == 2
    assert "--out" in one_line(result)
    result = invoke(["batch", str(inputs), "--out", str(out)])  # no key anywhere
    assert result.exit_code == 2
    assert "no API key" in one_line(result)
    assert not out.exists() or out.read_bytes() == b""
    assert batch_served.counters.total_invokes == 0


def test_refused_key_stops_at_once_and_never_leaks(
    batch_served: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    inputs = write_inputs(tmp_path / "in.jsonl", 200)
    out = tmp_path / "out.jsonl"
    result = invoke(["batch", "--api-key", WRONG_KEY, str(inputs), "--out", str(out), "-c", "4"])
    assert result.exit_code == 3
    assert "AuthenticationError" in result.stderr
    assert "--resume" in result.stderr
    assert read_results(out) == []  # refused inputs are left for --resume
    assert batch_served.counters.requests < 50  # stopped early, not 200 refusals
    for text in (result.stdout, result.stderr, out.read_text("utf-8")):
        assert WRONG_KEY not in text
        assert SECRET not in text


def test_every_input_failing_with_an_api_error_exits_3(
    batch_served: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    batch_served.add_workflow(
        Workflow(id="needs-q", api_key="sk-cli-needs-q-91", required_inputs=("q",))
    )
    inputs = write_inputs(tmp_path / "in.jsonl", 5)
    out = tmp_path / "out.jsonl"
    result = invoke(["batch", "--api-key", "sk-cli-needs-q-91", str(inputs), "--out", str(out)])
    assert result.exit_code == 3, result.stderr
    lines = read_results(out)
    assert len(lines) == 5
    assert {line["error"]["type"] for line in lines} == {"BadRequestError"}
    assert "sk-cli-needs-q-91" not in result.stderr + out.read_text("utf-8")


def test_progress_bar_on_a_terminal(
    batch_served: Emulator, invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def terminal() -> Console:
        return Console(stderr=True, force_terminal=True, width=120, highlight=False)

    monkeypatch.setattr(_batch, "err_console", terminal)
    inputs = write_inputs(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out.jsonl"
    result = invoke(["batch", *MIXED, str(inputs), "--out", str(out), "-c", "4"])
    assert result.exit_code == 1, result.stderr
    assert len(read_results(out)) == 20
    assert "/20" in result.stderr  # done of total: the input file was counted
    assert "20 done" in result.stderr


def test_configuration_error_at_the_first_run_stops_with_2(
    batch_served: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    inputs = write_inputs(tmp_path / "in.jsonl", 50)
    out = tmp_path / "out.jsonl"
    aitutor = ["--provider", "aitutor", "--api-key", DEMO_KEYS["wf_demo"]]
    result = invoke(["batch", *aitutor, str(inputs), "--out", str(out), "-c", "2"])
    assert result.exit_code == 2
    assert "needs --workflow-id" in result.stderr
    assert read_results(out) == []
    assert batch_served.counters.requests == 0

    result = invoke(
        ["batch", *aitutor, "--workflow-id", "wf_demo", str(inputs), "--out", str(out), "--resume"]
    )
    assert result.exit_code == 0, result.stderr
    assert sorted(line["index"] for line in read_results(out)) == list(range(50))
