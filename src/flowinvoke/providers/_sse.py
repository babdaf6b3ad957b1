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
        self._parts: list[bytes] = []
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None
        self._fields_seen = False

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events `chunk` completes (none while an event is still arriving)."""
        if b"\n" not in chunk and b"\r" not in chunk:
            self._parts.append(chunk)  # a long line arriving in pieces is joined once
            return []
        buffer = b"".join((*self._parts, chunk))
        events: list[ServerSentEvent] = []
        start, end = 0, len(buffer)
        # Each ending is searched again only once passed (-1: none left), so a large chunk
        # is scanned once, whichever line endings it uses.
        newline, carriage = buffer.find(b"\n"), buffer.find(b"\r")
        while start < end:
            if newline != -1 and newline < start:
                newline = buffer.find(b"\n", start)
            if carriage != -1 and carriage < start:
                carriage = buffer.find(b"\r", start)
            if carriage == -1 or (newline != -1 and newline < carriage):
                if newline == -1:
                    break
                line, start = buffer[start:newline], newline + 1
            elif carriage + 1 == end:
                break  # a CR may be the first half of a CRLF: wait for the next byte
            else:
                skip = 2 if buffer[carriage + 1] == 0x0A else 1
                line, start = buffer[start:carriage], carriage + skip
            event = self._line(line.decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)
        self._parts = [buffer[start:]]
        return events

    def close(self) -> list[ServerSentEvent]:
        """The event left in the buffer when the stream ends (servers may omit the last
        blank line)."""
        events = self.feed(b"\n") if any(self._parts) else []
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
