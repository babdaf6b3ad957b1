"""A GPTBots-shaped server whose run starts fine and whose every query is a gzip bomb.

A start (`/v1/workflow/invoke`) is answered with a PENDING run; every other request with
256 MiB of zeros gzipped to about 250 KiB (`Content-Encoding: gzip`). A client that
inflated it whole would need 256 MiB per query; flowinvoke stops at `max_response_bytes`.
Used by `bench_bomb.py`.

Run: `python benchmarks/bomb_server.py --port 8123` (127.0.0.1 only; Ctrl-C stops it).
"""

from __future__ import annotations

import json
import zlib

from stdlib_server import FixedAnswer, serve_from_command_line

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


if __name__ == "__main__":
    serve_from_command_line(__doc__, Bomber)
