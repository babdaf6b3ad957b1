"""`RedisChannel`: the webhook hand-off between worker processes over Redis pub/sub.

Needs the `redis` extra (`pip install "flowinvoke[redis]"`, redis-py). redis-py's asyncio
client runs on asyncio only, so a receiver with this channel listens on asyncio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskStatus

from .._core.log import logger
from ._channel import Channel, Deliver

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__all__ = ["DEFAULT_REDIS_CHANNEL", "RedisChannel"]

DEFAULT_REDIS_CHANNEL = "flowinvoke:webhooks"
"""The pub/sub channel name used unless another is given."""

_RECONNECT_SECONDS = 1.0


def _require_redis() -> None:
    try:
        import redis  # noqa: F401
    except ImportError:
        raise ImportError(
            'RedisChannel needs redis-py: pip install "flowinvoke[redis]"', name="redis"
        ) from None


class RedisChannel(Channel):
    """Publishes checked run tokens on a Redis pub/sub channel that every worker listens to.

    Pub/sub keeps nothing: a token published while a worker is disconnected is lost for
    it, and that wait falls back to its slow polling (bounded lag, never a lost run).

    Args:
        url: The Redis server, as redis-py's `from_url` takes it (`redis://host:6379/0`).
            It may hold a password: it is never shown in the repr.
        name: The pub/sub channel; give each application its own.
    """

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, name: str = DEFAULT_REDIS_CHANNEL):
        _require_redis()
        self._url = url
        self.name = name
        self._sync: redis.Redis | None = None
        self._async: redis.asyncio.Redis | None = None

    def __repr__(self) -> str:
        return f"RedisChannel(name={self.name!r})"

    def publish(self, token: str) -> None:
        """Publish with redis-py's blocking client (one round trip)."""
        if self._sync is None:
            import redis

            self._sync = redis.Redis.from_url(self._url)
        self._sync.publish(self.name, token)

    async def apublish(self, token: str) -> None:
        """Publish with redis-py's asyncio client (one per channel: use it in one loop)."""
        if self._async is None:
            import redis.asyncio

            self._async = redis.asyncio.Redis.from_url(self._url)
        await self._async.publish(self.name, token)

    async def listen(
        self, deliver: Deliver, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Subscribe and deliver tokens until cancelled; reconnect after a lost connection."""
        import redis.asyncio
        from redis.exceptions import ConnectionError as RedisConnectionError

        started = lost = False
        while True:
            client = redis.asyncio.Redis.from_url(self._url)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.name)
                if not started:
                    started = True
                    task_status.started()
                if lost:
                    lost = False
                    logger.warning("webhook channel %r listens on Redis again", self)
                async for message in pubsub.listen():
                    _deliver(message, deliver)
            except RedisConnectionError as error:
                if not started:
                    raise
                # One warning per outage, not one per reconnection attempt.
                if not lost:
                    logger.warning(
                        "webhook channel %r lost its Redis connection (%s); reconnecting "
                        "every %s s, waits fall back to polling meanwhile",
                        self,
                        error,
                        _RECONNECT_SECONDS,
                    )
                lost = True
            finally:
                with anyio.CancelScope(shield=True):
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
                    await client.aclose()
            await anyio.sleep(_RECONNECT_SECONDS)

    async def aclose(self) -> None:
        """Close the publishing connections."""
        if self._async is not None:
            await self._async.aclose()
            self._async = None
        if self._sync is not None:
            self._sync.close()
            self._sync = None


def _deliver(message: dict[str, Any], deliver: Deliver) -> None:
    data = message.get("data")
    if message.get("type") == "message" and isinstance(data, bytes):
        deliver(data.decode("ascii", "replace"))
