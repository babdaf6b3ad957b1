"""Server-sent events (`text/event-stream`) decoded from bytes, with no I/O.

The client feeds the bytes of a streaming answer as they arrive; the decoder hands back
each complete event. Framing follows the WHATWG rules: lines end in LF, CRLF or CR; a blank
line ends an event; `data:` lines join with LF; a line starting with `:` is a comment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["SSEDecoder", "ServerSentEvent"]


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One event: its name (`event:`, default "message"), data text and own `id:`."""

    event: str = "message"
    data: str = ""
    id: str | None = None

    def json(self) -> Any:
        """The data decoded as JSON; None when it is empty or not JSON."""
        if not self.data.strip():
            return None
        try:
            return json.loads(self.data)
        except ValueError:
            return None


class SSEDecoder:
    """Turns chunks of a byte stream into `ServerSentEvent`s, keeping partial lines."""

    def __init__(self) -> None:
        self._buffer = b""
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None
        self._fields_seen = False

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events `chunk` completes (none while an event is still arriving)."""
        self._buffer += chunk
        events: list[ServerSentEvent] = []
        while True:
            line, ending, rest = _split_line(self._buffer)
            if ending is None:
                break
            self._buffer = rest
            event = self._line(line.decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[ServerSentEvent]:
        """The event left in the buffer when the stream ends (servers may omit the last
        blank line)."""
        events = self.feed(b"\n") if self._buffer else []
        if self._fields_seen:
            events.append(self._dispatch())
        return events

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch() if self._fields_seen else None
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        self._fields_seen = True
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = value
        return None

    def _dispatch(self) -> ServerSentEvent:
        event = ServerSentEvent(self._event or "message", "\n".join(self._data), self._id)
        # Unlike a browser's last-event-id, an event's id here is its own `id:` line.
        self._event, self._data, self._id, self._fields_seen = None, [], None, False
        return event


def _split_line(buffer: bytes) -> tuple[bytes, bytes | None, bytes]:
    """(line, its ending, the rest); ending None when no whole line is buffered yet."""
    for index, byte in enumerate(buffer):
        if byte == 0x0A:
            return buffer[:index], b"\n", buffer[index + 1 :]
        if byte == 0x0D:
            if index + 1 == len(buffer):
                return buffer, None, b""  # a CR may be the first half of a CRLF
            end = index + 2 if buffer[index + 1] == 0x0A else index + 1
            return buffer[:index], buffer[index:end], buffer[end:]
    return buffer, None, b""
