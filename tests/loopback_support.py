"""Shared by the tests that talk to a server over a real socket."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from flowinvoke import AsyncClient
from flowinvoke.testing import LoopbackServer

from .policies import MILLISECOND_POLL, MILLISECOND_RETRY

if TYPE_CHECKING:
    from flowinvoke.testing import Emulator
    from flowinvoke.testing._asgi import EmulatorASGIApp, Receive, Scope, Send

# The old names, kept while tests/test_transports.py imports them from here.
FAST_RETRY = MILLISECOND_RETRY
FAST_POLL = MILLISECOND_POLL


def pool_is_clean(client: AsyncClient) -> bool:
    """No connection of the client's httpx pool is checked out, and no request waits."""
    transport: Any = client._http._transport
    pool = getattr(transport, "_inner", transport)._pool
    busy = [c for c in pool.connections if not (c.is_idle() or c.is_closed())]
    return not busy and not pool._requests


class EmulatorSwitch:
    """Lets one `LoopbackServer` serve a different `Emulator` in each test.

    Starting uvicorn costs tens of milliseconds; a module of short stories pays that once
    with one server on a switch, and each test plugs in its own fresh emulator, so no state
    leaks between tests. It stands in for the two `Emulator` methods `LoopbackServer` calls:
    `asgi_app` (once, at construction) and `client_options` (for each client). A request
    keeps the emulator that was plugged in when it arrived.
    """

    def __init__(self) -> None:
        self._emulator: Emulator | None = None
        self._app: EmulatorASGIApp | None = None

    def __repr__(self) -> str:
        return f"EmulatorSwitch({self._emulator!r})"

    def plug(self, emulator: Emulator) -> None:
        """Serve `emulator` from the next request on; a test plugs in one emulator only."""
        if self._emulator is not None and self._emulator is not emulator:
            msg = "another emulator is plugged in: unplug it first (one emulator per test)"
            raise RuntimeError(msg)
        self._emulator, self._app = emulator, emulator.asgi_app()

    def unplug(self) -> None:
        """Serve nothing until the next `plug` (a stray request then fails loudly)."""
        self._emulator = self._app = None

    def client_options(self, workflow_id: str) -> dict[str, Any]:
        return self._plugged().client_options(workflow_id)

    def asgi_app(self) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        return self._serve

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app
        if app is None:
            msg = "a request reached the loopback server with no emulator plugged in"
            raise RuntimeError(msg)
        await app(scope, receive, send)

    def _plugged(self) -> Emulator:
        if self._emulator is None:
            msg = "no emulator is plugged in"
            raise RuntimeError(msg)
        return self._emulator


def switched_server() -> tuple[LoopbackServer, EmulatorSwitch]:
    """A started `LoopbackServer` on an empty `EmulatorSwitch` (close the server after)."""
    switch = EmulatorSwitch()
    return LoopbackServer(cast("Emulator", switch)).start(), switch
