"""Publishing a checked callback on the channel, with one warning per outage of it.

A callback that cannot be handed on is answered 503, so the platform retries it later; the
run itself is safe either way (its wait falls back to polling). While the channel is down,
every callback for another worker fails the same way: one warning when the outage starts
and one line when it ends say all there is to say, where a traceback per callback flooded
the log.
"""

from __future__ import annotations

import threading

from .._core.log import logger
from ._channel import Channel

__all__ = ["Handoff"]


class Handoff:
    """Publishes tokens on a channel; returns the HTTP status the callback gets."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self._lock = threading.Lock()
        self._down = False

    def publish(self, token: str) -> int:
        """Publish from blocking code: 200, or 503 when the channel failed."""
        try:
            self.channel.publish(token)
        except Exception as error:
            return self._failed(error)
        return self._worked()

    async def apublish(self, token: str) -> int:
        """Publish from async code: 200, or 503 when the channel failed."""
        try:
            await self.channel.apublish(token)
        except Exception as error:
            return self._failed(error)
        return self._worked()

    def _failed(self, error: Exception) -> int:
        with self._lock:
            first, self._down = not self._down, True
        if first:
            logger.warning(
                "webhook channel %r cannot hand callbacks to other workers (%s: %s); "
                "answering them 503 until it recovers (their runs fall back to polling)",
                self.channel,
                type(error).__name__,
                error,
            )
        return 503

    def _worked(self) -> int:
        with self._lock:
            recovered, self._down = self._down, False
        if recovered:
            logger.warning("webhook channel %r hands callbacks on again", self.channel)
        return 200
