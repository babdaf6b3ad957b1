"""The client end to end against the emulator: real wire formats, no network.

Where the other client tests script single answers with respx, these run whole stories
(start, poll, fail, retry, resume) against `flowinvoke.testing.Emulator`, so the client and
the emulator are checked against each other. Schedules are milliseconds long, without jitter.

Every story runs three ways: in-process, over a loopback socket on httpx's own transport,
and (async client, asyncio) over a loopback socket on the fast transport, so that the error
mapping, retries and faults are shown to behave the same on both transports.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from flowinvoke import (
    APIConnectionError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    InsufficientCreditsError,
    NotFoundError,
    RateLimitError,
    RunStatus,
    WorkflowFailedError,
    WorkflowRun,
)
from flowinvoke.testing import (
    DEMO_KEYS,
    Emulator,
    Fault,
    LoopbackServer,
    Workflow,
    demo_emulator,
)

from ..loopback_support import EmulatorSwitch, switched_server
from ..policies import MILLISECOND_POLL, MILLISECOND_RETRY

TINY = 0.001  # a Retry-After hint, in seconds, small enough not to slow the suite


ROUTES = ["in-process", "loopback", "loopback-fast"]
_ROUTE: dict[str, Any] = {}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Generate only the routes that apply: the fast transport serves the async client on
    asyncio, so the sync client and trio never get a "loopback-fast" case to skip."""
    if "anyio_backend" in metafunc.fixturenames:
        cases = [
            (backend, route)
            for backend in ("asyncio", "trio")
            for route in ROUTES
            if route != "loopback-fast" or backend == "asyncio"
        ]
        ids = [f"{backend}-{route}" for backend, route in cases]
        metafunc.parametrize(("anyio_backend", "route"), cases, indirect=True, ids=ids)
    else:
        metafunc.parametrize("route", ROUTES[:2], indirect=True)


@pytest.fixture
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """The backend chosen with the route above (the suite-wide fixture would cross them)."""
    return str(request.param)


@pytest.fixture(scope="module")
def loopback() -> Iterator[tuple[LoopbackServer, EmulatorSwitch]]:
    """One server for the whole module; each test plugs in its own emulator."""
    pytest.importorskip("uvicorn")
    server, switch = switched_server()
    yield server, switch
    server.close()


@pytest.fixture(autouse=True)
def route(request: pytest.FixtureRequest) -> Iterator[str]:
    """How `connect` reaches the emulator in this test."""
    server = switch = None
    if request.param != "in-process":
        server, switch = request.getfixturevalue("loopback")
    _ROUTE.update(name=request.param, server=server, switch=switch)
    yield request.param
    if switch is not None:
        switch.unplug()


def connect(emulator: Emulator, workflow_id: str, **options: Any) -> AsyncClient:
    """A client on one of the emulator's workflows, with fast schedules, on this test's route."""
    settings: dict[str, Any] = {"retry": MILLISECOND_RETRY, "poll": MILLISECOND_POLL}
    settings.update(options)
    if _ROUTE["name"] == "in-process":
        return emulator.async_client(workflow_id, **settings)
    _ROUTE["switch"].plug(emulator)
    fast = _ROUTE["name"] == "loopback-fast"
    return _ROUTE["server"].async_client(workflow_id, fast_transport=fast, **settings)


def polled(workflow_id: str = "wf-poll", **script: Any) -> Emulator:
    """An emulator with one GPTBots workflow that finishes at the third query."""
    return Emulator([Workflow(id=workflow_id, api_key=f"key-{workflow_id}", polls=2, **script)])


@pytest.mark.anyio
async def test_invoke_of_an_instant_workflow_returns_the_finished_run() -> None:
    emulator = demo_emulator()
    async with connect(emulator, "demo-quick") as client:
        run = await client.invoke({"text": "hello emulator"}, user_id="u-1")
    assert run.status is RunStatus.SUCCEEDED
    assert run.provider == "gptbots"
    assert run.workflow_id == "demo-quick"
    assert run.output is not None
    assert run.output["summary"].endswith("hello emulator")
    assert emulator.run(run.id).user_id == "u-1"
    assert emulator.counters.invokes["demo-quick"] == 1


