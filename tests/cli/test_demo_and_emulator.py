"""`flowinvoke demo` and `flowinvoke emulator serve`."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
from typing import Any

import pytest
from click.testing import CliRunner

import flowinvoke.testing
from flowinvoke.cli import cli
from flowinvoke.testing import DEMO_KEYS

from .conftest import Invoke, one_line


def test_demo_fast(invoke: Invoke) -> None:
    logger = logging.getLogger("flowinvoke")
    before = (logger.level, logger.propagate, list(logger.handlers))
    started = time.monotonic()
    result = invoke(["demo", "--fast"], secrets=False)
    elapsed = time.monotonic() - started
    assert (logger.level, logger.propagate, list(logger.handlers)) == before
    assert result.exit_code == 0, result.output
    out = result.stdout
    for heading in (
        "1. A synchronous run (demo-quick)",
        "2. An asynchronous run, followed until it ends (demo-slow)",
        "3. A failed run (demo-fails)",
        "4. A transient HTTP 503, survived (demo-slow)",
        "5. A run on aitutor-api (wf_demo)",
        "6. A run finished by webhook (demo-slow)",
        "7. A run on Dify, followed on its event stream (demo-dify)",
        "8. A run on Coze, started async and polled (7400000000000000042)",
        "Summary",
    ):
        assert heading in out
    for transition in (": PENDING", ": RUNNING", ": SUCCEEDED"):
        assert transition in out
    assert "caught WorkflowFailedError" in out
    assert "after HTTP 503" in out
    assert "injected 1 fault(s)" in out
    assert "Once upon a time" in out
    assert "the wait woke and confirmed with 1 query" in out
    assert "Bonjour, the stream" in out and "0 poll(s) needed" in out
    assert "A short poem about rivers" in out
    assert "\x1b[" not in out  # no colour codes outside a terminal
    assert elapsed < 5


def test_serve_without_uvicorn(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    result = invoke(["emulator", "serve"])
    assert result.exit_code == 2
    assert 'pip install "flowinvoke[emulator]"' in one_line(result)


def test_serve_wiring(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def fake_serve(emulator: flowinvoke.testing.Emulator, **kwargs: Any) -> None:
        kwargs.pop("on_listening")(f"http://127.0.0.1:{kwargs['port']}")
        calls.append({"workflows": [emulator.workflow(w).id for w in DEMO_KEYS], **kwargs})

    monkeypatch.setattr(flowinvoke.testing, "serve", fake_serve)
    result = invoke(["emulator", "serve", "--port", "8123"], secrets=False)
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8123" in result.stdout
    for workflow, key in DEMO_KEYS.items():
        assert workflow in result.stdout
        assert key in result.stdout
    assert calls == [
        {
            "workflows": list(DEMO_KEYS),
            "host": "127.0.0.1",
            "port": 8123,
            "allow_non_loopback": False,
        }
    ]


def test_serve_refuses_a_public_address(invoke: Invoke) -> None:
    result = invoke(["emulator", "serve", "--host", "0.0.0.0"], secrets=False)
    assert result.exit_code == 2
    line = result.stderr.splitlines()[-1]
    assert "loopback" in line
    assert "--allow-non-loopback" in line
    assert "allow_non_loopback=True" not in line
    assert result.stdout == ""


def test_serve_on_a_taken_port_fails_before_its_banner(invoke: Invoke) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke(["emulator", "serve", "--port", str(port)], secrets=False)
    assert result.exit_code == 2
    assert result.stdout == ""  # no banner announcing a server that never ran
    assert f"cannot serve on http://127.0.0.1:{port}" in one_line(result)


def test_stats_of_no_emulator_is_one_line_and_exit_3(invoke: Invoke) -> None:
    port = _free_port()  # nothing listens there
    result = invoke(["emulator", "stats", "--url", f"http://127.0.0.1:{port}"], secrets=False)
    assert result.exit_code == 3
    assert f"cannot read the emulator's stats at http://127.0.0.1:{port}" in one_line(result)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert process.poll() is None, "the emulator server exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the emulator server did not start")


def test_serve_for_real_and_run_against_it() -> None:
    port = _free_port()
    command = [sys.executable, "-m", "flowinvoke.cli", "emulator", "serve", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_port(port, process)
        result = CliRunner().invoke(
            cli,
            [
                "run",
                "--base-url",
                f"http://127.0.0.1:{port}",
                "--api-key",
                DEMO_KEYS["demo-quick"],
                "-i",
                "text=over a socket",
                "--json",
            ],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["status"] == "SUCCEEDED"
        url = ["--url", f"http://127.0.0.1:{port}"]
        counted = CliRunner().invoke(cli, ["emulator", "stats", *url, "--json"])
        assert counted.exit_code == 0, counted.output
        counts = json.loads(counted.stdout)
        assert counts["runs_started_by_workflow"] == {"demo-quick": 1}
        assert counts["requests"] == counts["runs_started"] + counts["queries"]
        text = CliRunner().invoke(cli, ["emulator", "stats", *url]).stdout
        assert text.splitlines()[0] == "runs started  1 (demo-quick 1)"
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}" in out.decode()
