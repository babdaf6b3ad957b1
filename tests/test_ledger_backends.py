"""The ledger backends, against real databases: a SQLite file in a temporary folder and a
PostgreSQL server the tests start. The same operations, the same answers; then each
backend's faults (an unwritable path, a corrupt or locked file, a newer schema, a lost
connection), each a typed error naming the setting."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from flowinvoke import AsyncClient, ConfigurationError
from flowinvoke.ledger import (
    SCHEMA_VERSION,
    Ledger,
    LedgerSchemaError,
    LedgerState,
    LedgerUnavailableError,
    PostgresLedger,
    SQLiteLedger,
    open_ledger,
)
from flowinvoke.ledger._record import Intent

Opener = Callable[[], Ledger]


@pytest.fixture(params=["sqlite", "postgres"])
def open_one(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens ledgers on one database (each call a new connection, as another process)."""
    opened: list[Ledger] = []
    target = (
        str(tmp_path / "runs.db")
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )

    def opener() -> Ledger:
        ledger = open_ledger(target)
        opened.append(ledger)
        return ledger

    yield opener
    for ledger in opened:
        ledger.close()


def intent(key: str = "k", *, digest: str = "d", owner: str = "host/1/a") -> Intent:
    return Intent(key, "gptbots", "api.example", "wf", "acct", digest, None, owner)


def test_one_claim_wins_a_key_and_the_others_see_its_row(open_one: Opener) -> None:
    first, second = open_one(), open_one()
    won, row = first.claim(intent())
    lost, seen = second.claim(intent(owner="host/2/b"))
    assert (won, lost) == (True, False)
    assert seen == row
    assert seen.state is LedgerState.STARTING
    assert seen.owner == "host/1/a"


def test_a_row_goes_from_intent_to_run_id_to_its_end(open_one: Opener) -> None:
    ledger = open_one()
    ledger.claim(intent())
    ledger.started("k", "run-1")
    started = ledger.get("k")
    assert started is not None
    assert (started.state, started.run_id) == (LedgerState.STARTED, "run-1")
    assert [row.key for row in ledger.pending()] == ["k"]
    ledger.finished("k", None, "SUCCEEDED", '{"x": 1}', None)
    done = ledger.get("k")
    assert done is not None
    assert done.done
    assert (done.run_id, done.status, done.result) == ("run-1", "SUCCEEDED", '{"x": 1}')
    assert done.finished_at is not None
    assert ledger.pending() == []
    assert done.summary()["state"] == "finished"


def test_only_one_caller_takes_over_an_ambiguous_start(open_one: Opener) -> None:
    ledger, other = open_one(), open_one()
    ledger.claim(intent())
    ledger.ambiguous("k", '{"type": "ServerError"}')
    row = ledger.get("k")
    assert row is not None
    assert row.state is LedgerState.AMBIGUOUS
    assert ledger.take_over("k", row.attempts, "host/3/c")
    assert not other.take_over("k", row.attempts, "host/4/d")
    taken = other.get("k")
    assert taken is not None
    assert (taken.state, taken.attempts, taken.owner) == (LedgerState.STARTING, 2, "host/3/c")


def test_release_deletes_only_its_owners_intent_without_a_run_id(open_one: Opener) -> None:
    ledger = open_one()
    ledger.claim(intent())
    ledger.release("k", "host/9/z")
    assert ledger.get("k") is not None
    ledger.release("k", "host/1/a")
    assert ledger.get("k") is None
    ledger.claim(intent("j"))
    ledger.started("j", "run-j")
    ledger.release("j", "host/1/a")
    assert ledger.get("j") is not None


def test_pending_filters_by_provider_workflow_and_age(open_one: Opener) -> None:
    ledger = open_one()
    for key in ("a", "b"):
        ledger.claim(intent(key))
    assert [row.key for row in ledger.pending(provider="gptbots", workflow="wf")] == ["a", "b"]
    assert ledger.pending(provider="dify") == []
    assert ledger.pending(workflow="other") == []
    assert ledger.pending(older_than=60) == []
    assert len(ledger.pending(limit=1)) == 1


