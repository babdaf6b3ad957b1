"""pytest fixtures for testing code that uses flowinvoke, with no network and no account.

Installed with flowinvoke (entry point `pytest11`), so the fixtures are available in every
test suite of a project that has flowinvoke installed:

- `flowinvoke_emulator`: a fresh `Emulator` per test, serving the GPTBots workflow
  "wf-test" (key "test-key", `polls=1`: an async run is PENDING at the first query and
  SUCCEED at the second), the Dify workflow "dify-test" (key "dify-test-key", `polls=1`:
  its event stream ends after `workflow_started`, so the client polls) and the Coze workflow
  `TEST_COZE_WORKFLOW_ID` (key "coze-test-key", `polls=1`). Add your own with
  `flowinvoke_emulator.add_workflow(...)`.
- `flowinvoke_client`: a `flowinvoke.Client` bound to "wf-test", closed after the test.
- `flowinvoke_async_client`: a `flowinvoke.AsyncClient` bound to "wf-test", for tests run by
  anyio's or pytest-asyncio's plugin, on asyncio or trio.
- `flowinvoke_webhook_receiver`: a `flowinvoke.webhooks.WebhookReceiver` served by uvicorn
  on a loopback port (needs the `emulator` extra); the emulator calls it back when an async
  run started with `webhook_receiver=` ends.
- `flowinvoke_dify_client`, `flowinvoke_async_dify_client`, `flowinvoke_coze_client`,
  `flowinvoke_async_coze_client`: the same, bound to the Dify and the Coze workflow.

Both clients poll and retry on millisecond schedules (`FAST_POLL`, `FAST_RETRY`), so a test
of a run that takes several polls takes milliseconds. This module imports no server code,
and the emulator only when a fixture is used.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from flowinvoke import PollPolicy, RetryPolicy

if TYPE_CHECKING:
    from flowinvoke import AsyncClient, Client
    from flowinvoke.webhooks import WebhookReceiver

    from ._emulator import Emulator

__all__ = [
    "FAST_POLL",
    "FAST_RETRY",
    "TEST_API_KEY",
    "TEST_COZE_API_KEY",
    "TEST_COZE_WORKFLOW_ID",
    "TEST_DIFY_API_KEY",
    "TEST_DIFY_WORKFLOW_ID",
    "TEST_WORKFLOW_ID",
    "flowinvoke_async_client",
    "flowinvoke_async_coze_client",
    "flowinvoke_async_dify_client",
    "flowinvoke_client",
    "flowinvoke_coze_client",
    "flowinvoke_dify_client",
    "flowinvoke_emulator",
    "flowinvoke_webhook_receiver",
]

TEST_WORKFLOW_ID = "wf-test"
"""The id of the workflow `flowinvoke_emulator` serves from the start."""

TEST_API_KEY = "test-key"
"""Its API key."""

TEST_DIFY_WORKFLOW_ID = "dify-test"
"""The id of the Dify workflow `flowinvoke_emulator` serves."""

TEST_DIFY_API_KEY = "dify-test-key"
"""Its app key."""

TEST_COZE_WORKFLOW_ID = "7400000000000000000"
"""The id of the Coze workflow `flowinvoke_emulator` serves (Coze ids are 19 digits)."""

TEST_COZE_API_KEY = "coze-test-key"
"""Its token."""

FAST_POLL = PollPolicy(initial_delay=0.01, multiplier=1.0, max_interval=0.01, jitter=0, timeout=30)
"""The fixtures' poll schedule: every 10 ms, no jitter, a 30 s deadline."""

FAST_RETRY = RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.05, jitter=False)
"""The fixtures' retry schedule: two retries, 10 ms then 20 ms apart."""


@pytest.fixture
def flowinvoke_emulator() -> Emulator:
    """A fresh emulator per test, serving "wf-test" (GPTBots, key "test-key"), "dify-test"
    (Dify) and `TEST_COZE_WORKFLOW_ID` (Coze)."""
    # Here, not at the top: pytest loads this plugin in every run of every project that has
    # flowinvoke installed, and the emulator brings both clients and pydantic's models.
    from ._emulator import Emulator
    from ._workflows import Workflow

    return Emulator(
        [
            Workflow(id=TEST_WORKFLOW_ID, api_key=TEST_API_KEY, polls=1),
            Workflow(id=TEST_DIFY_WORKFLOW_ID, api_key=TEST_DIFY_API_KEY, provider="dify", polls=1),
            Workflow(id=TEST_COZE_WORKFLOW_ID, api_key=TEST_COZE_API_KEY, provider="coze", polls=1),
        ]
    )


@pytest.fixture
def flowinvoke_client(flowinvoke_emulator: Emulator) -> Iterator[Client]:
    """A `flowinvoke.Client` bound to "wf-test" on `flowinvoke_emulator`, closed afterwards."""
    yield from _sync_client(flowinvoke_emulator, TEST_WORKFLOW_ID)


@pytest.fixture
def flowinvoke_dify_client(flowinvoke_emulator: Emulator) -> Iterator[Client]:
    """A `flowinvoke.Client` bound to the Dify workflow "dify-test", closed afterwards."""
    yield from _sync_client(flowinvoke_emulator, TEST_DIFY_WORKFLOW_ID)


@pytest.fixture
def flowinvoke_coze_client(flowinvoke_emulator: Emulator) -> Iterator[Client]:
    """A `flowinvoke.Client` bound to the Coze workflow `TEST_COZE_WORKFLOW_ID`."""
    yield from _sync_client(flowinvoke_emulator, TEST_COZE_WORKFLOW_ID)


@pytest.fixture
def flowinvoke_async_client(flowinvoke_emulator: Emulator) -> Iterator[AsyncClient]:
    """A `flowinvoke.AsyncClient` bound to "wf-test" on `flowinvoke_emulator`.

    A plain (sync) fixture, so it works under anyio's plugin and pytest-asyncio alike and
    on any backend: an async fixture would tie it to one plugin. The client is created
    outside an event loop (nothing in it needs one until a request) and closed after the
    test without one: its transport is the emulator's, which holds no sockets, so closing
    never has to wait. Using it as `async with flowinvoke_async_client:` is fine too.
    """
    yield from _async_client(flowinvoke_emulator, TEST_WORKFLOW_ID)


@pytest.fixture
def flowinvoke_async_dify_client(flowinvoke_emulator: Emulator) -> Iterator[AsyncClient]:
    """A `flowinvoke.AsyncClient` bound to the Dify workflow (see `flowinvoke_async_client`)."""
    yield from _async_client(flowinvoke_emulator, TEST_DIFY_WORKFLOW_ID)


@pytest.fixture
def flowinvoke_async_coze_client(flowinvoke_emulator: Emulator) -> Iterator[AsyncClient]:
    """A `flowinvoke.AsyncClient` bound to the Coze workflow (see `flowinvoke_async_client`)."""
    yield from _async_client(flowinvoke_emulator, TEST_COZE_WORKFLOW_ID)


def _sync_client(emulator: Emulator, workflow_id: str) -> Iterator[Client]:
    with emulator.client(workflow_id, poll=FAST_POLL, retry=FAST_RETRY) as client:
        yield client


def _async_client(emulator: Emulator, workflow_id: str) -> Iterator[AsyncClient]:
    client = emulator.async_client(workflow_id, poll=FAST_POLL, retry=FAST_RETRY)
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
