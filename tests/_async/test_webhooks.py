"""`run()` finishing by webhook: the emulator calls a real uvicorn receiver on loopback.

A waiter whose callback works must end after ONE query even though its fallback schedule
would not poll for a minute; a waiter whose callback is lost must still end, by polling.
No test asserts a duration: "woken by the callback" is shown by a fallback that would
otherwise time the run out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from flowinvoke import AsyncClient, PollPolicy, RunStatus, WaitTimeoutError
from flowinvoke.testing import CallbackFaults, Emulator, ReceiverServer, Workflow
from flowinvoke.webhooks import SECRET_HEADER, WebhookReceiver

pytest.importorskip("uvicorn")

NEVER = PollPolicy(initial_delay=60.0, multiplier=1.0, max_interval=60.0, jitter=0)
"""A fallback that polls only after a minute: a run ending sooner was woken by its callback."""
QUICK = PollPolicy(initial_delay=0.02, multiplier=1.0, max_interval=0.02, jitter=0)


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(
        [
            Workflow(id="wf", api_key="key-wf", duration=0.2),
            Workflow(id="tutor", api_key="key-tutor", provider="aitutor"),
        ]
    )


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with ReceiverServer(fallback=NEVER) as server:
        yield server.receiver


def settled(emulator: Emulator, outcome: str, count: int = 1) -> bool:
    """Wait (bounded) until the emulator has counted `count` callbacks with `outcome`."""
    end = time.monotonic() + 10
    while emulator.callbacks[outcome] < count and time.monotonic() < end:
        time.sleep(0.01)
    return emulator.callbacks[outcome] >= count


@pytest.mark.anyio
async def test_run_ends_on_the_callback_with_one_query(
    emulator: Emulator, receiver: WebhookReceiver
) -> None:
    async with emulator.async_client("wf", webhook_receiver=receiver) as client:
        run = await client.run({"q": 1}, timeout=30)
    assert run.status is RunStatus.SUCCEEDED
    assert run.output == {"echo": {"q": 1}}
    assert emulator.counters.queries[run.id] == 1
    assert receiver.waiting == 0  # the registration ended with the wait
    (hook,) = emulator.run(run.id or "").webhooks
    assert hook["url"].startswith(receiver.public_url + "/")
    assert set(hook["headers"]) == {SECRET_HEADER}


@pytest.mark.anyio
async def test_the_callers_own_webhooks_are_kept(
    emulator: Emulator, receiver: WebhookReceiver
) -> None:
    theirs = {"url": "https://example.com/hook", "method": "POST"}
    async with emulator.async_client("wf", webhook_receiver=receiver) as client:
        run = await client.run({"q": 1}, webhooks=[theirs], timeout=30)
    urls = [hook["url"] for hook in emulator.run(run.id or "").webhooks]
    assert urls[0] == theirs["url"]
    assert urls[1].startswith(receiver.public_url)
    assert emulator.callbacks["skipped"] == 1  # the emulator never leaves loopback


@pytest.mark.anyio
async def test_duplicate_callbacks_cost_nothing_more(
    emulator: Emulator, receiver: WebhookReceiver
) -> None:
    emulator.set_callback_faults(CallbackFaults(duplicates=3))
    async with emulator.async_client("wf", webhook_receiver=receiver) as client:
        run = await client.run({"q": 1}, timeout=30)
    assert settled(emulator, "sent", 4)  # all four were acknowledged
    assert emulator.counters.queries[run.id] == 1


@pytest.mark.anyio
async def test_a_late_callback_still_ends_the_wait(
    emulator: Emulator, receiver: WebhookReceiver
) -> None:
    emulator.set_callback_faults(CallbackFaults(late=0.3))
    async with emulator.async_client("wf", webhook_receiver=receiver) as client:
        run = await client.run({"q": 1}, timeout=30)
    assert run.status is RunStatus.SUCCEEDED
    assert emulator.counters.queries[run.id] == 1


@pytest.mark.anyio
async def test_lost_callbacks_fall_back_to_polling(emulator: Emulator) -> None:
    emulator.set_callback_faults(CallbackFaults(drop=True))
    with ReceiverServer(fallback=QUICK) as server:
        async with emulator.async_client("wf", webhook_receiver=server.receiver) as client:
            run = await client.run({"q": 1}, timeout=30)
    assert run.status is RunStatus.SUCCEEDED
    assert emulator.callbacks["dropped"] == 1
    assert emulator.counters.queries[run.id] >= 1


@pytest.mark.anyio
async def test_runs_finishing_by_fallback_polling_warn_once_per_client_with_the_cause(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.set_callback_faults(CallbackFaults(drop=True))  # the platform cannot reach us
    with ReceiverServer(fallback=QUICK) as server, caplog.at_level(logging.DEBUG, "flowinvoke"):
        async with emulator.async_client("wf", webhook_receiver=server.receiver) as client:
            first = await client.run({"q": 1}, timeout=30)
            await client.run({"q": 2}, timeout=30)
        async with emulator.async_client("wf", webhook_receiver=server.receiver) as other:
            await other.run({"q": 3}, timeout=30)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings  # one per client, not one per run
    assert f"run {first.id} expected a webhook callback" in warnings[0]
    assert f"cannot reach public_url {server.receiver.public_url}" in warnings[0]
    endings = [r.getMessage() for r in caplog.records if "ended SUCCEED by" in r.getMessage()]
    assert len(endings) == 3
    queries = emulator.counters.queries[first.id]
    assert endings[0] == f"run {first.id} ended SUCCEED by poll after {queries} quer" + (
        "y" if queries == 1 else "ies"
    )


@pytest.mark.anyio
async def test_each_wait_says_at_debug_how_it_ended(
    emulator: Emulator, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, "flowinvoke"):
        async with emulator.async_client("wf", webhook_receiver=receiver) as client:
            by_callback = await client.run({"q": 1}, timeout=30)
            started = await client.invoke({"q": 2}, async_mode=True)
            assert started.id is not None
            by_poll = await client.wait(started.id, poll=QUICK, timeout=30)
        async with emulator.async_client("tutor") as tutor:
            by_start = await tutor.run({"q": 3}, timeout=30)
    lines = [r.getMessage() for r in caplog.records if " ended " in r.getMessage()]
    polls = emulator.counters.queries[by_poll.id]
    assert lines == [
        f"run {by_callback.id} ended SUCCEED by callback after 1 query",
        f"run {by_poll.id} ended SUCCEED by poll after {polls} quer{'y' if polls == 1 else 'ies'}",
        f"run {by_start.id} ended {by_start.raw_status} by start after 0 queries",
    ]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.anyio
async def test_a_forged_callback_causes_no_query(
    emulator: Emulator, receiver: WebhookReceiver
) -> None:
    emulator.set_callback_faults(CallbackFaults(wrong_credentials=True))
    async with emulator.async_client("wf", webhook_receiver=receiver) as client:
        with pytest.raises(WaitTimeoutError) as caught:
            await client.run({"q": 1}, timeout=1.5)
    assert settled(emulator, "answered 403")
    assert emulator.counters.queries[caught.value.run_id] == 0
    assert receiver.waiting == 0


@pytest.mark.anyio
async def test_wait_on_a_run_started_elsewhere_polls(
    emulator: Emulator, receiver: WebhookReceiver
) -> None:
    async with emulator.async_client("wf", webhook_receiver=receiver, poll=QUICK) as client:
        started = await client.invoke({"q": 1}, async_mode=True)
        run = await client.wait(started.id or "", timeout=30)
    assert run.status is RunStatus.SUCCEEDED
    assert emulator.run(run.id or "").webhooks == ()
    assert emulator.counters.queries[run.id] >= 2  # polled, not woken


@pytest.mark.anyio
async def test_a_provider_without_async_starts_ignores_the_receiver(
    emulator: Emulator, receiver: WebhookReceiver
) -> None:
    async with emulator.async_client("tutor", webhook_receiver=receiver) as client:
        run = await client.run({"q": 1}, timeout=30)
    assert run.status is RunStatus.SUCCEEDED
    assert receiver.waiting == 0


@pytest.mark.anyio
async def test_with_options_keeps_the_receiver(
    emulator: Emulator, receiver: WebhookReceiver
) -> None:
    async with emulator.async_client("wf", webhook_receiver=receiver) as client:
        derived = client.with_options(timeout=20)
        run = await derived.run({"q": 1}, timeout=30)
    assert emulator.counters.queries[run.id] == 1


@pytest.mark.anyio
async def test_with_options_none_turns_the_receiver_off_and_a_receiver_turns_it_on(
    emulator: Emulator, receiver: WebhookReceiver
) -> None:
    five = [{"url": f"https://example.com/{i}"} for i in range(5)]  # never called: not loopback
    async with emulator.async_client("wf", webhook_receiver=receiver) as client:
        off = client.with_options(webhook_receiver=None)
        run = await off.run({"q": 1}, webhooks=five, timeout=30, poll=QUICK)  # room for five
        assert run.status is RunStatus.SUCCEEDED
        on = off.with_options(webhook_receiver=receiver)
        with pytest.raises(ValueError, match="at most 5"):
            await on.run({"q": 1}, webhooks=five)
        run = await on.run({"q": 2}, timeout=30)
    assert emulator.counters.queries[run.id] == 1  # woken by the callback


def test_the_client_repr_shows_no_secret(receiver: WebhookReceiver) -> None:
    client = AsyncClient(api_key="sk-secret-key", webhook_receiver=receiver)
    assert "sk-secret-key" not in repr(client)


@pytest.mark.anyio
async def test_five_own_webhooks_leave_no_room_for_ours(
    emulator: Emulator, receiver: WebhookReceiver
) -> None:
    hooks = [{"url": f"https://example.com/{i}"} for i in range(5)]
    async with emulator.async_client("wf", webhook_receiver=receiver) as client:
        with pytest.raises(ValueError, match="at most 5"):
            await client.run({"q": 1}, webhooks=hooks)
    assert emulator.counters.total_invokes == 0  # refused before anything was sent
    assert receiver.waiting == 0
