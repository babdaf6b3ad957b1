"""Request slots: at most N requests in flight, waiters served in order, nothing lost on cancel."""

from __future__ import annotations

from contextlib import AsyncExitStack

import anyio
import pytest

from flowinvoke._core.deadline import Deadline
from flowinvoke._transport.http import PoolTimeout
from flowinvoke._transport.slots import AsyncRequestSlots
from flowinvoke.testing import FakeClock

pytestmark = pytest.mark.anyio

NO_DEADLINE = Deadline(None)


async def capacity(slots: AsyncRequestSlots, most: int = 100) -> int:
    """How many requests the slots let in at once right now (none released meanwhile)."""
    async with AsyncExitStack() as held:
        for count in range(most):
            try:
                await held.enter_async_context(slots.hold(Deadline(0.02)))
            except PoolTimeout:
                return count
    return most


async def test_at_most_n_holders_served_first_come_first_served() -> None:
    clock = FakeClock()  # the holders' requests last whole fake seconds, however busy the CPU
    slots = AsyncRequestSlots(2)
    holding = 0
    most = 0
    order: list[int] = []

    async def request(n: int) -> None:
        nonlocal holding, most
        async with slots.hold(NO_DEADLINE):
            order.append(n)
            holding += 1
            most = max(most, holding)
            await clock.async_sleep(n + 1)  # releases a second apart: one grant at a time
            holding -= 1

    async with anyio.create_task_group() as group:
        for n in range(6):
            group.start_soon(request, n)
            await anyio.wait_all_tasks_blocked()  # start them in a known order
    assert most == 2
    assert order == list(range(6))
    assert await capacity(slots) == 2  # every slot came back


async def test_a_cancelled_waiter_gives_up_its_place_and_loses_no_slot() -> None:
    slots = AsyncRequestSlots(1)
    served: list[str] = []
    release_first = anyio.Event()

    async def first() -> None:
        async with slots.hold(NO_DEADLINE):
            served.append("first")
            await release_first.wait()

    async def later(name: str, scope: anyio.CancelScope) -> None:
        with scope:
            async with slots.hold(NO_DEADLINE):
                served.append(name)
                await anyio.sleep(0.01)

    cancelled, third = anyio.CancelScope(), anyio.CancelScope()
    async with anyio.create_task_group() as group:
        group.start_soon(first)
        await anyio.wait_all_tasks_blocked()
        group.start_soon(later, "second", cancelled)
        await anyio.wait_all_tasks_blocked()
        group.start_soon(later, "third", third)
        await anyio.wait_all_tasks_blocked()
        # The slot is handed to "second" in the same instant "second" is cancelled.
        release_first.set()
        cancelled.cancel()
    assert served[0] == "first"
    assert "third" in served
    assert await capacity(slots) == 1  # no slot was lost to the cancelled waiter


async def test_without_a_size_nothing_waits() -> None:
    slots = AsyncRequestSlots(None)
    holding = 0
    release = anyio.Event()

    async def request() -> None:
        nonlocal holding
        async with slots.hold(NO_DEADLINE):
            holding += 1
            await release.wait()
            holding -= 1

    async with anyio.create_task_group() as group:
        for _ in range(50):
            group.start_soon(request)
        await anyio.wait_all_tasks_blocked()
        assert holding == 50  # every request is in at once
        release.set()
    assert holding == 0
    assert await capacity(slots) == 100  # nothing was counted, so nothing can run out
