"""Fixtures of the Temporal tests: one dev server per session, one emulator per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .support import DevServer


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    server = DevServer(tmp_path_factory.mktemp("temporal") / "temporal.db").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def temporal_address(temporal_server: DevServer) -> str:
    return temporal_server.address


@pytest.fixture
def queue(request: pytest.FixtureRequest) -> str:
    """A task queue of this test's own, so no other test's worker takes its tasks."""
    return f"q-{request.node.name}"
