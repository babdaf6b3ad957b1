"""Shared test setup: every `@pytest.mark.anyio` test runs on asyncio and on trio."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

# Modules whose tests run for seconds on real processes and servers. They are handed out
# first, so that a parallel run (pytest-xdist) does not end with one worker still on one;
# a few at a time (`--maxschedchunk` in noxfile.py), so that they spread over the workers.
_LONG_MODULES = (
    "tests/temporal/",
    "tests/cli/test_batch_kill.py",
    "tests/test_ledger_processes.py",
    "tests/test_typing.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(_LONG_MODULES))


@pytest.fixture(params=["asyncio", "trio"], scope="session")
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def postgres_session_url() -> Iterator[str]:
    """A real PostgreSQL server for the whole session (see tests/postgres_support.py)."""
    pytest.importorskip("psycopg", reason="the ledger's PostgreSQL tests need psycopg 3")
    from .postgres_support import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_session_url: str) -> str:
    """The session's PostgreSQL server, its ledger tables dropped first."""
    from .postgres_support import reset

    reset(postgres_session_url)
    return postgres_session_url
