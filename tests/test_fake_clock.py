"""`FakeClock` drives many sleepers at once, and the whole client runs on it once installed.

Every test here runs on fake time only: a real-time wait of any length shows up as a test
that takes that long, and a wrong order as a failed assertion.
"""

from __future__ import annotations

import itertools
import random
import threading
import time

import anyio
import anyio.lowlevel
import httpx
import pytest

from flowinvoke import APITimeoutError, Client, PollPolicy, RetryPolicy
from flowinvoke._core.deadline import now, time_source
from flowinvoke.testing import Emulator, FakeClock, Fault, Workflow

from .seed_bodies import GPTBOTS_ASYNC_ANSWER, gptbots_state

KEY = "sk-fake-clock-5d0c2e"


@pytest.mark.anyio
async def test_hundreds_of_tasks_wake_in_the_order_and_at_the_time_they_asked() -> None:
    clock = FakeClock()
    delays = [random.Random(7).uniform(0.5, 600.0) for _ in range(300)]
    woken: list[tuple[float, float]] = []  # (asked for, woken at)

    async def sleeper(seconds: float) -> None:
        await clock.async_sleep(seconds)
        woken.append((seconds, clock()))

    async with anyio.create_task_group() as group:
        for seconds in delays:
            group.start_soon(sleeper, seconds)
    assert [asked for asked, _ in woken] == sorted(delays)
    assert all(at == pytest.approx(asked) for asked, at in woken)
    assert clock() == pytest.approx(max(delays))


def test_threads_sleeping_on_it_wake_in_order_of_their_wake_ups() -> None:
    # Time must not move before the last thread has gone to sleep: the threads start their
    # sleeps together (a barrier), and the idle time before a jump is far longer than the
    # few microseconds between them, even on a busy machine.
    clock = FakeClock(100.0, idle=0.2)
    woken: list[tuple[int, float]] = []
    lock = threading.Lock()
    together = threading.Barrier(5)

    def sleeper(seconds: int) -> None:
        together.wait(10)
        clock.sleep(seconds)
        with lock:
            woken.append((seconds, clock()))

    threads = [threading.Thread(target=sleeper, args=(s,)) for s in (5, 1, 4, 2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert woken == [(s, 100.0 + s) for s in (1, 2, 3, 4, 5)]


@pytest.mark.anyio
async def test_advancing_wakes_the_sleepers_whose_time_has_come() -> None:
    clock = FakeClock(idle=60.0)  # no jump on its own within the test
    woken: list[float] = []
    first = anyio.Event()

    async def sleeper(seconds: float) -> None:
        await clock.async_sleep(seconds)
        woken.append(seconds)
        first.set()

    async with anyio.create_task_group() as group:
        group.start_soon(sleeper, 2.0)
        group.start_soon(sleeper, 9.0)
        await anyio.wait_all_tasks_blocked()  # both are asleep now
        clock.advance(5.0)
        with anyio.fail_after(5):  # real seconds: the woken task runs at once
            await first.wait()
        assert woken == [2.0]
        clock.advance(5.0)
    assert woken == [2.0, 9.0]


@pytest.mark.anyio
async def test_cancel_after_cuts_a_block_at_its_fake_deadline_which_may_move() -> None:
    clock = FakeClock()
    with clock.cancel_after(10.0) as scope:
        scope.deadline += 5.0
        await clock.async_sleep(3600.0)
    assert scope.cancelled_caught
    assert clock() == 15.0
    with clock.cancel_after(None) as endless:
        await clock.async_sleep(20.0)
    assert not endless.cancelled_caught


def test_install_routes_the_clients_time_and_puts_the_real_clock_back() -> None:
    clock = FakeClock(1234.0)
    with clock.install():
        assert time_source() is clock
        assert now() == 1234.0
    assert time_source() is None


def test_idle_must_be_positive() -> None:
    with pytest.raises(ValueError, match="idle"):
        FakeClock(idle=0)


@pytest.mark.anyio
async def test_a_deadline_holds_against_a_slow_server_on_the_same_clock() -> None:
    """The emulator answers the start after a minute of fake time; the client's 10 s
    timeout cuts it on the same clock (plus the grace given to transports' own errors)."""
    clock = FakeClock()
    emulator = Emulator([Workflow(id="wf", api_key=KEY)], clock=clock)
    emulator.inject(Fault("slow", operation="invoke", delay=60.0))
    with clock.install():
        retry = RetryPolicy(max_retries=0)
        async with emulator.async_client("wf", timeout=10.0, retry=retry) as client:
            with pytest.raises(APITimeoutError) as caught:
                await client.invoke({"q": 1})
    assert caught.value.may_have_started
    assert 10.0 <= clock() <= 10.5


@pytest.mark.anyio
async def test_many_waits_poll_on_their_schedules_on_fake_time() -> None:
    """100 runs in flight, each lasting half a fake minute: every wait polls on its own
    schedule and sees its run finish, in a fraction of a second of real time."""
    clock = FakeClock()
    emulator = Emulator([Workflow(id="wf", api_key=KEY, duration=30.0)], clock=clock)
    poll = PollPolicy(initial_delay=5.0, multiplier=1.0, max_interval=5.0, jitter=0)
    with clock.install():
        async with emulator.async_client("wf", poll=poll) as client:
            items = await client.run_many([{"n": n} for n in range(100)], concurrency=100)
    assert all(item.ok for item in items)
    assert 30.0 <= clock() <= 40.0  # one poll interval past the runs' end
    queries = sum(emulator.counters.queries.values())
    assert 100 * 6 <= queries <= 100 * 7  # a query every 5 s for half a minute, each


def test_the_blocking_clients_threads_share_the_rate_limit_on_fake_time() -> None:
    """A blocking batch's worker threads sleep on the fake clock too: the client-wide
    rate limit spaces their 50 starts a tenth of a second apart."""
    clock = FakeClock()
    sent: list[float] = []
    lock = threading.Lock()

    def server(request: httpx.Request) -> httpx.Response:
        with lock:
            sent.append(clock())
        if request.url.path.endswith("/invoke"):
            return httpx.Response(200, json=GPTBOTS_ASYNC_ANSWER)
        return httpx.Response(200, json=gptbots_state("SUCCEED"))

    with clock.install():
        transport = httpx.MockTransport(server)
        with Client(api_key=KEY, transport=transport, rate_limit=10) as client:
            items = client.run_many([{"n": n} for n in range(50)], concurrency=10)
    assert all(item.ok for item in items)
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent)]
    assert min(gaps) == pytest.approx(0.1)
    assert clock() == pytest.approx(0.1 * (len(sent) - 1), abs=1.0)


@pytest.mark.anyio
async def test_time_stands_while_a_task_works_through_steps_that_never_read_it() -> None:
    """A task busy for many milliseconds, yielding between steps but never reading the
    clock (a starved CPU stretches any step like this): the sleeper's wake-up must not
    arrive under it, since its loop still has work ready."""
    clock = FakeClock()
    seen: list[float] = []

    async def work() -> None:
        for _ in range(20):
            # The loop's thread held up without reading the fake clock, as on a starved CPU
            # (a blocking sleep lets the clock's driver thread run meanwhile; a busy loop
            # would keep it off the GIL and hide the hazard).
            time.sleep(0.003)  # noqa: ASYNC251
            await anyio.lowlevel.checkpoint()
        seen.append(clock())

    async with anyio.create_task_group() as group:
        group.start_soon(clock.async_sleep, 5.0)
        group.start_soon(work)
    assert seen == [0.0]
    assert clock() == 5.0
