"""`flowinvoke runs list|show|resume|prune` on a ledger the library wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flowinvoke.ledger import SQLiteLedger
from flowinvoke.testing import EMULATOR_BASE_URL, Emulator

from ..policies import SHORT_JITTERED_POLL
from .conftest import SECRET, Invoke


@pytest.fixture
def ledger(tmp_path: Path, emulator: Emulator) -> Path:
    """A ledger with one finished run ("done") and one whose waiter died ("cut")."""
    path = tmp_path / "runs.db"

    def crash(state: Any) -> None:
        raise RuntimeError("the process died")

    with emulator.client("secret-quick", ledger=path, poll=SHORT_JITTERED_POLL) as client:
        client.run({"q": 1}, key="done")
        with pytest.raises(RuntimeError):
            client.run({"q": 2}, key="cut", on_update=crash)
    return path


def test_list_and_show_print_json_rows_without_the_key(invoke: Invoke, ledger: Path) -> None:
    listed = invoke(["runs", "list", "--ledger", str(ledger)])
    assert listed.exit_code == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {row["key"]: row["state"] for row in rows} == {"done": "finished", "cut": "started"}
    pending = invoke(["runs", "list", "--pending", "--ledger", str(ledger)])
    assert [json.loads(line)["key"] for line in pending.stdout.splitlines()] == ["cut"]
    shown = invoke(["runs", "show", "done", "--ledger", str(ledger)])
    assert json.loads(shown.stdout)["result"]["status"] == "SUCCEEDED"
    missing = invoke(["runs", "show", "nope", "--ledger", str(ledger)])
    assert missing.exit_code == 1
    assert "nope" in missing.stderr


def test_resume_waits_for_the_pending_runs_and_records_them(
    invoke: Invoke, ledger: Path, served: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWINVOKE_LEDGER", str(ledger))
    result = invoke(["runs", "resume", "--api-key", SECRET, "--base-url", EMULATOR_BASE_URL])
    assert result.exit_code == 0, result.stderr
    [line] = [json.loads(text) for text in result.stdout.splitlines()]
    assert (line["key"], line["status"], line["error"]) == ("cut", "SUCCEEDED", None)
    assert SQLiteLedger(ledger).pending() == []
    assert served.counters.invokes["secret-quick"] == 2  # "done" and "cut", once each


def test_prune_deletes_finished_runs_only(invoke: Invoke, ledger: Path) -> None:
    usage = invoke(["runs", "prune", "--ledger", str(ledger)])
    assert usage.exit_code == 2
    result = invoke(["runs", "prune", "--keep", "0", "--ledger", str(ledger)])
    assert result.exit_code == 0, result.stderr
    assert "deleted 1" in result.stderr
    assert [row.key for row in SQLiteLedger(ledger).runs()] == ["cut"]


def test_a_ledger_that_cannot_be_opened_is_a_usage_error(invoke: Invoke, tmp_path: Path) -> None:
    corrupt = tmp_path / "bad.db"
    corrupt.write_bytes(b"not a database at all " * 100)
    result = invoke(["runs", "list", "--ledger", str(corrupt)])
    assert result.exit_code == 2
    assert "corrupt" in result.stderr
    missing = invoke(["runs", "list"])
    assert missing.exit_code == 2
