"""Keyed runs over a ledger: one start per key, recorded ends, conflicts, ambiguous starts,
pending() and resume(); on asyncio, trio and (generated) the blocking client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flowinvoke import (
    APIError,
    AsyncClient,
    BadRequestError,
    ConfigurationError,
    RunStatus,
    WaitTimeoutError,
    WorkflowFailedError,
)
from flowinvoke._compat import async_map_unordered
from flowinvoke.ledger import (
    AmbiguousStartError,
    KeyConflictError,
    LedgerState,
    LedgerUnavailableError,
    LedgerWriteError,
    MissingLedgerError,
    SQLiteLedger,
)
from flowinvoke.testing import Emulator, Fault, Workflow

from ..policies import MILLISECOND_POLL, MILLISECOND_RETRY

KEY = "key-wf-ledger"


def emulator(**script: Any) -> Emulator:
    """One GPTBots workflow that finishes at its third query."""
    return Emulator([Workflow(id="wf-ledger", api_key=KEY, polls=2, **script)])


def connect(server: Emulator, ledger: Any, **options: Any) -> AsyncClient:
    settings: dict[str, Any] = {"retry": MILLISECOND_RETRY, "poll": MILLISECOND_POLL}
    settings.update(options)
    return server.async_client("wf-ledger", ledger=ledger, **settings)


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "runs.db"


@pytest.mark.anyio
async def test_a_key_starts_one_run_and_a_repeat_returns_its_recorded_end(
    ledger_path: Path,
) -> None:
    server = emulator()
    async with connect(server, ledger_path) as client:
        first = await client.run({"topic": "news"}, key="order-42")
        queries = server.run(first.id).queries
        again = await client.run({"topic": "news"}, key="order-42")
    assert first.status is RunStatus.SUCCEEDED
    assert again.id == first.id
    assert again.output == first.output
    assert server.counters.invokes["wf-ledger"] == 1
    assert server.run(first.id).queries == queries  # the end came from the ledger
    row = SQLiteLedger(ledger_path).get("order-42")
    assert row is not None
    assert row.state is LedgerState.FINISHED
    assert row.run_id == first.id
    assert row.status == "SUCCEEDED"


@pytest.mark.anyio
async def test_another_client_on_the_same_ledger_waits_on_the_recorded_run(
    ledger_path: Path,
) -> None:
    server = emulator()
    async with connect(server, ledger_path) as client:
        started = await client.invoke({"topic": "news"}, key="k-1", async_mode=True)
    assert started.status is RunStatus.PENDING
    async with connect(server, str(ledger_path)) as other:
        run = await other.run({"topic": "news"}, key="k-1")
    assert run.id == started.id
    assert run.status is RunStatus.SUCCEEDED
    assert server.counters.invokes["wf-ledger"] == 1


@pytest.mark.anyio
async def test_callers_racing_for_a_key_share_one_start(ledger_path: Path) -> None:
    server = emulator()
    async with connect(server, ledger_path) as client:

        async def one(_: int) -> str | None:
            return (await client.run({"topic": "race"}, key="race")).id

        ids = [run_id async for run_id in async_map_unordered(one, range(8), 8)]
    assert len(set(ids)) == 1
    assert server.counters.invokes["wf-ledger"] == 1


@pytest.mark.anyio
async def test_a_key_with_other_inputs_is_a_conflict_and_sends_nothing(ledger_path: Path) -> None:
    server = emulator()
    async with connect(server, ledger_path) as client:
        await client.run({"topic": "news"}, key="k")
        with pytest.raises(KeyConflictError) as caught:
            await client.run({"topic": "sport"}, key="k")
        with pytest.raises(KeyConflictError):
            await client.run({"topic": "news"}, key="k", user_id="someone-else")
    assert caught.value.field == "inputs"
    assert caught.value.run_id is not None
    assert server.counters.invokes["wf-ledger"] == 1


@pytest.mark.anyio
async def test_bad_keyed_calls_fail_before_anything_is_sent(ledger_path: Path) -> None:
    server = emulator()
    async with connect(server, None) as bare:
        with pytest.raises(MissingLedgerError, match="FLOWINVOKE_LEDGER"):
            await bare.run({"topic": "news"}, key="k")
        with pytest.raises(MissingLedgerError):
            await bare.run_many([{"topic": "news"}], key=lambda _: "k")
        with pytest.raises(MissingLedgerError):
            await bare.pending()
    async with connect(server, ledger_path) as client:
        with pytest.raises(ConfigurationError, match=r"key= .*255"):
            await client.run({"topic": "news"}, key="x" * 256)
        with pytest.raises(ConfigurationError, match="key="):
            await client.run({"topic": "news"}, key="")
        with pytest.raises(ConfigurationError, match="on_ambiguous="):
            await client.run({"topic": "news"}, key="k", on_ambiguous="maybe")  # type: ignore[arg-type]
    assert server.counters.invokes["wf-ledger"] == 0


@pytest.mark.anyio
async def test_an_ambiguous_start_is_never_repeated_unless_asked(ledger_path: Path) -> None:
    server = emulator()
    server.inject(Fault("server_error", operation="invoke", processed=True))
    async with connect(server, ledger_path) as client:
        with pytest.raises(APIError) as first:  # the start's own error
            await client.run({"topic": "news"}, key="amb")
        assert first.value.may_have_started
        with pytest.raises(AmbiguousStartError) as caught:
            await client.run({"topic": "news"}, key="amb")
        assert server.counters.invokes["wf-ledger"] == 1
        assert caught.value.attempts == 1
        run = await client.run({"topic": "news"}, key="amb", on_ambiguous="restart")
    assert run.status is RunStatus.SUCCEEDED
    assert server.counters.invokes["wf-ledger"] == 2
    row = SQLiteLedger(ledger_path).get("amb")
    assert row is not None
    assert row.attempts == 2


@pytest.mark.anyio
async def test_a_start_that_surely_failed_frees_its_key(ledger_path: Path) -> None:
    server = emulator(required_inputs=("topic",))
    async with connect(server, ledger_path) as client:
        with pytest.raises(BadRequestError, match="topic"):
            await client.run({}, key="bad")
        assert SQLiteLedger(ledger_path).get("bad") is None
        run = await client.run({"topic": "fixed"}, key="bad")
    assert run.succeeded


@pytest.mark.anyio
async def test_a_failed_run_is_recorded_and_raised_again_without_a_request(
    ledger_path: Path,
) -> None:
    server = emulator(final_status="FAILED", error_message="boom")
    async with connect(server, ledger_path) as client:
        with pytest.raises(WorkflowFailedError):
            await client.run({"topic": "news"}, key="f")
        with pytest.raises(WorkflowFailedError) as again:
            await client.run({"topic": "news"}, key="f")
        returned = await client.run({"topic": "news"}, key="f", raise_on_failure=False)
    assert again.value.run.error == "boom"
    assert returned.status is RunStatus.FAILED
    assert server.counters.invokes["wf-ledger"] == 1
    row = SQLiteLedger(ledger_path).get("f")
    assert row is not None
    assert json.loads(row.error or "{}")["type"] == "WorkflowFailedError"


@pytest.mark.anyio
async def test_a_wait_cut_short_stays_pending_and_resume_finishes_it(ledger_path: Path) -> None:
    server = emulator()

    def crash(state: Any) -> None:  # the process "dies" once the run is started
        raise RuntimeError("gone")

    async with connect(server, ledger_path) as client:
        with pytest.raises(RuntimeError):
            await client.run({"topic": "news"}, key="cut", on_update=crash)
        pending = await client.pending()
        assert [row.key for row in pending] == ["cut"]
        assert pending[0].state is LedgerState.STARTED
        assert await client.pending(provider="dify") == []
        assert await client.pending(older_than=3600) == []
        resumed = [item async for item in client.resume(concurrency=2)]
        assert await client.pending() == []
    assert [(item.key, item.error) for item in resumed] == [("cut", None)]
    assert resumed[0].run is not None
    assert resumed[0].run.succeeded
    assert server.counters.invokes["wf-ledger"] == 1


@pytest.mark.anyio
async def test_a_keyed_wait_past_its_deadline_keeps_the_run_pending(ledger_path: Path) -> None:
    server = Emulator([Workflow(id="wf-ledger", api_key=KEY, polls=10**6)])
    async with connect(server, ledger_path) as client:
        with pytest.raises(WaitTimeoutError) as caught:
            await client.run({"topic": "news"}, key="late", timeout=0.05)
        pending = await client.pending()
    assert caught.value.run_id is not None
    assert [row.run_id for row in pending] == [caught.value.run_id]


@pytest.mark.anyio
async def test_resume_reports_an_abandoned_start_without_waiting(ledger_path: Path) -> None:
    server = emulator()
    async with connect(server, ledger_path) as client:
        claimed = client._intent("lost", "raise", {"topic": "x"}, None, None)
        dead = claimed.__class__(**{**claimed.__dict__, "owner": f"{_host()}/999999999/gone"})
        assert SQLiteLedger(ledger_path).claim(dead)[0]
        resumed = [item async for item in client.resume()]
        with pytest.raises(AmbiguousStartError):
            await client.run({"topic": "x"}, key="lost")
    assert [item.key for item in resumed] == ["lost"]
    assert isinstance(resumed[0].error, AmbiguousStartError)
    assert server.counters.invokes["wf-ledger"] == 0


@pytest.mark.anyio
async def test_run_many_with_keys_starts_no_input_twice(ledger_path: Path) -> None:
    server = emulator()
    inputs = [{"n": n} for n in range(6)]
    async with connect(server, ledger_path) as client:
        first = await client.run_many(inputs, key=lambda item: f"n-{item['n']}", concurrency=3)
        again = await client.run_many(inputs, key=lambda item: f"n-{item['n']}", concurrency=3)
    assert [item.run.id for item in first if item.run] == [
        item.run.id for item in again if item.run
    ]
    assert all(item.error is None for item in first + again)
    assert server.counters.invokes["wf-ledger"] == 6


@pytest.mark.anyio
async def test_a_failed_id_write_keeps_the_run_id_on_the_error(ledger_path: Path) -> None:
    class BrokenAfterStart(SQLiteLedger):
        def started(self, key: str, run_id: str) -> None:
            raise LedgerUnavailableError("ledger gone")

    server = emulator()
    async with connect(server, BrokenAfterStart(ledger_path)) as client:
        with pytest.raises(LedgerWriteError) as caught:
            await client.run({"topic": "news"}, key="w")
    assert caught.value.run_id is not None
    assert caught.value.run_id == server.runs()[0].run_id


class CutOnClaims(SQLiteLedger):
    """A ledger whose connection is cut on the first `cuts` claims (after the first one's
    write landed, when `landed`), as a database restart would cut it."""

    def __init__(self, path: Path, cuts: int, *, landed: bool) -> None:
        super().__init__(path)
        self.cuts = cuts
        self.landed = landed

    def claim(self, intent: Any) -> Any:
        if self.cuts > 0:
            self.cuts -= 1
            if self.landed:
                super().claim(intent)
            raise LedgerUnavailableError("connection cut")
        return super().claim(intent)


@pytest.mark.anyio
@pytest.mark.parametrize("landed", [False, True])
async def test_a_claim_cut_once_is_tried_again_and_starts_one_run(
    ledger_path: Path, landed: bool
) -> None:
    server = emulator()
    async with connect(server, CutOnClaims(ledger_path, 1, landed=landed)) as client:
        run = await client.run({"topic": "news"}, key="cut-once")
    assert run.succeeded
    assert server.counters.total_invokes == 1  # the intent that landed is this call's own


@pytest.mark.anyio
async def test_a_claim_cut_twice_sends_nothing_and_frees_the_key(ledger_path: Path) -> None:
    server = emulator()
    async with connect(server, CutOnClaims(ledger_path, 2, landed=True)) as client:
        with pytest.raises(LedgerUnavailableError):
            await client.run({"topic": "news"}, key="cut-twice")
        assert server.counters.requests == 0
        run = await client.run({"topic": "news"}, key="cut-twice")  # a retry starts cleanly
    assert run.succeeded
    assert server.counters.total_invokes == 1


@pytest.mark.anyio
async def test_the_ledger_holds_no_key_and_by_default_no_inputs(ledger_path: Path) -> None:
    server = emulator(output={"answer": 1})  # an output that does not echo the input
    async with connect(server, ledger_path) as client:
        await client.run({"topic": "secret-topic-7"}, key="private")
    async with connect(server, ledger_path.with_name("kept.db"), store_inputs=True) as keeping:
        await keeping.run({"topic": "kept-topic-8"}, key="kept")
    data = b"".join(path.read_bytes() for path in ledger_path.parent.iterdir())
    assert KEY.encode() not in data
    assert b"secret-topic-7" not in data
    assert b"kept-topic-8" in data


@pytest.mark.anyio
async def test_an_invoke_by_key_returns_the_recorded_run(ledger_path: Path) -> None:
    server = emulator()
    async with connect(server, ledger_path) as client:
        first = await client.invoke({"topic": "news"}, key="i")
        again = await client.invoke({"topic": "news"}, key="i")
    assert first.succeeded
    assert again.id == first.id
    assert server.counters.invokes["wf-ledger"] == 1


@pytest.mark.anyio
async def test_the_ledger_comes_from_the_environment(
    ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWINVOKE_LEDGER", str(ledger_path))
    server = emulator()
    async with connect(server, None) as client:
        assert isinstance(client.ledger, SQLiteLedger)
        await client.run({"topic": "news"}, key="env")
        derived = client.with_options(timeout=5)
        again = await derived.run({"topic": "news"}, key="env")
    assert again.succeeded
    assert server.counters.invokes["wf-ledger"] == 1


def _host() -> str:
    import socket

    return socket.gethostname()


@pytest.mark.anyio
async def test_the_callers_trace_context_is_recorded_where_tracing_is_on(
    ledger_path: Path,
) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    server = emulator()
    async with connect(server, ledger_path, tracing=provider) as traced:
        with provider.get_tracer("app").start_as_current_span("request") as span:
            await traced.run({"topic": "news"}, key="traced")
    async with connect(server, ledger_path, tracing=False) as untraced:
        await untraced.run({"topic": "news"}, key="untraced")
    ledger = SQLiteLedger(ledger_path)
    row, bare = ledger.get("traced"), ledger.get("untraced")
    assert row is not None
    assert bare is not None
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert row.trace is not None
    assert row.trace.split("-")[1] == trace_id
    assert bare.trace is None