@pytest.mark.anyio
async def test_run_polls_an_async_start_through_pending_and_running() -> None:
    emulator = polled()
    seen: list[RunStatus] = []
    async with connect(emulator, "wf-poll") as client:
        run = await client.run({"topic": "news"}, on_update=lambda state: seen.append(state.status))
    # The start's answer and the first query are both PENDING (the query adds the input).
    changes = [status for i, status in enumerate(seen) if i == 0 or seen[i - 1] != status]
    assert changes == [RunStatus.PENDING, RunStatus.RUNNING, RunStatus.SUCCEEDED]
    assert run.status is RunStatus.SUCCEEDED
    assert run.output == {"echo": {"topic": "news"}}
    record = emulator.run(run.id)
    assert record.is_async
    assert record.queries == 3


@pytest.mark.anyio
async def test_a_failed_run_raises_or_is_returned() -> None:
    emulator = polled(final_status="FAILED", error_message="the LLM node timed out")
    async with connect(emulator, "wf-poll") as client:
        with pytest.raises(WorkflowFailedError, match="the LLM node timed out") as caught:
            await client.run({"n": 1})
        assert caught.value.run.status is RunStatus.FAILED
        assert caught.value.run_id == caught.value.run.id
        run = await client.run({"n": 2}, raise_on_failure=False)
    assert run.status is RunStatus.FAILED
    assert run.error == "the LLM node timed out"


@pytest.mark.anyio
async def test_a_bad_key_is_an_authentication_error() -> None:
    emulator = polled()
    async with connect(emulator, "wf-poll", api_key="not-the-key") as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.invoke({"n": 1})
    assert caught.value.status_code == 401
    assert caught.value.code == 40127
    assert "not-the-key" not in str(caught.value)
    assert emulator.counters.total_invokes == 0


@pytest.mark.anyio
async def test_a_missing_input_is_a_bad_request() -> None:
    emulator = polled(required_inputs=("topic",))
    async with connect(emulator, "wf-poll") as client:
        with pytest.raises(BadRequestError, match="topic"):
            await client.invoke({"other": 1})
    assert emulator.counters.total_invokes == 0


@pytest.mark.anyio
async def test_an_unknown_run_id_is_not_found() -> None:
    async with connect(polled(), "wf-poll") as client:
        with pytest.raises(NotFoundError) as caught:
            await client.get_run("no-such-run")
    assert caught.value.status_code == 404
    assert caught.value.run_id == "no-such-run"


@pytest.mark.anyio
async def test_no_credits_is_an_insufficient_credits_error() -> None:
    emulator = polled(credits_exhausted=True)
    async with connect(emulator, "wf-poll") as client:
        with pytest.raises(InsufficientCreditsError) as caught:
            await client.run({"n": 1})
    assert caught.value.code == 20022
    assert emulator.counters.total_invokes == 0


@pytest.mark.anyio
async def test_an_error_inside_http_200_is_still_an_error() -> None:
    emulator = polled(credits_exhausted=True, errors_in_http_200=True)
    async with connect(emulator, "wf-poll") as client:
        with pytest.raises(InsufficientCreditsError) as caught:
            await client.invoke({"n": 1})
    assert caught.value.status_code == 200
    assert caught.value.code == 20022


@pytest.mark.anyio
async def test_rate_limiting_is_retried_then_raised() -> None:
    emulator = polled()
    emulator.inject(*[Fault("rate_limit", operation="invoke", retry_after=TINY)] * 3)
    async with connect(emulator, "wf-poll") as client:
        with pytest.raises(RateLimitError) as caught:
            await client.invoke({"n": 1})
    assert caught.value.retry_after == TINY
    assert emulator.counters.requests_by_operation["invoke"] == 3  # 1 try + 2 retries
    assert emulator.counters.total_invokes == 0


