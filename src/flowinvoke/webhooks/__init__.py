"""flowinvoke.webhooks: runs that finish by callback, with polling as the safety net.

`WebhookReceiver` is the endpoint GPTBots/AltaBots call when an asynchronous run ends;
give it to a client (`AsyncClient(..., webhook_receiver=receiver)`) and `run()` returns as
soon as the callback arrives, confirmed by one query. `RedisChannel` (the `redis` extra)
carries callbacks between worker processes. See docs/webhooks.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._channel import Channel, Deliver, InProcessChannel
from ._credentials import SECRET_HEADER
from ._receiver import FALLBACK_POLL, MAX_BODY_BYTES, WebhookReceiver

if TYPE_CHECKING:
    from ._redis import RedisChannel

__all__ = [
    "FALLBACK_POLL",
    "MAX_BODY_BYTES",
    "SECRET_HEADER",
    "Channel",
    "Deliver",
    "InProcessChannel",
    "RedisChannel",
    "WebhookReceiver",
]


def __getattr__(name: str) -> Any:
    if name == "RedisChannel":  # imported on use: redis-py is an optional extra
        from ._redis import RedisChannel

        return RedisChannel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
