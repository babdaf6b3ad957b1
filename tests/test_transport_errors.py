"""Whatever a server sends stays inside flowinvoke's errors, and inside bounded memory.

Against a raw-socket server (tests/hostile_server.py) on asyncio, trio, the blocking
client and (on asyncio) the aiohttp transport: protocol violations and undecodable bodies
become `APIConnectionError` with the key nowhere in them; an answer larger than
`max_response_bytes` is cut off there, a gzip bomb included; a redirected start is never
sent twice.
"""

from __future__ import annotations

import socket
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flowinvoke import (
    DEFAULT_MAX_RESPONSE_BYTES,
    APIConnectionError,
    AsyncClient,
    Client,
    ConfigurationError,
)

from .hostile_server import Connection, HostileServer, http_answer
from .hostile_support import FLAVOURS, INVOKE, KEY, NO_RETRY, SUCCEEDED, perform
from .loopback_support import FAST_RETRY

pytest.importorskip("httpx_aiohttp")

ALL = [*FLAVOURS, "fast"]

_OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
HOSTILE: dict[str, bytes] = {
    "bad status line": b"HTTP/1.1 abc OK\r\nContent-Length: 2\r\n\r\n{}",
    "not http": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    "bad content-length": _OK_HEAD + b"Content-Length: abc\r\n\r\n{}",
    "two content-lengths": _OK_HEAD + b"Content-Length: 2\r\nContent-Length: 7\r\n\r\n{}",
    "short body": _OK_HEAD + b"Content-Length: 100\r\n\r\n{}",
    "bad chunk": _OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "huge header": _OK_HEAD + b"X-Big: " + b"a" * 300_000 + b"\r\nContent-Length: 2\r\n\r\n{}",
    "nul in header": _OK_HEAD + b"X-Nul: a\x00b\r\nContent-Length: 2\r\n\r\n{}",
    "bad gzip": _OK_HEAD + b"Content-Encoding: gzip\r\nContent-Length: 10\r\n\r\nnot gzip!!",
}


def sending(data: bytes) -> Callable[[Connection], None]:
    """Answer the first request with `data`, then close the connection."""

    def handle(connection: Connection) -> None:
        if connection.read_request() is not None:
            connection.send(data)

    return handle


def _chain(error: BaseException) -> Iterator[BaseException]:
    visited: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in visited:
        visited.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


@pytest.mark.parametrize("flavour", ALL)
@pytest.mark.parametrize("answer", list(HOSTILE), ids=list(HOSTILE))
def test_a_protocol_violation_is_an_api_connection_error_without_the_key(
    flavour: str, answer: str
) -> None:
    with HostileServer(sending(HOSTILE[answer])) as server:
        options = {"base_url": server.base_url, "retry": NO_RETRY}
        with pytest.raises(APIConnectionError) as caught:
            perform(flavour, options, "invoke", {"q": 1})
        assert len(server.requests_to(INVOKE)) == 1
    error = caught.value
    assert error.may_have_started  # the start went out: its answer was garbage
    for link in _chain(error):  # aiohttp's ClientResponseError repr shows the headers
        assert KEY not in repr(link)
        assert KEY not in str(link)
        assert KEY not in repr(link.args)


