"""How the emulator finds who answers a request: each wire module routes its own paths.

The `Emulator` asks each provider's wire (in `WIRES` order) to `route` a request; the first
that knows the path answers it, with the handler for the operation or a 405 for the wrong
method. A new provider is one wire module with a `route` and an `error`, and one line in
`WIRES`: nothing else in the emulator names a path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from ._state import EmulatorState
from ._wire import ErrorKind, Handling, WireRequest, WireResponse, immediately, json_response
from ._workflows import AitutorStyle, Workflow

__all__ = [
    "ProviderWire",
    "Route",
    "WireOptions",
    "checked_method",
    "not_found",
    "post_start_get_query",
]

#: Told (seconds until the end, targets, end answer) of each async run with webhooks.
OnWebhookRun = Callable[[float, tuple[Mapping[str, Any], ...], bytes], None]


@dataclass(frozen=True, slots=True)
class WireOptions:
    """The emulator's settings that shape some providers' answers."""

    errors_in_http_200: bool = False
    aitutor_style: AitutorStyle = "seed"
    on_webhook_run: OnWebhookRun | None = None


class ErrorRenderer(Protocol):
    """A wire's error bodies, which a fault renders in the provider's own shape."""

    def error(
        self,
        kind: ErrorKind,
        workflow: Workflow | None,
        *,
        message: str | None = ...,
        code: int | str | None = ...,
        status: int | None = ...,
        headers: tuple[tuple[str, str], ...] = ...,
    ) -> WireResponse: ...


class Route(NamedTuple):
    """Who answers a request: its operation ("invoke", "query" or "other"), the workflow it
    names (if any), the wire whose error shape a fault uses, and the handler."""

    operation: str
    workflow: Workflow | None
    wire: ErrorRenderer
    handler: Callable[[WireRequest], Handling]


class ProviderWire(ErrorRenderer, Protocol):
    """One provider's wire format: built from the shared state, it routes its own paths."""

    def __init__(
        self, state: EmulatorState, lock: threading.Lock, options: WireOptions
    ) -> None: ...

    def route(self, request: WireRequest) -> Route | None:
        """This provider's route for `request`, or None if the path is not its own."""
        ...


def checked_method(
    request: WireRequest,
    method: str,
    operation: str,
    workflow: Workflow | None,
    wire: ErrorRenderer,
    handler: Callable[[WireRequest], Handling],
) -> Route:
    """The route to `handler`, or to a 405 naming `method` if the request used another."""
    if request.method.upper() != method:
        return Route("other", workflow, wire, _method_not_allowed(method))
    return Route(operation, workflow, wire, handler)


class StartsAndQueries(ErrorRenderer, Protocol):
    """A wire whose platform starts a run with POST and queries it with GET."""

    def named_workflow(self, request: WireRequest) -> Workflow | None: ...

    def invoke(self, request: WireRequest) -> Handling: ...

    def query(self, request: WireRequest) -> Handling: ...


def post_start_get_query(
    request: WireRequest, operation: str | None, wire: StartsAndQueries
) -> Route | None:
    """The route of a POST-start, GET-query platform (Dify, Coze) for the `operation` its
    path means; None if the path means none."""
    if operation is None:
        return None
    method, handler = ("POST", wire.invoke) if operation == "invoke" else ("GET", wire.query)
    return checked_method(request, method, operation, wire.named_workflow(request), wire, handler)


def not_found(request: WireRequest) -> Handling:
    """The answer to a path no provider knows."""
    return immediately(json_response(404, {"code": 40400, "message": "Not found"}))


def _method_not_allowed(method: str) -> Callable[[WireRequest], Handling]:
    def handler(request: WireRequest) -> Handling:
        body = {"code": 40500, "message": "Method not allowed"}
        return immediately(json_response(405, body, (("allow", method),)))

    return handler
