"""`WebhookReceiver` on its own: the credential check, the limits, the wake-ups, no leaks."""

from __future__ import annotations

import gc
import json
import logging
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from flowinvoke import ConfigurationError
from flowinvoke._core.models import Webhook
from flowinvoke._waiting.wakeup import AsyncWakeup, SyncWakeup
from flowinvoke.webhooks import MAX_BODY_BYTES, SECRET_HEADER, InProcessChannel, WebhookReceiver

URL = "https://api.example.com/flowinvoke/hooks"
BODY = json.dumps({"workflowRunId": "r-1", "status": "SUCCEED"}).encode()


class Recorder:
    """A wake-up that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def set(self) -> None:
        self.calls += 1


@pytest.fixture
def receiver() -> WebhookReceiver:
    return WebhookReceiver(URL)


@pytest.fixture
def waiting(receiver: WebhookReceiver) -> Iterator[tuple[Webhook, Recorder]]:
    recorder = Recorder()
    with receiver.expect_callback(recorder) as hook:
        yield hook, recorder


def path_of(hook: Webhook) -> str:
    return httpx.URL(hook.url).path


def test_a_callback_with_its_secret_wakes_its_waiter(
    receiver: WebhookReceiver, waiting: tuple[Webhook, Recorder]
) -> None:
    hook, recorder = waiting
    assert receiver.handle("POST", hook.url, hook.headers, BODY) == 200
    assert recorder.calls == 1
    assert receiver.handle("POST", path_of(hook), hook.headers, BODY) == 200  # a duplicate
    assert recorder.calls == 2  # harmless: the waiter merges wake-ups into one query


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"method": "GET"}, 405),
        ({"path": "/flowinvoke/hooks/not-a-token"}, 404),
        ({"path": "/flowinvoke/hooks/"}, 404),
        ({"headers": {}}, 401),
        ({"headers": {SECRET_HEADER: "guessed"}}, 403),
        ({"headers": {SECRET_HEADER: ""}}, 401),
        ({"body": b"<html>"}, 400),
        ({"body": b"\xff\xfe"}, 400),
        ({"body": b"{" + b" " * MAX_BODY_BYTES + b"}"}, 413),
    ],
)
def test_refused_callbacks_wake_nothing(
    receiver: WebhookReceiver,
    waiting: tuple[Webhook, Recorder],
    change: dict[str, Any],
    status: int,
) -> None:
    hook, recorder = waiting
    call: dict[str, Any] = {
        "method": "POST",
        "path": path_of(hook),
        "headers": dict(hook.headers),
        "body": BODY,
    }
    call.update(change)
    assert receiver.handle(call["method"], call["path"], call["headers"], call["body"]) == status
    assert recorder.calls == 0


def test_the_secret_of_one_run_does_not_open_another(receiver: WebhookReceiver) -> None:
    first, second = Recorder(), Recorder()
    with receiver.expect_callback(first) as one, receiver.expect_callback(second) as two:
        assert receiver.handle("POST", path_of(two), one.headers, BODY) == 403
    assert first.calls == second.calls == 0


def test_a_callback_after_the_wait_is_acknowledged_and_dropped(receiver: WebhookReceiver) -> None:
    recorder = Recorder()
    with receiver.expect_callback(recorder) as hook:
        pass
    assert receiver.waiting == 0
    assert receiver.handle("POST", hook.url, hook.headers, BODY) == 200
    assert recorder.calls == 0


def test_headers_are_matched_whatever_their_case(
    receiver: WebhookReceiver, waiting: tuple[Webhook, Recorder]
) -> None:
    hook, recorder = waiting
    headers = {SECRET_HEADER.upper(): hook.headers[SECRET_HEADER]}
    assert receiver.handle("post", hook.url, headers, BODY) == 200
    assert recorder.calls == 1


def test_public_url_rules() -> None:
    with pytest.raises(ConfigurationError, match="unencrypted"):
        WebhookReceiver("http://api.example.com/hooks")
    WebhookReceiver("http://api.example.com/hooks", allow_insecure_http=True)
    WebhookReceiver("http://127.0.0.1:8000/hooks")
    WebhookReceiver("http://localhost/hooks")
    for bad in ("ftp://x/hooks", "/hooks", "https://x/hooks?a=1"):
        with pytest.raises(ConfigurationError):
            WebhookReceiver(bad)
    with pytest.raises(ConfigurationError, match="secret_key"):
        WebhookReceiver(URL, channel=InProcessChannel())
    with pytest.raises(ConfigurationError, match="16 bytes"):
        WebhookReceiver(URL, secret_key="short")
    assert WebhookReceiver(URL + "/").public_url == URL


def test_a_channel_receiver_must_listen_before_waits_register() -> None:
    receiver = WebhookReceiver(URL, channel=InProcessChannel(), secret_key="k" * 32)
    with (
        pytest.raises(ConfigurationError, match="async with receiver"),
        receiver.expect_callback(Recorder()),
    ):
        pass


def test_no_key_or_secret_in_reprs_or_logs(
    caplog: pytest.LogCaptureFixture, waiting: tuple[Webhook, Recorder]
) -> None:
    key = "a-shared-key-of-the-workers-0123456789"
    receiver = WebhookReceiver(URL, secret_key=key)
    caplog.set_level(logging.DEBUG)
    with receiver.expect_callback(Recorder()) as hook:
        secret = hook.headers[SECRET_HEADER]
        receiver.handle("POST", hook.url, hook.headers, BODY)
        receiver.handle("POST", hook.url, {SECRET_HEADER: secret + "x"}, BODY)
        receiver.handle("POST", hook.url, {}, BODY)
        shown = [repr(receiver), repr(hook), str(hook), repr(receiver._credentials)]
    shown += [record.getMessage() for record in caplog.records]
    assert caplog.records  # the refusals were logged...
    for text in shown:
        assert secret not in text  # ...without the secret
        assert key not in text


def test_forged_callbacks_cost_no_memory(
    receiver: WebhookReceiver, waiting: tuple[Webhook, Recorder]
) -> None:
    _hook, recorder = waiting
    forged = {SECRET_HEADER: "x" * 43}
    paths = [f"/flowinvoke/hooks/{i:022d}" for i in range(100)]

    def flood(n: int) -> None:
        for i in range(n):
            receiver.handle("POST", paths[i % 100], forged, BODY)

    flood(2_000)  # warm caches before measuring
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        flood(10_000)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024
    assert receiver.waiting == 1
    assert recorder.calls == 0


# -- ASGI ---------------------------------------------------------------------------------


async def asgi_post(
    app: WebhookReceiver, path: str, headers: dict[str, str], body: bytes, root_path: str = ""
) -> int:
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return (await http.post(path, headers=headers, content=body)).status_code


@pytest.mark.anyio
async def test_asgi_wakes_the_waiter_under_a_mount(
    receiver: WebhookReceiver, waiting: tuple[Webhook, Recorder]
) -> None:
    hook, recorder = waiting
    # Mounted at /flowinvoke: root_path is set and, by the ASGI convention, path stays whole.
    status = await asgi_post(receiver, path_of(hook), hook.headers, BODY, root_path="/flowinvoke")
    assert status == 200
    assert recorder.calls == 1
    assert await asgi_post(receiver, path_of(hook), {}, BODY) == 401
    assert await asgi_post(receiver, path_of(hook), hook.headers, b"no") == 400
    assert recorder.calls == 1


class Dripper:
    """An ASGI `receive` that would send an endless body in 64 KiB chunks."""

    def __init__(self) -> None:
        self.chunks = 0

    async def __call__(self) -> dict[str, Any]:
        self.chunks += 1
        return {"type": "http.request", "body": b" " * 65536, "more_body": True}


async def call_asgi(
    receiver: WebhookReceiver, hook: Webhook, receive: Any, headers: dict[str, str]
) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    scope = {"type": "http", "method": "POST", "path": path_of(hook), "headers": raw}
    await receiver(scope, receive, send)
    return sent


@pytest.mark.anyio
async def test_asgi_answers_413_without_reading_the_whole_body(
    receiver: WebhookReceiver, waiting: tuple[Webhook, Recorder]
) -> None:
    hook, recorder = waiting
    dripper = Dripper()
    sent = await call_asgi(receiver, hook, dripper, dict(hook.headers))
    assert sent[0]["status"] == 413
    assert dripper.chunks == MAX_BODY_BYTES // 65536 + 1  # stopped right past the limit
    declared = await call_asgi(
        receiver, hook, Dripper(), {**hook.headers, "content-length": str(10**9)}
    )
    assert declared[0]["status"] == 413
    assert recorder.calls == 0


@pytest.mark.anyio
async def test_asgi_reads_no_body_from_an_unknown_caller(receiver: WebhookReceiver) -> None:
    dripper = Dripper()
    with receiver.expect_callback(Recorder()) as hook:
        sent = await call_asgi(receiver, hook, dripper, {SECRET_HEADER: "forged"})
    assert sent[0]["status"] == 403
    assert dripper.chunks == 0


# -- wake-ups across threads and loops ------------------------------------------------------


@pytest.mark.anyio
async def test_an_async_sleep_is_woken_from_another_thread() -> None:
    wakeup = AsyncWakeup()
    with anyio.fail_after(20):
        async with anyio.create_task_group() as group:
            group.start_soon(anyio.to_thread.run_sync, wakeup.set)
            assert await wakeup.sleep(30) is True
    assert await wakeup.sleep(0) is False  # consumed


@pytest.mark.anyio
async def test_an_async_sleep_is_woken_from_another_event_loop() -> None:
    wakeup = AsyncWakeup()

    async def other_loop() -> None:
        wakeup.set()

    thread = threading.Thread(target=anyio.run, args=(other_loop,))
    with anyio.fail_after(20):
        thread.start()
        assert await wakeup.sleep(30) is True
    thread.join()


@pytest.mark.anyio
async def test_a_wake_before_the_sleep_is_kept() -> None:
    wakeup = AsyncWakeup()
    wakeup.set()
    with anyio.fail_after(20):
        assert await wakeup.sleep(30) is True


def test_a_blocking_sleep_is_woken_from_another_thread() -> None:
    wakeup = SyncWakeup()
    threading.Timer(0.05, wakeup.set).start()
    assert wakeup.sleep(30) is True
    assert wakeup.sleep(0) is False


# -- channels -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_an_in_process_channel_carries_checked_tokens_to_another_receiver() -> None:
    channel = InProcessChannel()
    key = "k" * 32
    here = WebhookReceiver(URL, channel=channel, secret_key=key)
    there = WebhookReceiver(URL, channel=channel, secret_key=key)
    recorder = Recorder()
    async with here, there:
        with here.expect_callback(recorder) as hook:
            assert there.handle("POST", hook.url, {SECRET_HEADER: "forged"}, BODY) == 403
            assert recorder.calls == 0  # a refused callback is never published
            assert there.handle("POST", hook.url, hook.headers, BODY) == 200
            assert recorder.calls == 1
            assert await asgi_post(there, path_of(hook), hook.headers, BODY) == 200
            assert recorder.calls == 2


@pytest.mark.anyio
async def test_served_alone_the_receiver_runs_its_own_lifespan() -> None:
    receiver = WebhookReceiver(URL, channel=InProcessChannel(), secret_key="k" * 32)
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []
    listening: list[bool] = []

    async def receive() -> dict[str, Any]:
        listening.append(receiver._listening is not None)
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await receiver({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert listening == [False, True]  # listening between startup and shutdown
    assert receiver._listening is None


@pytest.mark.anyio
async def test_a_caller_that_leaves_mid_body_wakes_nothing(
    receiver: WebhookReceiver, waiting: tuple[Webhook, Recorder]
) -> None:
    hook, recorder = waiting

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    sent = await call_asgi(receiver, hook, receive, dict(hook.headers))
    assert sent[0]["status"] == 400
    assert recorder.calls == 0


def test_the_emulator_calls_only_loopback_targets() -> None:
    from flowinvoke.testing import Emulator, Workflow

    emulator = Emulator([Workflow(id="wf", api_key="key", duration=0.01)])
    hooks = [{"url": "https://example.com/hook"}, {"url": "http://10.0.0.1/hook"}]
    with emulator.client("wf") as client:
        client.invoke({"q": 1}, async_mode=True, webhooks=hooks)
    assert emulator.callbacks == {"skipped": 2}


def test_the_emulator_counts_a_target_that_does_not_answer() -> None:
    from flowinvoke.testing import Emulator, Workflow

    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    emulator = Emulator([Workflow(id="wf", api_key="key", duration=0.01)])
    with emulator.client("wf") as client:
        client.invoke({"q": 1}, async_mode=True, webhooks=[{"url": f"http://127.0.0.1:{port}/h"}])
    end = time.monotonic() + 10
    while not emulator.callbacks["failed"] and time.monotonic() < end:
        time.sleep(0.01)
    assert emulator.callbacks == {"failed": 1}


def test_a_blocking_sleep_in_a_batch_ends_when_the_batch_is_closed() -> None:
    from flowinvoke._core.batch_stop import BatchStopped, reset, stop_with

    stop = threading.Event()
    token = stop_with(stop)
    try:
        wakeup = SyncWakeup()
        wakeup.set()
        assert wakeup.sleep(30) is True  # a wake-up still ends the sleep in a batch
        assert wakeup.sleep(0.01) is False
        stop.set()
        with pytest.raises(BatchStopped):
            wakeup.sleep(30)
    finally:
        reset(token)


class _BrokenChannel(InProcessChannel):
    """A channel whose server is unreachable: listening fails at once."""

    async def listen(self, deliver: Any, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        raise ConnectionRefusedError("the channel's server refused the connection")


def test_a_receiver_server_that_cannot_start_says_why_at_once() -> None:
    pytest.importorskip("uvicorn")
    from flowinvoke.testing import ReceiverServer

    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"did not start.*refused the connection"):
        ReceiverServer(channel=_BrokenChannel(), secret_key="k" * 32).start()
    assert time.monotonic() - started < 5  # not the 10 s start timeout
