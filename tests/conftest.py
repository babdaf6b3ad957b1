"""Shared test setup: every `@pytest.mark.anyio` test runs on asyncio and on trio."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["asyncio", "trio"], scope="session")
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _own_transport_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """respx mocks httpx's own transport: with the `fast` extra installed, an async client
    would otherwise send through aiohttp, past the mocks. Tests of the fast transport ask
    for it explicitly (`fast_transport=True`)."""
    monkeypatch.setenv("FLOWINVOKE_FAST_TRANSPORT", "0")
