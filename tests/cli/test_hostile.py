"""A hostile server: control sequences and the key in its answers, outputs that cannot be
written, and input lines that cannot be run. Every command stays safe and makes progress."""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

import flowinvoke
from flowinvoke.cli import _batch, _live, _results, _settings
from flowinvoke.testing import Emulator, Workflow

from ..policies import SHORT_JITTERED_POLL, SHORT_JITTERED_RETRY
from .conftest import Invoke, one_line

ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x1b[0m \x9b31m \x08\r"
ANSI_KEY = "sk-cli-ansi-58d2aa"
FAILING_KEY = "sk-cli-ansi-fails-0b9e"
ECHO_KEY = "sk-cli-echo-key-6c1d4f"
POISON_KEY = "sk-cli-poison-27ab90"
RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\x08", "\r")


LONE = "@@lone-surrogate@@"


def _poison_output(inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    return {"text": LONE} if "bad" in inputs else {"double": inputs["n"] * 2}


class _LoneSurrogates(httpx.BaseTransport):
    """The emulator's answers with `LONE` turned into the JSON escape of a lone surrogate."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        body = response.read().replace(LONE.encode(), b"\\ud800")
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx.Response(response.status_code, headers=headers, content=body)


def _client(emulator: Emulator, settings: _settings.Settings, **options: Any) -> Any:
    return flowinvoke.Client(
        **settings.client_kwargs(),
        transport=_LoneSurrogates(emulator.transport()),
        poll=SHORT_JITTERED_POLL,
        retry=SHORT_JITTERED_RETRY,
        **options,
    )


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, emulator: Emulator) -> Emulator:
    """As conftest's `served`, with lone surrogates in the answers where `LONE` was."""
    monkeypatch.setattr(_settings, "make_client", lambda settings, **_: _client(emulator, settings))
    return emulator


@pytest.fixture
def hostile(served: Emulator) -> Emulator:
    served.add_workflow(
        Workflow(
            id="ansi",
            api_key=ANSI_KEY,
            name=f"name{ESCAPES}",
            output={"text": f"hello {ESCAPES}", "nested": [ESCAPES]},
        )
    )
    served.add_workflow(
        Workflow(
            id="ansi-fails",
            api_key=FAILING_KEY,
            final_status="FAILED",
            error_message=f"boom {ESCAPES}",
        )
    )
    served.add_workflow(
        Workflow(id="echo", api_key=ECHO_KEY, output={"said": f"your key is {ECHO_KEY}!"})
    )
    served.add_workflow(Workflow(id="poison", api_key=POISON_KEY, output=_poison_output))
    return served


@pytest.fixture
def batch_hostile(monkeypatch: pytest.MonkeyPatch, hostile: Emulator) -> Emulator:
    monkeypatch.setattr(_batch, "make_client", partial(_client, hostile))
    return hostile


def _assert_no_controls(*texts: str) -> None:
    for text in texts:
        for control in RAW_CONTROLS:
            assert control not in text, f"{control!r} reached the terminal: {text!r}"


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_server_control_sequences_never_reach_the_terminal(
    hostile: Emulator, invoke: Invoke, extra: list[str]
) -> None:
    result = invoke(["run", "--api-key", ANSI_KEY, "-i", "x=1", *extra])
    assert result.exit_code == 0, result.stderr
    _assert_no_controls(result.stdout, result.stderr)
    assert "\\x1b]0;pwned" in result.stdout or "\\u001b]0;pwned" in result.stdout
    if extra:
        assert json.loads(result.stdout)["output"]["text"] == f"hello {ESCAPES}"

    failed = invoke(["run", "--api-key", FAILING_KEY, "-i", "x=1", *extra])
    assert failed.exit_code == 1
    _assert_no_controls(failed.stdout, failed.stderr)
    assert "boom" in failed.stderr


def test_a_key_the_server_echoes_is_masked_everywhere(
    batch_hostile: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    for extra in ([], ["--json"]):
        result = invoke(["run", "--api-key", ECHO_KEY, "-i", "x=1", *extra])
        assert result.exit_code == 0, result.stderr
        assert ECHO_KEY not in result.stdout + result.stderr
        assert "your key is ****!" in result.stdout
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"x": 1}\n', "utf-8")
    out = tmp_path / "out.jsonl"
    result = invoke(["batch", "--api-key", ECHO_KEY, str(inputs), "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert ECHO_KEY not in out.read_text("utf-8")
    assert json.loads(out.read_text("utf-8"))["output"] == {"said": "your key is ****!"}


def test_batch_results_hold_no_raw_control_characters(
    batch_hostile: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"x": 1}\n', "utf-8")
    out = tmp_path / "out.jsonl"
    result = invoke(["batch", "--api-key", ANSI_KEY, str(inputs), "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    _assert_no_controls(out.read_text("utf-8"))
    assert json.loads(out.read_text("utf-8"))["output"]["text"] == f"hello {ESCAPES}"


def test_poison_lines_become_error_lines_and_resume_does_not_loop(
    batch_hostile: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    deep = '{"x": ' + "[" * 10_000 + "]" * 10_000 + "}"
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(f'{deep}\n{{"bad": 1}}\n{{"n": 2}}\n', "utf-8")
    out = tmp_path / "out.jsonl"
    args = ["batch", "--api-key", POISON_KEY, str(inputs), "--out", str(out)]
    result = invoke(args)
    assert result.exit_code == 1, result.stderr
    by_index = {line["index"]: line for line in map(json.loads, out.read_text().splitlines())}
    assert sorted(by_index) == [0, 1, 2]
    assert by_index[0]["error"]["type"] == "InvalidInput"
    assert "nested too deeply" in by_index[0]["error"]["message"]
    # A lone surrogate is written as the JSON escape the server sent: valid JSON, whole.
    assert by_index[1]["error"] is None
    assert by_index[1]["output"] == {"text": "\ud800"}
    assert b"\\ud800" in out.read_bytes()
    assert by_index[2]["output"] == {"double": 4}
    starts = batch_hostile.counters.total_invokes
    assert starts == 2

    again = invoke([*args, "--resume"])
    assert again.exit_code == 0, again.stderr
    assert "0 done" in again.stderr
    assert batch_hostile.counters.total_invokes == starts  # nothing started again


def test_run_prints_an_output_holding_a_lone_surrogate(hostile: Emulator, invoke: Invoke) -> None:
    for extra in ([], ["--json"]):
        result = invoke(["run", "--api-key", POISON_KEY, "-i", "bad=1", *extra])
        assert result.exit_code == 0, result.stderr
        assert "\\ud800" in result.stdout


def test_the_progress_bar_counts_runs_from_their_start(
    batch_hostile: Emulator, invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int]] = []

    def record(self: Any, tally: Any, running: int | None = None) -> None:
        seen.append((tally.done, tally.in_flight if running is None else running))

    monkeypatch.setattr(_live.BatchProgressBar, "update", record)
    batch_hostile.add_workflow(Workflow(id="slowish", api_key="sk-cli-slowish-1", polls=3))
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(f'{{"n": {n}}}\n' for n in range(4)), "utf-8")
    out = tmp_path / "out.jsonl"
    args = ["batch", "--api-key", "sk-cli-slowish-1", str(inputs), "--out", str(out), "-c", "4"]
    result = invoke(args)
    assert result.exit_code == 0, result.stderr
    before_any_done = [running for done, running in seen if done == 0]
    assert max(before_any_done, default=0) >= 1, seen  # runs show as running from the start
    assert seen[-1] == (4, 0)


def test_a_connection_error_names_the_url_it_tried(
    monkeypatch: pytest.MonkeyPatch, invoke: Invoke
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there

    def make_client(settings: _settings.Settings, **_: Any) -> flowinvoke.Client:
        return flowinvoke.Client(**settings.client_kwargs(), retry=SHORT_JITTERED_RETRY)

    monkeypatch.setattr(_settings, "make_client", make_client)
    url = f"http://127.0.0.1:{port}"
    result = invoke(["get", "run-1", "--api-key", ANSI_KEY, "--base-url", url])
    assert result.exit_code == 3
    assert f"(tried {url})" in one_line(result)


def test_a_result_that_cannot_be_encoded_becomes_an_error_line() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    line = {"index": 7, "run_id": "run-7", "status": "SUCCEEDED", "output": deep, "error": None}
    written = json.loads(_results._encode(line))
    assert written["index"] == 7
    assert written["run_id"] == "run-7"
    assert written["output"] is None
    assert written["error"]["type"] == "UnwritableResult"
