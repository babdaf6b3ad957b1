"""Shared by the tests that talk to a server over a real socket."""

from __future__ import annotations

from typing import Any

from flowinvoke import AsyncClient, PollPolicy, RetryPolicy

# Milliseconds, not seconds: loopback answers in well under one.
FAST_RETRY = RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.002, jitter=False)
FAST_POLL = PollPolicy(initial_delay=0.001, multiplier=1.0, max_interval=0.001, jitter=0)


def pool_is_clean(client: AsyncClient) -> bool:
    """No connection of the client's httpx pool is checked out, and no request waits."""
    transport: Any = client._http._transport
    pool = getattr(transport, "_inner", transport)._pool
    busy = [c for c in pool.connections if not (c.is_idle() or c.is_closed())]
    return not busy and not pool._requests
