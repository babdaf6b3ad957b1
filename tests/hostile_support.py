"""Running one client operation on asyncio, trio or the blocking client, the same way.

The tests against hostile servers check promises that hold for every flavour of client;
each is parametrised over `FLAVOURS` and calls `perform`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpx

from flowinvoke import AsyncClient, Client, RetryPolicy

from .seed_bodies import gptbots_state

FLAVOURS = ["asyncio", "trio", "sync"]
KEY = "sk-secret-hostile-0123456789"
NO_RETRY = RetryPolicy(max_retries=0)
INVOKE = "/v1/workflow/invoke"
QUERY = "/v1/workflow/query"
PENDING = gptbots_state("PENDING")
SUCCEEDED = gptbots_state("SUCCEED", output={"answer": 42})


def perform(
    flavour: str,
    options: dict[str, Any],
    operation: str,
    *args: Any,
    httpx_options: dict[str, Any] | None = None,
    **kw: Any,
) -> Any:
    """Build a client with `options`, call `operation` on it, close it; return the result.

    `watch` and `as_completed` are collected into a list. "fast" is asyncio with the
    aiohttp transport. With `httpx_options`, the client sends through your own httpx
    client built with them (and closed after).
    """
    options = {"api_key": KEY, **options}
    if flavour == "sync":
        with contextlib.ExitStack() as stack:
            if httpx_options is not None:
                options["http_client"] = stack.enter_context(httpx.Client(**httpx_options))
            with Client(**options) as client:
                result = getattr(client, operation)(*args, **kw)
                return list(result) if operation in ("watch", "as_completed") else result
    if flavour == "fast":
        options["fast_transport"] = True

    async def main() -> Any:
        async with contextlib.AsyncExitStack() as stack:
            if httpx_options is not None:
                yours = httpx.AsyncClient(**httpx_options)
                options["http_client"] = await stack.enter_async_context(yours)
            async with AsyncClient(**options) as client:
                result = getattr(client, operation)(*args, **kw)
                if operation in ("watch", "as_completed"):
                    return [state async for state in result]
                return await result

    return anyio.run(main, backend="trio" if flavour == "trio" else "asyncio")


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """Measure the block: yields a function returning the seconds it took (once ended)."""
    started = time.monotonic()
    ended: list[float] = []
    try:
        yield lambda: ended[0] - started
    finally:
        ended.append(time.monotonic())