def _big(connection: Connection, *, chunked: bool, size: int) -> None:
    if connection.read_request() is None:
        return
    body = b'{"pad": "' + b"x" * size + b'"}'
    if not chunked:
        connection.send(http_answer(body))
        return
    connection.send(_OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
    for start in range(0, len(body), 65536):
        piece = body[start : start + 65536]
        if not connection.send(b"%x\r\n%s\r\n" % (len(piece), piece)):
            return
    connection.send(b"0\r\n\r\n")


@pytest.mark.parametrize("flavour", ALL)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_answer_past_max_response_bytes_is_refused(flavour: str, chunked: bool) -> None:
    def handle(connection: Connection) -> None:
        _big(connection, chunked=chunked, size=2_000_000)

    with HostileServer(handle) as server:
        options = {"base_url": server.base_url, "retry": NO_RETRY, "max_response_bytes": 100_000}
        with pytest.raises(APIConnectionError, match="max_response_bytes") as caught:
            perform(flavour, options, "invoke", {"q": 1})
    assert caught.value.may_have_started


@pytest.mark.parametrize("flavour", ALL)
def test_an_answer_under_max_response_bytes_is_read_whole(flavour: str) -> None:
    body = {**SUCCEEDED, "output": {"answer": "y" * 300_000}}

    def handle(connection: Connection) -> None:
        if connection.read_request() is not None:
            connection.answer(body)

    with HostileServer(handle) as server:
        options = {"base_url": server.base_url, "max_response_bytes": 400_000}
        run = perform(flavour, options, "invoke", {"q": 1})
    assert run.output == body["output"]


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """256 MiB of zeros, gzipped to about 250 KiB (built in pieces: no 256 MiB string)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    return b"".join(packer.compress(zeros) for _ in range(256)) + packer.flush()


@pytest.mark.parametrize("flavour", ALL)
def test_a_gzip_bomb_is_not_inflated_past_the_cap(flavour: str, gzip_bomb: bytes) -> None:
    """Counts bytes, not time: the memory the client allocated while reading the answer
    stays far below what the bomb inflates to (before: all 256 MiB, and more)."""
    bomb = http_answer(gzip_bomb, headers={"Content-Encoding": "gzip"})
    with HostileServer(sending(bomb)) as server:
        options = {"base_url": server.base_url, "retry": NO_RETRY, "max_response_bytes": 1 << 20}
        tracemalloc.start()
        try:
            with pytest.raises(APIConnectionError, match="max_response_bytes"):
                perform(flavour, options, "invoke", {"q": 1})
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 32 * (1 << 20)


def test_max_response_bytes_has_a_documented_default_and_is_checked() -> None:
    assert DEFAULT_MAX_RESPONSE_BYTES == 32 * 1024 * 1024
    for wrong in (0, -1, 1.5, "1", True):
        with pytest.raises(ConfigurationError, match="max_response_bytes"):
            AsyncClient(api_key="k", max_response_bytes=wrong)
        with pytest.raises(ConfigurationError, match="max_response_bytes"):
            Client(api_key="k", max_response_bytes=wrong)
    derived: Any = AsyncClient(api_key="k", max_response_bytes=5000).with_options(timeout=3)
    assert derived._requester._max_bytes == 5000


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_start_redirected_to_an_unreachable_host_is_sent_once(flavour: str) -> None:
    """With your own httpx client following redirects, the failed connect to the redirect
    target is not "nothing was sent": the start went out to the first host."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]  # closed at once: nothing listens there

    def handle(connection: Connection) -> None:
        while connection.read_request() is not None:
            location = f"http://127.0.0.1:{dead}{INVOKE}"
            connection.answer({}, status=307, headers={"Location": location})

    with HostileServer(handle) as server:
        options = {"base_url": server.base_url, "retry": FAST_RETRY}
        with pytest.raises(APIConnectionError) as caught:
            perform(flavour, options, "invoke", {"q": 1}, httpx_options={"follow_redirects": True})
        assert len(server.requests_to(INVOKE)) == 1  # before: 3, one per attempt
    assert caught.value.may_have_started


@pytest.mark.parametrize("flavour", ALL)
def test_a_connection_error_names_the_host_and_not_the_key(flavour: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]  # closed at once: nothing listens there
    options = {"base_url": f"http://127.0.0.1:{dead}", "retry": NO_RETRY}
    with pytest.raises(APIConnectionError) as caught:
        perform(flavour, options, "get_run", "run-42")
    message = str(caught.value)
    assert f"query request to 127.0.0.1:{dead} failed" in message
    assert KEY not in message
    assert caught.value.run_id == "run-42"
