"""Ready flowinvoke clients from an emulator, and the demo emulator's workflows."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from flowinvoke import AsyncClient, Client, RetryPolicy, RunStatus
from flowinvoke.testing import (
    DEMO_KEYS,
    EMULATOR_BASE_URL,
    Emulator,
    EmulatorTransport,
    FakeClock,
    Workflow,
    demo_emulator,
)


def two_providers() -> Emulator:
    return Emulator(
        [
            Workflow(id="wf-g", api_key="key-g"),
            Workflow(id="wf_a", api_key="key-a", provider="aitutor"),
        ]
    )


def test_client_options_bind_provider_key_url_and_transport() -> None:
    emulator = two_providers()
    gptbots = emulator.client_options("wf-g")
    assert gptbots["provider"] == "gptbots"
    assert gptbots["api_key"] == "key-g"
    assert gptbots["base_url"] == EMULATOR_BASE_URL
    assert isinstance(gptbots["transport"], EmulatorTransport)
    assert "workflow_id" not in gptbots  # a GPTBots key names its workflow
    assert emulator.client_options("wf_a")["workflow_id"] == "wf_a"
    with pytest.raises(KeyError):
        emulator.client_options("nope")


def test_client_is_a_ready_sync_client_and_options_pass_through() -> None:
    emulator = two_providers()
    retry = RetryPolicy(max_retries=0)
    with emulator.client("wf_a", retry=retry) as client:
        assert isinstance(client, Client)
        assert client.retry is retry
        assert client.base_url == EMULATOR_BASE_URL
        run = client.invoke({"q": 1})
    assert run.provider == "aitutor"
    assert run.output == {"echo": {"q": 1}}


@pytest.mark.anyio
async def test_async_client_is_a_ready_async_client() -> None:
    emulator = two_providers()
    async with emulator.async_client("wf-g") as client:
        assert isinstance(client, AsyncClient)
        run = await client.invoke({"q": 2})
    assert run.status is RunStatus.SUCCEEDED
    assert emulator.counters.invokes["wf-g"] == 1


@pytest.mark.anyio
async def test_an_own_http_client_replaces_the_transport() -> None:
    emulator = two_providers()
    async with emulator.async_http_client() as http:
        async with emulator.async_client("wf-g", http_client=http) as client:
            run = await client.invoke({"q": 3})
        assert not http.is_closed  # flowinvoke never closes a client it was given
    assert run.succeeded


def test_raw_http_clients_still_speak_the_wire_format() -> None:
    emulator = two_providers()
    with emulator.http_client() as http:
        assert isinstance(http, httpx.Client)
        answer = http.post(
            "/v1/workflow/invoke",
            headers={"Authorization": "Bearer key-g"},
            json={"input": {}},
        )
    assert answer.json()["status"] == "SUCCEED"


def test_imports_stay_light() -> None:
    """flowinvoke never imports its testing package, which imports no server or pytest."""
    code = (
        "import sys, flowinvoke; assert 'flowinvoke.testing' not in sys.modules; "
        "import flowinvoke.testing; "
        "assert not {'uvicorn', 'pytest'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_demo_keys_match_the_demo_workflows() -> None:
    emulator = demo_emulator()
    assert set(DEMO_KEYS) == {
        "demo-quick",
        "demo-slow",
        "demo-fails",
        "wf_demo",
        "demo-dify",
        "7400000000000000042",
    }
    for workflow_id, key in DEMO_KEYS.items():
        assert emulator.workflow(workflow_id).api_key == key
    assert emulator.workflow("wf_demo").provider == "aitutor"
    assert emulator.workflow("demo-dify").provider == "dify"
    assert emulator.workflow("7400000000000000042").provider == "coze"
    with pytest.raises(TypeError):
        DEMO_KEYS["demo-quick"] = "x"  # type: ignore[index]
    with pytest.raises(ValueError, match="run_seconds"):
        demo_emulator(run_seconds=-1)


def test_demo_quick_output_follows_the_input() -> None:
    with demo_emulator().client("demo-quick") as client:
        first = client.invoke({"text": "one two three"})
        second = client.invoke({"text": "four"})
    assert first.output is not None and second.output is not None
    assert "3 word(s)" in first.output["summary"]
    assert first.output["summary"] != second.output["summary"]


def test_demo_slow_goes_pending_running_succeeded_on_its_clock() -> None:
    clock = FakeClock()
    emulator = demo_emulator(run_seconds=3.0, clock=clock)
    with emulator.client("demo-slow") as client:
        started = client.invoke({"topic": "tides"}, async_mode=True)
        assert started.id is not None
        assert client.get_run(started.id).status is RunStatus.PENDING
        clock.advance(0.6)
        assert client.get_run(started.id).status is RunStatus.RUNNING
        clock.advance(3.0)
        finished = client.get_run(started.id)
    assert finished.status is RunStatus.SUCCEEDED
    assert finished.duration is not None
    assert finished.duration.total_seconds() == pytest.approx(3.0)


def test_demo_fails_ends_failed_with_a_message() -> None:
    with demo_emulator().client("demo-fails") as client:
        run = client.run({"x": 1}, raise_on_failure=False)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert "Demo failure" in run.error


def test_demo_run_ids_follow_the_seed() -> None:
    def first_id(seed: int) -> str | None:
        with demo_emulator(seed=seed).client("demo-quick") as client:
            return client.invoke({"n": 1}).id

    assert first_id(1) == first_id(1)
    assert first_id(1) != first_id(2)


def test_the_plugin_closes_a_client_without_an_event_loop() -> None:
    from flowinvoke.testing.pytest_plugin import _close_without_loop

    client = two_providers().async_client("wf-g")
    _close_without_loop(client.aclose())  # the in-process transport never suspends
    _close_without_loop(client.aclose())  # and closing twice is harmless

    class Suspends:
        def __await__(self):  # type: ignore[no-untyped-def]
            yield

    async def needs_a_loop() -> None:
        await Suspends()

    with pytest.raises(RuntimeError, match="event loop"):
        _close_without_loop(needs_a_loop())
