"""No answer's buffer outlives its attempt (issue 23).

A gzip bomb or an oversized answer is cut at `max_response_bytes` (32 MiB by default).
Each failed attempt's buffer used to stay alive through the exception's traceback (a
reference cycle the garbage collector frees late), so a few retries held a few times the
cap. Through the public client against a loopback server, on every transport: the memory
the client allocated peaks within twice the cap however many attempts fail, and a 10 MB
answer is read within it too.
"""

from __future__ import annotations

import tracemalloc
import zlib

import pytest

from flowinvoke import APIConnectionError, RetryPolicy

from .hostile_server import Connection, HostileServer, http_answer
from .hostile_support import FLAVOURS, SUCCEEDED, perform

pytest.importorskip("httpx_aiohttp")

CAP = 32 * 1024 * 1024  # the default max_response_bytes
ATTEMPTS = 5
RETRY = RetryPolicy(max_retries=ATTEMPTS - 1, initial_delay=0.001, max_delay=0.001, jitter=False)


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """64 MiB of zeros, gzipped to about 64 KiB: twice the cap once inflated."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    return b"".join(packer.compress(zeros) for _ in range(64)) + packer.flush()


def _always(answer: bytes) -> HostileServer:
    def handle(connection: Connection) -> None:
        while connection.read_request() is not None:
            if not connection.send(answer):
                return

    return HostileServer(handle)


def _peak(flavour: str, server: HostileServer, *args: object) -> tuple[int, object]:
    options = {"base_url": server.base_url, "retry": RETRY}
    tracemalloc.start()
    try:
        try:
            result: object = perform(flavour, options, *args)
        except APIConnectionError as error:
            result = error
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, result


@pytest.mark.parametrize("flavour", [*FLAVOURS, "fast"])
def test_failed_attempts_against_a_gzip_bomb_keep_no_buffer(flavour: str, gzip_bomb: bytes) -> None:
    bomb = http_answer(gzip_bomb, headers={"Content-Encoding": "gzip"})
    with _always(bomb) as server:
        peak, error = _peak(flavour, server, "get_run", "run-42")
        assert len(server.requests_to("/v1/workflow/query")) == ATTEMPTS
    assert isinstance(error, APIConnectionError)
    assert "max_response_bytes" in str(error)
    assert peak < 2 * CAP, f"{peak / 2**20:.0f} MiB for {ATTEMPTS} failed attempts"
    cause = error.__cause__
    assert cause is not None  # the chain is kept for the reader, but not the buffers:
    frames = []
    traceback = cause.__traceback__
    while traceback is not None:
        frames.append(traceback.tb_frame)
        traceback = traceback.tb_next
    assert all(not isinstance(value, bytearray) for f in frames for value in f.f_locals.values())


@pytest.mark.parametrize("flavour", [*FLAVOURS, "fast"])
def test_a_10_mb_answer_is_read_within_twice_the_cap(flavour: str) -> None:
    body = {**SUCCEEDED, "output": {"answer": "y" * 10_000_000}}
    with _always(http_answer(body)) as server:
        peak, run = _peak(flavour, server, "get_run", "run-42")
    assert run.output == body["output"]  # type: ignore[attr-defined]
    assert peak < 2 * CAP, f"{peak / 2**20:.0f} MiB"
