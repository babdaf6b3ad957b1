"""Observability costs nothing when unused, and FLOWINVOKE_LOG needs no code."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from flowinvoke import AsyncClient, ConfigurationError, Hooks

# Runs one workflow against the in-process emulator and reports what it imported.
SCRIPT = """
import sys
{block}
from flowinvoke import PollPolicy
from flowinvoke.testing import Emulator, Workflow

emulator = Emulator([Workflow(id="wf", api_key="key-0123456789", polls=1)])
poll = PollPolicy(initial_delay=0.01, multiplier=1.0, max_interval=0.01, jitter=0)
with emulator.client("wf", poll=poll{options}) as client:
    print(client.run({{"a": 1}}).status.value)
print(
    "otel imported:",
    any(n.startswith("opentelemetry") and m is not None for n, m in sys.modules.items()),
)
"""
# Makes `import opentelemetry` fail, as on a machine without the extra.
HIDE_OTEL = "sys.modules['opentelemetry'] = None"


def _run(block: str = "", options: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT.format(block=block, options=options)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
        timeout=60,
    )


def test_without_the_extra_nothing_of_opentelemetry_is_imported() -> None:
    done = _run(HIDE_OTEL)
    assert done.stdout.split("\n")[:2] == ["SUCCEEDED", "otel imported: False"]


def test_tracing_off_imports_nothing_even_where_installed() -> None:
    done = _run(options=", tracing=False")
    assert "otel imported: False" in done.stdout


def test_tracing_insisted_on_without_the_extra_is_a_configuration_error() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; {HIDE_OTEL}\n"
            "from flowinvoke import AsyncClient\n"
            "AsyncClient(api_key='k-0123456789', tracing=True)",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert 'pip install "flowinvoke[otel]"' in result.stderr


def test_flowinvoke_log_turns_on_a_stderr_handler_with_structured_fields() -> None:
    done = _run(FLOWINVOKE_LOG="debug")
    assert "DEBUG flowinvoke" in done.stderr
    assert "invoke answered" in done.stderr
    assert "operation=query" in done.stderr
    assert "key-0123456789" not in done.stderr
    quiet = _run()
    assert quiet.stderr == ""


def test_hooks_must_be_hooks() -> None:
    with pytest.raises(ConfigurationError, match="Hooks"):
        AsyncClient(api_key="k-0123456789", hooks=[print])  # type: ignore[list-item]
    assert AsyncClient(api_key="k-0123456789", hooks=Hooks()) is not None
