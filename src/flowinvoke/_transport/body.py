"""Reading an answer's body in bounded pieces, so a compressed answer cannot inflate at once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from .http import AsyncByteStream, RemoteProtocolError, Response, SyncByteStream

__all__ = ["ResponseTooLarge", "in_small_pieces", "with_content"]


class ResponseTooLarge(RemoteProtocolError):
    """The answer is larger than the client's `max_response_bytes`: reading stopped there."""


# A compressed answer is handed to the decoder in pieces of this size: deflate inflates at
# most about 1,030 times, so no decoded chunk is larger than about 4 MiB (a whole 64 KiB
# socket read of a gzip bomb would inflate to 64 MiB in one go, before any size check).
_COMPRESSED_PIECE = 4096


def in_small_pieces(response: Response) -> Response:
    """`response`, its compressed body (if any) decoded a few KiB at a time."""
    if "content-encoding" in response.headers:
        response.stream = _SmallPieces(response.stream)
    return response


class _SmallPieces(SyncByteStream, AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            for start in range(0, len(chunk), _COMPRESSED_PIECE):
                yield chunk[start : start + _COMPRESSED_PIECE]

    def __aiter__(self) -> AsyncIterator[bytes]:
        # An iterator object, not an async generator: trio warns about an async generator
        # abandoned mid-way, which is what a body past the size cap is.
        return _AsyncPieces(self._stream.__aiter__())

    def close(self) -> None:
        self._stream.close()

    async def aclose(self) -> None:
        await self._stream.aclose()


class _AsyncPieces:
    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._chunk = b""
        self._offset = 0

    def __aiter__(self) -> _AsyncPieces:
        return self

    async def __anext__(self) -> bytes:
        while self._offset >= len(self._chunk):
            self._chunk = await self._chunks.__anext__()
            self._offset = 0
        start = self._offset
        self._offset += _COMPRESSED_PIECE
        return self._chunk[start : self._offset]


def with_content(response: Response, body: bytes) -> Response:
    """`response`, its decoded body already read by the caller (in bounded chunks)."""
    response._content = body  # what httpx's own read() sets
    return response
