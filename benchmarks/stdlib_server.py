"""A minimal HTTP/1.1 keep-alive server on asyncio's stdlib, answering one fixed JSON body.

This is the "stdlib loopback server" of design.md: it does as little as a server can (no
routing, no auth, no JSON parsing), so that a client benchmark against it measures the
client. `TCP_NODELAY` is set on every connection (head and body are written in one call
anyway) and the listen backlog is 4096, so a burst of new connections is never refused.

Run: `python benchmarks/stdlib_server.py --port 8123` (127.0.0.1 only; Ctrl-C stops it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket

HOST = "127.0.0.1"
BACKLOG = 4096

#: A GPTBots query answer for a finished run, shaped like the emulator's.
BODY = json.dumps(
    {
        "workflowId": "bench-workflow",
        "workflowName": "benchmark",
        "workflowVersion": "1",
        "workflowRunId": "00000001-a1b2-4c3d-e4f5-a6b7c8d9e0f0000001",
        "input": {"topic": "benchmark"},
        "status": "SUCCEED",
        "output": {"summary": "done", "score": 0.5},
        "workflowExecutionTime": 1234,
        "totalCost": 0.01,
        "totalTokens": 42,
        "startTime": 1735689600000,
        "endTime": 1735689601234,
    },
    separators=(",", ":"),
).encode()
RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: application/json\r\n"
    b"content-length: " + str(len(BODY)).encode() + b"\r\n"
    b"connection: keep-alive\r\n"
    b"\r\n" + BODY
)


class FixedAnswer(asyncio.Protocol):
    """Reads pipelined HTTP/1.1 requests (Content-Length bodies) and answers each one."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def answer(self, head: bytes) -> bytes:
        """The answer to the request with this (lowercased) head; subclasses choose."""
        return RESPONSE

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        answers: list[bytes] = []
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = self.buffer[:end].lower()
            length = 0
            start = head.find(b"content-length:")
            if start >= 0:
                stop = head.find(b"\r\n", start)
                length = int(head[start + 15 : stop if stop >= 0 else None])
            total = end + 4 + length
            if len(self.buffer) < total:
                break
            self.buffer = self.buffer[total:]
            answers.append(self.answer(head))
        if answers and self.transport is not None:
            self.transport.write(b"".join(answers))


async def main(port: int, protocol: type[FixedAnswer] = FixedAnswer) -> None:
    """Serve on 127.0.0.1:`port` until cancelled."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(protocol, HOST, port, backlog=BACKLOG, reuse_address=True)
    async with server:
        await server.serve_forever()


def serve_from_command_line(description: str | None, protocol: type[FixedAnswer]) -> None:
    """`--port N`, then serve until Ctrl-C."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args().port, protocol))


if __name__ == "__main__":
    serve_from_command_line(__doc__, FixedAnswer)
