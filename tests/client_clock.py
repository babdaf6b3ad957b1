"""The exact clock of the client tests (the `clock` fixture of tests/_async/conftest.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from flowinvoke.testing import Emulator


class PatchedClientClock:
    """The client's time, through its one clock seam: each sleep is recorded and moves a
    fake monotonic clock, which deadlines read, so time limits are tested exactly and
    instantly.

    One sleeper at a time (each sleep moves the time by its own length): for the schedule
    of one wait. Many concurrent sleepers need `flowinvoke.testing.FakeClock`, which wakes
    them in order.
    """

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def uniform(self, low: float, high: float) -> float:
        """Random spreads take their low end, so sleeps are exact."""
        return low

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds

    # The name the generated sync tests call `async_sleep` by (scripts/unasync.py).
    sync_sleep = sleep

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def cancel_after(self, seconds: float | None) -> anyio.CancelScope:
        """Requests answer at once here: a real-time scope never cuts one."""
        return anyio.move_on_after(seconds)

    def move_with(self, emulator: Emulator) -> None:
        """Make `emulator`'s waits (blocking and async) sleeps on this clock as well."""
        emulator.sleep = self.sleep
        emulator.async_sleep = self.async_sleep
