"""Fault injection through the in-process transport, with sync and async httpx clients."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import anyio
import httpx
import pytest

from flowinvoke.testing import (
    EMULATOR_BASE_URL,
    Emulator,
    FakeClock,
    Fault,
    RandomFaults,
    Workflow,
)

INVOKE = "/v1/workflow/invoke"
QUERY = "/v1/workflow/query/result"
AUTH = {"Authorization": "Bearer key-a"}
BODY = {"input": {"q": "hello"}}


def make_emulator(clock: FakeClock | None = None) -> Emulator:
    return Emulator(
        [
            Workflow(id="wf-a", api_key="key-a", polls=1),
            Workflow(id="wf-b", api_key="key-b", polls=1),
            Workflow(id="wf_t", api_key="sk", provider="aitutor", aitutor_style="live"),
        ],
        clock=clock or FakeClock(),
    )


@dataclasses.dataclass(frozen=True)
class Case:
    fault: Fault
    status: int | None = None  # expected HTTP status, or None when an error is raised
    raises: type[Exception] | None = None
    check: str = ""  # extra check name

    @property
    def id(self) -> str:
        return f"{self.fault.kind}-{'after' if self.fault.processed else 'before'}"


CASES = [
    Case(Fault("rate_limit", retry_after=2), status=429, check="rate_limit"),
    Case(Fault("rate_limit", processed=True), status=429),
    Case(Fault("server_error"), status=500, check="json_500"),
    Case(Fault("server_error", status=503, retry_after=0.25), status=503, check="html_503"),
    Case(Fault("server_error", status=502, processed=True), status=502),
    Case(Fault("error_in_200", code=20022, message="Insufficient credits"), 200, check="in_200"),
    Case(Fault("error_in_200", processed=True), status=200, check="in_200_default"),
    Case(Fault("malformed_json"), status=200, check="malformed"),
    Case(Fault("malformed_json", processed=True), status=200, check="malformed_partial"),
    Case(Fault("slow", delay=5.0), status=200, check="slow"),
    Case(Fault("slow", delay=5.0, processed=True), status=200, check="slow"),
    Case(Fault("disconnect"), raises=httpx.RemoteProtocolError),
    Case(Fault("disconnect", processed=True), raises=httpx.RemoteProtocolError),
    Case(Fault("reset"), raises=httpx.ReadError),
    Case(Fault("reset", processed=True), raises=httpx.ReadError),
    Case(Fault("timeout", delay=30.0), raises=httpx.ReadTimeout, check="slow"),
    Case(Fault("timeout", delay=30.0, processed=True), raises=httpx.ReadTimeout, check="slow"),
    Case(Fault("connect_error"), raises=httpx.ConnectError),
]


def verify(case: Case, emulator: Emulator, clock: FakeClock, outcome: Any) -> None:
    """Check one faulted invoke: the answer, and whether a run was created."""
    if case.raises is not None:
        assert isinstance(outcome, case.raises), outcome
        assert "key-a" not in str(outcome)
    else:
        assert isinstance(outcome, httpx.Response), outcome
        assert outcome.status_code == case.status
        assert "key-a" not in outcome.text
    expected_runs = 1 if case.fault.processed or case.fault.kind == "slow" else 0
    assert emulator.counters.invokes["wf-a"] == expected_runs
    assert len(emulator.runs()) == expected_runs
    assert emulator.counters.faults[case.fault.kind] == 1
    assert emulator.counters.requests == 1
    assert emulator.pending_faults() == ()
    if case.check == "rate_limit":
        assert outcome.headers["retry-after"] == "2"
        assert outcome.json() == {"code": 42900, "message": outcome.json()["message"]}
    elif case.check == "json_500":
        assert outcome.json()["code"] == 50000
    elif case.check == "html_503":
        assert outcome.headers["retry-after"] == "0.25"
        assert outcome.headers["content-type"] == "text/html"
        assert "503" in outcome.text
    elif case.check == "in_200":
        assert outcome.json() == {"code": 20022, "message": "Insufficient credits"}
    elif case.check == "in_200_default":
        assert outcome.json() == {"code": 50000, "message": "Internal server error"}
    elif case.check == "malformed":
        with pytest.raises(json.JSONDecodeError):
            outcome.json()
    elif case.check == "malformed_partial":
        with pytest.raises(json.JSONDecodeError):
            outcome.json()
        assert outcome.text.startswith('{"workflowId": "wf-a"')
    elif case.check == "slow":
        assert clock() == case.fault.delay
        if case.raises is None:
            assert outcome.json()["status"] == "SUCCEED"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_fault_with_sync_client(case: Case) -> None:
    clock = FakeClock()
    emulator = make_emulator(clock)
    emulator.inject(dataclasses.replace(case.fault, operation="invoke"))
    outcome: Any
    with httpx.Client(transport=emulator.transport(), base_url=EMULATOR_BASE_URL) as http:
        try:
            outcome = http.post(INVOKE, headers=AUTH, json=BODY)
        except httpx.TransportError as exc:
            outcome = exc
    verify(case, emulator, clock, outcome)


@pytest.mark.anyio
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_fault_with_async_client(case: Case) -> None:
    clock = FakeClock()
    emulator = make_emulator(clock)
    emulator.inject(case.fault)
    outcome: Any
    async with httpx.AsyncClient(
        transport=emulator.transport(), base_url=EMULATOR_BASE_URL
    ) as http:
        try:
            outcome = await http.post(INVOKE, headers=AUTH, json=BODY)
        except httpx.TransportError as exc:
            outcome = exc
    verify(case, emulator, clock, outcome)


def test_dropped_answer_after_processing_leaves_a_findable_run() -> None:
    """The ambiguous case: the run started but its id never reached the client."""
    emulator = make_emulator()
    emulator.inject(Fault("disconnect", operation="invoke", processed=True))
    with emulator.http_client() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            http.post(INVOKE, headers=AUTH, json={**BODY, "isAsync": True})
        # A naive retry starts a second run with the same input: the counters show it.
        http.post(INVOKE, headers=AUTH, json={**BODY, "isAsync": True})
    assert emulator.counters.invokes_for_input(BODY["input"]) == 2
    assert emulator.counters.invokes["wf-a"] == 2


def test_rate_limit_on_aitutor_uses_its_error_shape() -> None:
    emulator = make_emulator()
    emulator.inject(Fault("rate_limit", workflow="wf_t"))
    with emulator.http_client() as http:
        answer = http.post("/api/v1/run/wf_t", headers={"Authorization": "Bearer sk"}, json={})
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "1"
    assert answer.headers["x-ratelimit-remaining"] == "0"
    assert answer.json() == {
        "success": False,
        "error": "Rate limit exceeded",
        "code": "rate_limit_exceeded",
    }


def test_scripted_faults_match_operation_and_workflow_in_order() -> None:
    emulator = make_emulator()
    query_fault = Fault("server_error", status=503, operation="query")
    b_fault = Fault("rate_limit", workflow="wf-b")
    any_fault = Fault("server_error", status=502)
    emulator.inject(query_fault, b_fault, any_fault)
    with emulator.http_client() as http:
        # An invoke for wf-a skips the query fault and the wf-b fault: the "any" one strikes.
        assert http.post(INVOKE, headers=AUTH, json=BODY).status_code == 502
        assert emulator.pending_faults() == (query_fault, b_fault)
        run_id = http.post(INVOKE, headers=AUTH, json={**BODY, "isAsync": True}).json()[
            "workflowRunId"
        ]
        assert http.post(QUERY, headers=AUTH, json={"workflowRunId": run_id}).status_code == 503
        assert emulator.counters.queries[run_id] == 0  # struck before processing
        b_answer = http.post(INVOKE, headers={"Authorization": "key-b"}, json=BODY)
        assert b_answer.status_code == 429
        assert emulator.pending_faults() == ()
        assert http.post(QUERY, headers=AUTH, json={"workflowRunId": run_id}).status_code == 200
    assert emulator.counters.faults == {"server_error": 2, "rate_limit": 1}
    assert emulator.counters.requests == 5


def test_clear_faults() -> None:
    emulator = make_emulator()
    emulator.inject(Fault("disconnect"))
    emulator.set_random_faults(RandomFaults(rate=1.0, faults=[Fault("reset")]))
    emulator.clear_faults()
    with emulator.http_client() as http:
        assert http.post(INVOKE, headers=AUTH, json=BODY).status_code == 200


def random_outcomes(seed: int, count: int = 60) -> list[str]:
    emulator = make_emulator()
    emulator.set_random_faults(
        RandomFaults(
            rate=0.3,
            seed=seed,
            faults=[
                Fault("rate_limit", retry_after=0),
                Fault("server_error", status=503),
                Fault("disconnect"),
                Fault("malformed_json"),
            ],
        )
    )
    outcomes: list[str] = []
    with emulator.http_client() as http:
        for index in range(count):
            try:
                answer = http.post(INVOKE, headers=AUTH, json={"input": {"n": index}})
            except httpx.TransportError as exc:
                outcomes.append(type(exc).__name__)
            else:
                outcomes.append(str(answer.status_code) + answer.text[:12])
    return outcomes


def test_seeded_random_faults_are_reproducible() -> None:
    first = random_outcomes(seed=7)
    assert first == random_outcomes(seed=7)
    assert first != random_outcomes(seed=8)
    faulted = [outcome for outcome in first if not outcome.startswith('200{"workflowId')]
    assert 5 <= len(faulted) <= 35


def test_random_faults_filters_and_extremes() -> None:
    emulator = make_emulator()
    emulator.set_random_faults(
        RandomFaults(rate=1.0, faults=[Fault("server_error")], operation="query")
    )
    with emulator.http_client() as http:
        run_id = http.post(INVOKE, headers=AUTH, json={**BODY, "isAsync": True}).json()[
            "workflowRunId"
        ]
        assert http.post(QUERY, headers=AUTH, json={"workflowRunId": run_id}).status_code == 500
    emulator.set_random_faults(RandomFaults(rate=0.0, faults=[Fault("server_error")]))
    with emulator.http_client() as http:
        assert http.post(QUERY, headers=AUTH, json={"workflowRunId": run_id}).status_code == 200


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="cannot be processed"):
        Fault("connect_error", processed=True)
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="delay"):
        Fault("slow", delay=-1)
    with pytest.raises(ValueError, match="rate"):
        RandomFaults(rate=2.0, faults=[Fault("reset")])
    with pytest.raises(ValueError, match="at least one"):
        RandomFaults(rate=0.5, faults=[])


@pytest.mark.anyio
async def test_async_wait_does_not_block_the_event_loop() -> None:
    """A slow answer on the real clock lets another request finish first."""
    emulator = Emulator([Workflow(id="wf-a", api_key="key-a")])
    emulator.inject(Fault("slow", delay=0.02, operation="invoke"))
    finished: list[str] = []
    async with emulator.async_http_client() as http:

        async def slow() -> None:
            await http.post(INVOKE, headers=AUTH, json=BODY)
            finished.append("slow")

        async def fast() -> None:
            await anyio.sleep(0.001)
            await http.post(INVOKE, headers=AUTH, json=BODY)
            finished.append("fast")

        async with anyio.create_task_group() as group:
            group.start_soon(slow)
            group.start_soon(fast)
    assert finished == ["fast", "slow"]


@pytest.mark.anyio
async def test_async_client_can_be_cancelled_while_the_emulator_waits() -> None:
    emulator = Emulator([Workflow(id="wf-a", api_key="key-a", duration=60.0)])
    async with emulator.async_http_client() as http:
        with anyio.move_on_after(0.01) as scope:
            await http.post(INVOKE, headers=AUTH, json=BODY)
    assert scope.cancelled_caught
    # The run started before the wait: a cancelled sync invoke is ambiguous, as on a server.
    (record,) = emulator.runs()
    assert record.status == "RUNNING"


def test_sync_client_waits_on_the_real_clock() -> None:
    emulator = Emulator([Workflow(id="wf-a", api_key="key-a", duration=0.01)])
    with emulator.http_client() as http:
        started = time.monotonic()
        body = http.post(INVOKE, headers=AUTH, json=BODY).json()
        elapsed = time.monotonic() - started
    assert elapsed >= 0.009
    assert body["status"] == "SUCCEED"
    assert 5 <= body["workflowExecutionTime"] <= 15
