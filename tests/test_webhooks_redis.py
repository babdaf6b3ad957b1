"""`RedisChannel` across two "workers": a callback lands on one, the waiter sits on the other.

The tests start their own `redis-server` on a free loopback port and skip, saying why, only
where the binary is absent (CI installs it). redis-py's asyncio client runs on asyncio only.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import anyio
import anyio.from_thread
import httpx
import pytest

from flowinvoke import PollPolicy, RunStatus
from flowinvoke.testing import Emulator, ReceiverServer, Workflow
from flowinvoke.webhooks import SECRET_HEADER, WebhookReceiver

pytest.importorskip("uvicorn")
pytest.importorskip("redis", reason="RedisChannel needs redis-py (the redis extra)")

from flowinvoke.webhooks import RedisChannel, _redis

NEVER = PollPolicy(initial_delay=60.0, multiplier=1.0, max_interval=60.0, jitter=0)
KEY = "a-key-every-worker-shares-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def redis_server(port: int) -> Iterator[str]:
    """A redis-server on a loopback port for the block's duration; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        end = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > end or server.poll() is not None:
                    pytest.fail("redis-server did not start")
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server(free_port()) as url:
        yield url


@pytest.fixture
def emulator() -> Emulator:
    return Emulator([Workflow(id="wf", api_key="key-wf", duration=0.2)])


@pytest.fixture
def other_worker(redis_url: str) -> Iterator[WebhookReceiver]:
    """The worker the platform's callbacks land on (served by uvicorn, listening on Redis)."""
    channel = RedisChannel(redis_url, name="test-hooks")
    with ReceiverServer(channel=channel, secret_key=KEY) as server:
        yield server.receiver


def this_worker(redis_url: str, other: WebhookReceiver) -> WebhookReceiver:
    """The waiting worker: same public URL (one load balancer) and key, its own connection."""
    channel = RedisChannel(redis_url, name="test-hooks")
    return WebhookReceiver(other.public_url, channel=channel, secret_key=KEY, fallback=NEVER)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_a_callback_on_another_worker_wakes_the_waiter(
    anyio_backend: str, redis_url: str, emulator: Emulator, other_worker: WebhookReceiver
) -> None:
    receiver = this_worker(redis_url, other_worker)
    async with receiver, emulator.async_client("wf", webhook_receiver=receiver) as client:
        run = await client.run({"q": 1}, timeout=30)
    assert run.status is RunStatus.SUCCEEDED
    assert emulator.counters.queries[run.id] == 1  # woken through Redis, not by polling
    assert other_worker.waiting == 0


def test_the_sync_client_listens_through_a_portal(
    redis_url: str, emulator: Emulator, other_worker: WebhookReceiver
) -> None:
    receiver = this_worker(redis_url, other_worker)
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(receiver),
        emulator.client("wf", webhook_receiver=receiver) as client,
    ):
        run = client.run({"q": 1}, timeout=30)
    assert emulator.counters.queries[run.id] == 1


def test_a_blocking_handle_publishes_with_the_blocking_client(
    redis_url: str, other_worker: WebhookReceiver
) -> None:
    receiver = this_worker(redis_url, other_worker)
    woken: list[int] = []
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(receiver),
        receiver.expect_callback(type("W", (), {"set": lambda self: woken.append(1)})()) as hook,
    ):
        channel = RedisChannel(redis_url, name="test-hooks")
        publisher = WebhookReceiver(hook.url, channel=channel, secret_key=KEY)
        path = hook.url
        assert publisher.handle("POST", path, {SECRET_HEADER: "forged"}, b"{}") == 403
        assert publisher.handle("POST", path, hook.headers, b"{}") == 200
        end = time.monotonic() + 10
        while not woken and time.monotonic() < end:
            time.sleep(0.01)
        portal.call(channel.aclose)
    assert woken == [1]


def test_the_repr_shows_no_password() -> None:
    channel = RedisChannel("redis://:hunter2-password@127.0.0.1:6379/0")
    assert "hunter2" not in repr(channel)
    receiver = WebhookReceiver("https://x.example/h", channel=channel, secret_key=KEY)
    assert "hunter2" not in repr(receiver)


def test_while_redis_is_down_callbacks_for_other_workers_get_503_and_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    waiter = WebhookReceiver("http://127.0.0.1:9/hooks", secret_key=KEY)
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        waiter.expect_callback(type("W", (), {"set": lambda self: None})()) as hook,
    ):
        channel = RedisChannel(f"redis://127.0.0.1:{port}/0", name="test-down")
        receiver = WebhookReceiver(waiter.public_url, channel=channel, secret_key=KEY)
        asgi = httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver))

        async def through_asgi() -> int:
            answer = await asgi.post(hook.url, headers=hook.headers, content=b"{}")
            return answer.status_code

        def callback_both_ways() -> list[int]:
            blocking = receiver.handle("POST", hook.url, hook.headers, b"{}")
            return [blocking, portal.call(through_asgi)]

        with redis_server(port):
            assert callback_both_ways() == [200, 200]
        with caplog.at_level(logging.DEBUG, logger="flowinvoke"):
            answers = [status for _ in range(3) for status in callback_both_ways()]
        assert answers == [503] * 6
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
        assert "answering them 503" in warnings[0].getMessage()
        assert not any(r.exc_info for r in caplog.records)  # no traceback per callback
        caplog.clear()
        with redis_server(port), caplog.at_level(logging.WARNING, logger="flowinvoke"):
            assert callback_both_ways() == [200, 200]
        assert ["hands callbacks on again" in r.getMessage() for r in caplog.records] == [True]
        portal.call(channel.aclose)


def test_a_listener_warns_once_per_outage_and_once_when_back(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_redis, "_RECONNECT_SECONDS", 0.02)  # many attempts in little time
    port = free_port()
    channel = RedisChannel(f"redis://127.0.0.1:{port}/0", name="test-listen")
    receiver = WebhookReceiver("http://127.0.0.1:9/hooks", channel=channel, secret_key=KEY)
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        caplog.at_level(logging.DEBUG, logger="flowinvoke"),
    ):
        first = ExitStack()
        first.enter_context(redis_server(port))
        with first, portal.wrap_async_context_manager(receiver):
            first.close()  # Redis stops under a listening receiver
            end = time.monotonic() + 10
            while "lost its Redis connection" not in caplog.text and time.monotonic() < end:
                time.sleep(0.01)
            time.sleep(0.25)  # about a dozen failed reconnection attempts meanwhile
            with redis_server(port):
                end = time.monotonic() + 10
                while "again" not in caplog.text and time.monotonic() < end:
                    time.sleep(0.05)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    # (A third, a new outage, may follow: the second server stops before the receiver.)
    assert "lost its Redis connection" in warnings[0], warnings
    assert "listens on Redis again" in warnings[1], warnings