def test_prune_deletes_finished_rows_by_age_or_count_never_unfinished_ones(
    open_one: Opener,
) -> None:
    ledger = open_one()
    for key in ("a", "b", "c", "open"):
        ledger.claim(intent(key))
    for key in ("a", "b", "c"):
        ledger.finished(key, f"run-{key}", "SUCCEEDED", None, None)
        time.sleep(0.002)  # distinct finish times, for the count
    assert ledger.prune(older_than=3600) == 0
    assert ledger.prune(keep=1) == 2
    assert [row.key for row in ledger.runs()] == ["open", "c"]
    assert ledger.prune(older_than=0) == 1
    assert [row.key for row in ledger.runs()] == ["open"]


def test_a_newer_schema_is_refused(open_one: Opener) -> None:
    ledger = open_one()
    ledger._execute(  # type: ignore[attr-defined]
        "UPDATE flowinvoke_meta SET value = ? WHERE name = 'schema_version'",
        (str(SCHEMA_VERSION + 1),),
    )
    with pytest.raises(LedgerSchemaError, match="newer"):
        open_one()


def test_opening_again_keeps_the_rows(open_one: Opener) -> None:
    open_one().claim(intent())
    assert open_one().get("k") is not None


# -- SQLite's own faults ---------------------------------------------------------------------


def test_an_unwritable_path_fails_when_the_client_is_built(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(LedgerUnavailableError, match="ledger= path"):
        AsyncClient(api_key="k", ledger=blocker / "runs.db")


def test_a_corrupt_file_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    path.write_bytes(b"this is not a database, just some text " * 200)
    with pytest.raises(LedgerUnavailableError, match="corrupt"):
        SQLiteLedger(path)


def test_a_file_locked_past_busy_timeout_is_a_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    ledger = SQLiteLedger(path, busy_timeout=0.05)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(LedgerUnavailableError, match="busy_timeout"):
            ledger.claim(intent())
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert ledger.claim(intent())[0]


def test_open_ledger_reads_paths_urls_and_objects(tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "a.db")
    assert open_ledger(ledger) is ledger
    assert isinstance(open_ledger(f"sqlite:///{tmp_path / 'b.db'}"), SQLiteLedger)
    assert isinstance(open_ledger(tmp_path / "c.db"), SQLiteLedger)
    with pytest.raises(ConfigurationError, match="mysql"):
        open_ledger("mysql://x/y")
    with pytest.raises(ConfigurationError, match="ledger="):
        open_ledger("")


# -- PostgreSQL's own faults -----------------------------------------------------------------


def test_a_lost_connection_is_a_typed_error_and_the_next_call_reconnects(
    postgres_url: str,
) -> None:
    import psycopg

    ledger = PostgresLedger(postgres_url)
    ledger.claim(intent())
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND datname = current_database()"
        )
    with pytest.raises(LedgerUnavailableError, match="ledger= URL"):
        ledger.get("k")
    assert ledger.get("k") is not None
    ledger.close()


def test_a_refused_server_is_a_typed_error_without_the_password() -> None:
    with pytest.raises(LedgerUnavailableError) as caught:
        PostgresLedger("postgresql://me:s3cret@127.0.0.1:1/db", connect_timeout=1)
    assert "s3cret" not in str(caught.value)
    assert "***" in str(caught.value)


def test_a_missing_server_is_refused_before_a_client_sends(tmp_path: Path) -> None:
    with pytest.raises(LedgerUnavailableError):
        AsyncClient(api_key="k", ledger="postgresql://127.0.0.1:1/db")


def test_a_connection_lost_mid_batch_is_opened_again_and_no_input_runs_twice(
    postgres_url: str,
) -> None:
    import psycopg

    from flowinvoke.testing import Emulator, Workflow

    from .policies import MILLISECOND_POLL

    server = Emulator([Workflow(id="wf", api_key="key-wf", polls=1)])
    inputs = [{"n": n} for n in range(12)]

    def cut(index: int, run: object) -> None:
        if index == 4:  # the server drops every ledger connection mid-batch
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE pid <> pg_backend_pid() AND datname = current_database()"
                )

    with server.client("wf", ledger=postgres_url, poll=MILLISECOND_POLL) as client:
        first = client.run_many(inputs, key=lambda item: f"n-{item['n']}", on_start=cut)
        again = client.run_many(inputs, key=lambda item: f"n-{item['n']}")
    # The run id and end writes that met the cut were tried again on a new connection.
    assert [item.error for item in first] == [None] * len(inputs)
    assert [item.run.id for item in again if item.run] == [
        item.run.id for item in first if item.run
    ]
    assert server.counters.total_invokes == len(inputs)
    with closing(PostgresLedger(postgres_url)) as ledger:
        assert ledger.pending() == []
