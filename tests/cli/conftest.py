"""Shared setup of the CLI tests: an in-process demo emulator behind `make_client`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from click.testing import CliRunner, Result

import flowinvoke
from flowinvoke.cli import _settings, cli
from flowinvoke.testing import DEMO_KEYS, Emulator, Workflow, demo_emulator

from ..policies import SHORT_JITTERED_POLL, SHORT_JITTERED_RETRY

#: A key that must never appear in any output.
SECRET = "sk-cli-secret-5b1f9e"
#: A key no workflow has.
WRONG_KEY = "sk-cli-wrong-77d0aa"
SECRETS = (SECRET, WRONG_KEY, *DEMO_KEYS.values())


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("API_KEY", "PROVIDER", "BASE_URL", "REGION", "WORKFLOW_ID", "LEDGER"):
        monkeypatch.delenv(f"FLOWINVOKE_{name}", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture
def emulator() -> Emulator:
    """The demo emulator, plus "secret-quick" whose key is `SECRET`."""
    emulator = demo_emulator(run_seconds=0.2)
    emulator.add_workflow(Workflow(id="secret-quick", api_key=SECRET, cost=0.25, tokens=7))
    return emulator


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, emulator: Emulator) -> Emulator:
    """Point every command at `emulator`, keeping the flags' effect (key, provider, ...)
    and the ledger a command passes (`runs resume`); its request counter is left out."""

    def make_client(
        settings: _settings.Settings, *, ledger: Any = None, **_: Any
    ) -> flowinvoke.Client:
        return flowinvoke.Client(
            **settings.client_kwargs(),
            transport=emulator.transport(),
            poll=SHORT_JITTERED_POLL,
            retry=SHORT_JITTERED_RETRY,
            ledger=ledger,
        )

    monkeypatch.setattr(_settings, "make_client", make_client)
    return emulator


Invoke = Callable[..., Result]


@pytest.fixture
def invoke() -> Invoke:
    """Run the CLI; check that no key leaked and no traceback was printed."""

    def run(args: Sequence[str], *, stdin: str | None = None, secrets: bool = True) -> Result:
        result = CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)
        both = result.stdout + result.stderr
        if secrets:
            for key in SECRETS:
                assert key not in both, f"key {key!r} leaked into the output"
        else:
            assert SECRET not in both
        assert "Traceback" not in both
        return result

    return run


def one_line(result: Result) -> str:
    """The single line of standard error (asserting there is exactly one)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]
