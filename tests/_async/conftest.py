"""Fixtures for the client tests (generated for the sync client too)."""

from __future__ import annotations

import pytest

from flowinvoke._async import _poller, _requester


class PatchedClientClock:
    """The client's time, patched: each sleep is recorded and moves a fake monotonic clock,
    which deadlines read, so time limits are tested exactly and instantly.

    Not `flowinvoke.testing.FakeClock`, which is the emulator's clock (a callable handed to
    `Emulator(clock=...)`): this one replaces the `time` and `random` functions and the
    sleeps inside the client's own modules (see the `clock` fixture).
    """

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def uniform(self, low: float, high: float) -> float:
        """Random spreads take their low end, so sleeps are exact."""
        return low

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> PatchedClientClock:
    fake = PatchedClientClock()
    monkeypatch.setattr("flowinvoke._core.deadline.time", fake)
    monkeypatch.setattr("flowinvoke._transport.rate.time", fake)
    monkeypatch.setattr("flowinvoke._transport.cooldown.time", fake)
    monkeypatch.setattr("flowinvoke._transport.cooldown.random", fake)
    monkeypatch.setattr(_requester, "async_sleep", fake.sleep)
    monkeypatch.setattr(_poller, "async_sleep", fake.sleep)
    return fake
