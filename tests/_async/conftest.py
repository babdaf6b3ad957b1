"""Fixtures for the client tests of tests/_async (generated for the sync client too)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flowinvoke._core.deadline import set_time_source

from ..client_clock import PatchedClientClock

__all__ = ["PatchedClientClock", "clock"]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[PatchedClientClock]:
    """The client on an exact fake clock (its random spreads at their low end)."""
    fake = PatchedClientClock()
    monkeypatch.setattr("flowinvoke._transport.cooldown.random", fake)
    previous = set_time_source(fake)
    yield fake
    set_time_source(previous)
