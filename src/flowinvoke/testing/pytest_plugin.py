"""pytest fixtures for testing code that uses flowinvoke, with no network and no account.

Installed with flowinvoke (entry point `pytest11`), so the fixtures are available in every
test suite of a project that has flowinvoke installed:

- `flowinvoke_emulator`: a fresh `Emulator` per test, serving one GPTBots workflow
  "wf-test" (key "test-key", `polls=1`: an async run is PENDING at the first query and
  SUCCEED at the second). Add your own with `flowinvoke_emulator.add_workflow(...)`.
- `flowinvoke_client`: a `flowinvoke.Client` bound to "wf-test", closed after the test.
- `flowinvoke_async_client`: a `flowinvoke.AsyncClient` bound to "wf-test", for tests run by
  anyio's or pytest-asyncio's plugin, on asyncio or trio.
- `flowinvoke_webhook_receiver`: a `flowinvoke.webhooks.WebhookReceiver` served by uvicorn
  on a loopback port (needs the `emulator` extra); the emulator calls it back when an async
  run started with `webhook_receiver=` ends.

Both clients poll and retry on millisecond schedules (`FAST_POLL`, `FAST_RETRY`), so a test
of a run that takes several polls takes milliseconds. This module imports no server code.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from flowinvoke import PollPolicy, RetryPolicy

from ._emulator import Emulator
from ._workflows import Workflow

if TYPE_CHECKING:
    from flowinvoke import AsyncClient, Client
    from flowinvoke.webhooks import WebhookReceiver

__all__ = [
    "FAST_POLL",
    "FAST_RETRY",
    "TEST_API_KEY",
    "TEST_WORKFLOW_ID",
    "flowinvoke_async_client",
    "flowinvoke_client",
    "flowinvoke_emulator",
    "flowinvoke_webhook_receiver",
]

TEST_WORKFLOW_ID = "wf-test"
"""The id of the workflow `flowinvoke_emulator` serves from the start."""

TEST_API_KEY = "test-key"
"""Its API key."""

FAST_POLL = PollPolicy(initial_delay=0.01, multiplier=1.0, max_interval=0.01, jitter=0, timeout=30)
"""The fixtures' poll schedule: every 10 ms, no jitter, a 30 s deadline."""

FAST_RETRY = RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.05, jitter=False)
"""The fixtures' retry schedule: two retries, 10 ms then 20 ms apart."""


@pytest.fixture
def flowinvoke_emulator() -> Emulator:
    """A fresh emulator per test, serving the GPTBots workflow "wf-test" (key "test-key")."""
    return Emulator([Workflow(id=TEST_WORKFLOW_ID, api_key=TEST_API_KEY, polls=1)])


@pytest.fixture
def flowinvoke_client(flowinvoke_emulator: Emulator) -> Iterator[Client]:
    """A `flowinvoke.Client` bound to "wf-test" on `flowinvoke_emulator`, closed afterwards."""
    client = flowinvoke_emulator.client(TEST_WORKFLOW_ID, poll=FAST_POLL, retry=FAST_RETRY)
    with client:
        yield client


@pytest.fixture
def flowinvoke_async_client(flowinvoke_emulator: Emulator) -> Iterator[AsyncClient]:
    """A `flowinvoke.AsyncClient` bound to "wf-test" on `flowinvoke_emulator`.

    A plain (sync) fixture, so it works under anyio's plugin and pytest-asyncio alike and
    on any backend: an async fixture would tie it to one plugin. The client is created
    outside an event loop (nothing in it needs one until a request) and closed after the
    test without one: its transport is the emulator's, which holds no sockets, so closing
    never has to wait. Using it as `async with flowinvoke_async_client:` is fine too.
    """
    client = flowinvoke_emulator.async_client(TEST_WORKFLOW_ID, poll=FAST_POLL, retry=FAST_RETRY)
    yield client
    _close_without_loop(client.aclose())


@pytest.fixture
def flowinvoke_webhook_receiver() -> Iterator[WebhookReceiver]:
    """A `WebhookReceiver` served by uvicorn on 127.0.0.1 (a free port) for the test."""
    from ._receiver_server import ReceiverServer  # imports uvicorn: only when used

    with ReceiverServer() as server:
        yield server.receiver


def _close_without_loop(closing: Coroutine[Any, Any, None]) -> None:
    """Run a close coroutine that never suspends (in-process transport) to its end."""
    try:
        closing.send(None)
    except StopIteration:
        return
    closing.close()
    msg = "closing the client needed an event loop; close it in the test instead"
    raise RuntimeError(msg)