@pytest.mark.anyio
async def test_rate_limiting_once_is_survived() -> None:
    emulator = polled()
    emulator.inject(Fault("rate_limit", operation="invoke", retry_after=TINY))
    async with connect(emulator, "wf-poll") as client:
        run = await client.run({"n": 1})
    assert run.succeeded
    assert emulator.counters.invokes_for_input({"n": 1}) == 1


@pytest.mark.parametrize("style", ["seed", "live"])
@pytest.mark.anyio
async def test_aitutor_answers_in_both_shapes(style: str) -> None:
    workflow = Workflow(
        id="wf_story",
        api_key="key-aitutor",
        provider="aitutor",
        aitutor_style=style,  # type: ignore[arg-type]
        output=lambda inputs: {"story": f"About {inputs['topic']}"},
    )
    emulator = Emulator([workflow])
    async with connect(emulator, "wf_story") as client:
        run = await client.run({"topic": "owls"})
    assert run.provider == "aitutor"
    assert run.status is RunStatus.SUCCEEDED
    assert "About owls" in str(run.output)
    if style == "seed":
        assert run.id is not None and run.id.startswith("run_")
        assert run.output == {"story": "About owls"}


@pytest.mark.anyio
async def test_the_demo_aitutor_workflow() -> None:
    emulator = demo_emulator()
    assert emulator.workflow("wf_demo").api_key == DEMO_KEYS["wf_demo"]
    async with connect(emulator, "wf_demo") as client:
        run = await client.invoke({"topic": "tides"})
    assert run.output == {"story": "Once upon a time, someone asked about tides. The end."}


@pytest.mark.parametrize(
    "fault",
    [
        Fault("server_error", status=503, operation="query"),
        Fault("server_error", status=502, operation="query", processed=True),
        Fault("rate_limit", operation="query", retry_after=TINY),
        Fault("disconnect", operation="query"),
        Fault("disconnect", operation="query", processed=True),
        Fault("reset", operation="query", processed=True),
        Fault("malformed_json", operation="query", processed=True),
    ],
    ids=lambda fault: f"{fault.kind}-{fault.status or ''}-{fault.processed}",
)
@pytest.mark.anyio
async def test_a_transient_fault_on_a_query_is_survived(fault: Fault) -> None:
    emulator = polled()
    emulator.inject(fault)
    async with connect(emulator, "wf-poll") as client:
        run = await client.run({"n": 1})
    assert run.succeeded
    assert emulator.counters.faults[fault.kind] == 1
    assert emulator.counters.total_invokes == 1


@pytest.mark.anyio
async def test_a_503_before_the_start_is_retried_without_a_second_run() -> None:
    emulator = polled()
    emulator.inject(Fault("server_error", status=503, operation="invoke"))
    async with connect(emulator, "wf-poll") as client:
        run = await client.run({"n": 1})
    assert run.succeeded
    assert emulator.counters.requests_by_operation["invoke"] == 2
    assert emulator.counters.invokes_for_input({"n": 1}) == 1


@pytest.mark.parametrize("kind", ["disconnect", "reset"])
@pytest.mark.anyio
async def test_a_lost_answer_to_a_start_is_not_retried(kind: str) -> None:
    emulator = polled()
    emulator.inject(Fault(kind, operation="invoke", processed=True))  # type: ignore[arg-type]
    async with connect(emulator, "wf-poll") as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.run({"n": 1})
    assert caught.value.may_have_started
    assert emulator.counters.requests_by_operation["invoke"] == 1
    assert emulator.counters.invokes_for_input({"n": 1}) == 1  # started once, never twice


@pytest.mark.anyio
async def test_a_wait_resumes_from_a_bare_id_in_a_new_client() -> None:
    emulator = polled()
    async with connect(emulator, "wf-poll") as first:
        started = await first.invoke({"n": 1}, async_mode=True)
    assert started.status is RunStatus.PENDING
    assert started.id is not None
    updates: list[WorkflowRun] = []
    async with connect(emulator, "wf-poll") as second:
        run = await second.wait(started.id, on_update=updates.append)
    assert run.succeeded
    assert run.id == started.id
    assert updates[-1].status is RunStatus.SUCCEEDED
    assert emulator.counters.total_invokes == 1
