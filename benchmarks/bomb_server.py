"""A GPTBots-shaped server whose run starts fine and whose every query is a gzip bomb.

A start (`/v1/workflow/invoke`) is answered with a PENDING run; every other request with
256 MiB of zeros gzipped to about 250 KiB (`Content-Encoding: gzip`). A client that
inflated it whole would need 256 MiB per query; flowinvoke stops at `max_response_bytes`.
Used by `bench_bomb.py`.

Run: `python benchmarks/bomb_server.py --port 8123` (127.0.0.1 only; Ctrl-C stops it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import zlib

from stdlib_server import FixedAnswer

HOST = "127.0.0.1"

START = json.dumps({"workflowRunId": "bomb-run-1", "status": "PENDING"}).encode()


def _bomb() -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    return b"".join(packer.compress(zeros) for _ in range(256)) + packer.flush()


def _answer(body: bytes, *headers: bytes) -> bytes:
    head = [b"HTTP/1.1 200 OK", b"content-type: application/json", *headers]
    head.append(b"content-length: " + str(len(body)).encode())
    return b"\r\n".join(head) + b"\r\n\r\n" + body


STARTED = _answer(START)
BOMB = _answer(_bomb(), b"content-encoding: gzip")


class Bomber(FixedAnswer):
    """Answers each request: a start with a PENDING run, anything else with the bomb."""

    def answer(self, head: bytes) -> bytes:
        return STARTED if b"/workflow/invoke" in head else BOMB


async def main(port: int) -> None:
    """Serve on 127.0.0.1:`port` until cancelled."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Bomber, HOST, port, reuse_address=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args().port))
