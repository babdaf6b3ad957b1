"""Bad flags and bad settings: one line on standard error, exit 2, no traceback, no key."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flowinvoke.cli import main
from flowinvoke.testing import Emulator

from .conftest import SECRET, Invoke, one_line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--input", "nokey"], "expected key=value"),
        (["--input", "=3"], "expected key=value"),
        (["--input-json", "{"], "not valid JSON"),
        (["--input-json", "[1, 2]"], "expected a JSON object, got list"),
        (["--input-json", "@/nonexistent/input.json"], "cannot read"),
        (["--timeout", "-1"], "--timeout"),
        (["--timeout", "0"], "--timeout"),
        (["--timeout", "soon"], "--timeout"),
        (["--auth-scheme", "basic"], "--auth-scheme"),
        (["--bogus"], "No such option"),
        (["--provider", "nope"], "unknown provider 'nope'"),
        (["--base-url", "ftp://example.com"], "--base-url 'ftp://example.com'"),
        (["--base-url", "http://example.com"], "unencrypted"),
        (["--base-url", "http://example.com"], "pass --allow-insecure-http if"),
        (["--provider", "aitutor"], "needs --workflow-id"),
    ],
)
def test_bad_flags(served: Emulator, invoke: Invoke, args: list[str], expected: str) -> None:
    result = invoke(["run", "--api-key", SECRET, *args])
    assert result.exit_code == 2
    line = one_line(result)
    assert expected in line
    for python_name in ("allow_insecure_http", "workflow_id", "base_url", "api_key="):
        assert python_name not in line, "a message names a Python argument, not the flag"
    assert result.stdout == ""
    assert served.counters.requests == 0


def test_missing_key(served: Emulator, invoke: Invoke) -> None:
    result = invoke(["run", "-i", "x=1"])
    assert result.exit_code == 2
    assert "no API key: pass --api-key or set FLOWINVOKE_API_KEY" in one_line(result)


def test_missing_key_with_the_real_factory(invoke: Invoke) -> None:
    result = invoke(["wait", "run-1"])
    assert result.exit_code == 2
    assert "no API key" in one_line(result)


def test_unknown_command(invoke: Invoke) -> None:
    result = invoke(["fly"])
    assert result.exit_code == 2
    assert "No such command" in one_line(result)


def test_bare_command_shows_help(invoke: Invoke) -> None:
    result = invoke([])
    assert "Commands:" in result.output
    assert "flowinvoke: error" not in result.output


def test_missing_run_id(invoke: Invoke) -> None:
    result = invoke(["wait"])
    assert result.exit_code == 2
    assert "RUN_ID" in one_line(result)


def test_help_never_shows_the_key(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWINVOKE_API_KEY", SECRET)
    for command in (["--help"], ["run", "--help"], ["get", "--help"], ["wait", "--help"]):
        result = invoke(command)
        assert result.exit_code == 0
        assert "--api-key" in result.stdout or command == ["--help"]


def test_main_returns_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert main(["run", "--timeout", "-1", "--api-key", SECRET]) == 2
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_main_without_the_cli_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)
    assert main(["--help"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        'flowinvoke: the command line needs click and rich: pip install "flowinvoke[cli]"'
    ]


def test_import_flowinvoke_does_not_import_the_cli() -> None:
    code = "import sys, flowinvoke; assert 'flowinvoke.cli' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_allow_insecure_http_is_a_flag_kept_in_the_resume_command() -> None:
    from flowinvoke.cli._settings import Settings

    settings = Settings(base_url="http://gateway.internal", allow_insecure_http=True)
    assert settings.client_kwargs()["allow_insecure_http"] is True
    command = settings.resume_command("run-1", "gptbots")
    assert command.endswith("--base-url http://gateway.internal --allow-insecure-http")
