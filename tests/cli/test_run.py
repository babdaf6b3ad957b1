"""`flowinvoke run`, `get` and `wait` against the in-process emulator: output and exit codes."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from flowinvoke import RunStatus, WorkflowRun
from flowinvoke._core.secret import Redactor
from flowinvoke.cli import _settings
from flowinvoke.providers import get_provider
from flowinvoke.testing import DEMO_KEYS, Emulator, Fault

from .conftest import SECRET, WRONG_KEY, Invoke, one_line

QUICK = ["--api-key", DEMO_KEYS["demo-quick"]]
SLOW = ["--api-key", DEMO_KEYS["demo-slow"]]


def test_run_succeeds_readable(served: Emulator, invoke: Invoke) -> None:
    result = invoke(["run", "--api-key", SECRET, "-i", "text=hello"])
    assert result.exit_code == 0, result.stderr
    assert "SUCCEEDED" in result.stdout
    assert "Run id" in result.stdout
    assert "0.25 credits" in result.stdout
    assert '"echo"' in result.stdout  # the output, pretty-printed
    assert "SUCCEEDED" in result.stderr  # the status line (plain: not a terminal)


def test_run_json(served: Emulator, invoke: Invoke) -> None:
    result = invoke(["run", *QUICK, "-i", "text=hi there", "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "SUCCEEDED"
    assert data["id"]
    assert data["output"]["fields"] == ["text"]
    assert "raw" not in data
    assert WorkflowRun.model_validate(data).succeeded


def test_input_values_are_json_or_strings(served: Emulator, invoke: Invoke) -> None:
    args = ["-i", "n=3", "-i", "ok=true", "-i", "name=Ada", "-i", 's="42"', "-i", "x=NaN"]
    result = invoke(["run", *QUICK, *args, "-i", "tags=[1, 2]", "--json"])
    assert result.exit_code == 0, result.stderr
    sent = json.loads(json.loads(result.stdout)["output"]["input_json"])
    assert sent == {"n": 3, "ok": True, "name": "Ada", "s": "42", "x": "NaN", "tags": [1, 2]}


def test_input_json_file_and_stdin(served: Emulator, invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "input.json"
    path.write_text('{"a": 1, "b": "two"}', encoding="utf-8")
    result = invoke(["run", *QUICK, "--input-json", f"@{path}", "-i", "b=3", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(json.loads(result.stdout)["output"]["input_json"]) == {"a": 1, "b": 3}

    result = invoke(["run", *QUICK, "--input-json", "@-", "--json"], stdin='{"c": null}')
    assert result.exit_code == 0, result.stderr
    assert json.loads(json.loads(result.stdout)["output"]["input_json"]) == {"c": None}


def test_failed_run_exits_1(served: Emulator, invoke: Invoke) -> None:
    result = invoke(["run", "--api-key", DEMO_KEYS["demo-fails"], "-i", "x=1"])
    assert result.exit_code == 1
    assert "FAILED" in result.stdout
    assert "Demo failure" in result.stdout
    assert "ended with status FAILED" in result.stderr


def test_failed_run_json_exits_1(served: Emulator, invoke: Invoke) -> None:
    result = invoke(["run", "--api-key", DEMO_KEYS["demo-fails"], "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "FAILED"


def test_bad_key_exits_3(served: Emulator, invoke: Invoke) -> None:
    result = invoke(["run", "--api-key", WRONG_KEY, "-i", "x=1"])
    assert result.exit_code == 3
    assert "AuthenticationError" in one_line(result)
    assert result.stdout == ""


def test_injected_401_on_query_exits_3_with_run_id(served: Emulator, invoke: Invoke) -> None:
    served.inject(Fault(kind="server_error", status=401, operation="query"))
    result = invoke(["run", *SLOW])
    assert result.exit_code == 3
    run_id = served.runs()[-1].run_id
    assert run_id in result.stderr


def test_transient_503_is_retried(served: Emulator, invoke: Invoke) -> None:
    served.inject(Fault(kind="server_error", status=503, operation="query", workflow="demo-slow"))
    result = invoke(["run", *SLOW, "--json"])
    assert result.exit_code == 0, result.stderr
    assert served.counters.faults["server_error"] == 1


def test_wait_timeout_exits_4_and_resumes(served: Emulator, invoke: Invoke) -> None:
    result = invoke(["run", *SLOW, "-i", "topic=tea", "--timeout", "0.15"])
    assert result.exit_code == 4
    run_id = served.runs()[-1].run_id
    assert f"gave up waiting for run {run_id}" in result.stderr
    assert f"resume with: flowinvoke wait {run_id} --provider gptbots" in result.stderr
    assert result.stdout == ""

    resumed = invoke(["wait", run_id, *SLOW, "--timeout", "5", "--json"])
    assert resumed.exit_code == 0, resumed.stderr
    data = json.loads(resumed.stdout)
    assert (data["id"], data["status"]) == (run_id, "SUCCEEDED")
    assert "RUNNING" in resumed.stderr or "SUCCEEDED" in resumed.stderr


def test_wait_timeout_on_wait_exits_4(served: Emulator, invoke: Invoke) -> None:
    started = invoke(["run", *SLOW, "--no-wait", "--json"])
    run_id = json.loads(started.stdout)["id"]
    result = invoke(["wait", run_id, *SLOW, "--timeout", "0.05", "--base-url", "http://localhost"])
    assert result.exit_code == 4
    assert (
        f"flowinvoke wait {run_id} --provider gptbots --base-url http://localhost" in result.stderr
    )


def test_no_wait_then_get_then_wait(served: Emulator, invoke: Invoke) -> None:
    started = invoke(["run", *SLOW, "-i", "topic=tea", "--no-wait"])
    assert started.exit_code == 0, started.stderr
    assert "PENDING" in started.stdout
    run_id = served.runs()[-1].run_id
    assert run_id in started.stdout
    assert f"follow it with: flowinvoke wait {run_id}" in started.stderr
    assert served.counters.queries[run_id] == 0  # invoke only

    got = invoke(["get", run_id, *SLOW, "--json"])
    assert got.exit_code == 0, got.stderr
    assert json.loads(got.stdout)["status"] in ("PENDING", "RUNNING")

    done = invoke(["wait", run_id, *SLOW])
    assert done.exit_code == 0, done.stderr
    assert "SUCCEEDED" in done.stdout
    assert "Report on" in done.stdout

    got = invoke(["get", run_id, *SLOW])
    assert got.exit_code == 0
    assert "SUCCEEDED" in got.stdout


def test_get_failed_run_exits_1(served: Emulator, invoke: Invoke) -> None:
    started = invoke(["run", "--api-key", DEMO_KEYS["demo-fails"], "--json"])
    run_id = json.loads(started.stdout)["id"]
    result = invoke(["get", run_id, "--api-key", DEMO_KEYS["demo-fails"]])
    assert result.exit_code == 1
    assert "FAILED" in result.stdout


def test_get_unknown_run_exits_3(served: Emulator, invoke: Invoke) -> None:
    result = invoke(["get", "no-such-run", *QUICK])
    assert result.exit_code == 3
    assert "no-such-run" in one_line(result)


def test_aitutor_run(served: Emulator, invoke: Invoke) -> None:
    args = ["--provider", "aitutor", "--workflow-id", "wf_demo", "--api-key", DEMO_KEYS["wf_demo"]]
    result = invoke(["run", *args, "-i", "topic=dragons", "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["provider"] == "aitutor"
    assert "dragons" in data["output"]["story"]

    no_wait = invoke(["run", *args, "--no-wait"])
    assert no_wait.exit_code == 0  # aitutor answers finished runs even so
    assert "SUCCEEDED" in no_wait.stdout


def test_get_on_aitutor_is_a_usage_error(served: Emulator, invoke: Invoke) -> None:
    args = ["--provider", "aitutor", "--workflow-id", "wf_demo", "--api-key", DEMO_KEYS["wf_demo"]]
    result = invoke(["get", "run_1", *args])
    assert result.exit_code == 2
    assert "aitutor" in one_line(result)


def test_env_settings_are_used(
    served: Emulator, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWINVOKE_API_KEY", SECRET)
    monkeypatch.setenv("FLOWINVOKE_PROVIDER", "gptbots")
    result = invoke(["run", "-i", "x=1", "--json"])
    assert result.exit_code == 0, result.stderr


class _Interrupting:
    """A client whose run is interrupted (Ctrl-C) once it has an id."""

    provider = get_provider("gptbots")
    base_url = "https://api.gptbots.ai"
    _config = SimpleNamespace(redactor=lambda: Redactor(SECRET))

    def __enter__(self) -> _Interrupting:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run(self, data: object, *, on_update: object, **_: object) -> WorkflowRun:
        assert callable(on_update)
        on_update(WorkflowRun(id="run-ctrl-c", status=RunStatus.PENDING, provider="gptbots"))
        raise KeyboardInterrupt


def test_ctrl_c_exits_130_with_run_id(monkeypatch: pytest.MonkeyPatch, invoke: Invoke) -> None:
    monkeypatch.setattr(_settings, "make_client", lambda settings, **_: _Interrupting())
    result = invoke(["run", "--api-key", SECRET, "--region", "jp"])
    assert result.exit_code == 130
    line = result.stderr.strip().splitlines()[-1]  # after the progress line
    assert "interrupted; run run-ctrl-c may still be running" in line
    assert line.endswith("resume with: flowinvoke wait run-ctrl-c --provider gptbots --region jp")


def test_verbose_logs_retries(served: Emulator, invoke: Invoke) -> None:
    served.inject(Fault(kind="server_error", status=503, operation="query", workflow="demo-slow"))
    logger = logging.getLogger("flowinvoke")
    before = (logger.level, list(logger.handlers))
    result = invoke(["-v", "run", *SLOW, "--json"])
    assert result.exit_code == 0, result.stderr
    assert "flowinvoke: INFO retrying gptbots query" in result.stderr
    assert (logger.level, list(logger.handlers)) == before
