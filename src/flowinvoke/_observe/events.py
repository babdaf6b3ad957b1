"""What observers are told: the public event types and the hooks that receive them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .._core.errors import APIError
    from .._core.models import WorkflowRun

__all__ = [
    "Hooks",
    "RequestEvent",
    "RequestOutcome",
    "ResponseEvent",
    "RetryEvent",
    "TracerProvider",
]


class TracerProvider(Protocol):
    """An OpenTelemetry tracer provider (anything with `get_tracer`), to trace with one
    other than the global one."""

    def get_tracer(self, name: str, version: str | None = ..., /) -> Any: ...


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """One HTTP request flowinvoke is about to send (no headers: they hold the key).

    Attributes:
        provider: The provider's name.
        operation: "invoke" (a start) or "query".
        method: The HTTP method.
        url: The full URL.
        attempt: 1 for the first try, 2 for the first retry, ...
        run_id: The run the request concerns, when known before sending (queries).
    """

    provider: str
    operation: str
    method: str
    url: str
    attempt: int
    run_id: str | None


@dataclass(frozen=True, slots=True)
class ResponseEvent:
    """How one HTTP request ended: an answer (`status_code`) or a failure (`error`).

    Attributes:
        request: The request this answers.
        status_code: The HTTP status, when an answer arrived.
        error: The typed error the request ended with, if it failed (an error answer
            included), else None.
        elapsed: Seconds from sending to the end of reading the answer.
    """

    request: RequestEvent
    status_code: int | None
    error: APIError | None
    elapsed: float


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """A request that failed and will be sent again after `delay` seconds.

    Attributes:
        request: The attempt that failed.
        error: Why it failed.
        delay: The sleep before the next attempt.
    """

    request: RequestEvent
    error: APIError
    delay: float


@dataclass(frozen=True, slots=True)
class Hooks:
    """Callbacks that observe every request of a client, on every transport.

    Each is a plain function called synchronously in the task or thread that sends the
    request, so keep it quick; what it raises is logged and otherwise ignored, so an
    observer can never break a run. Pass one or several to the client (`hooks=`).

    Attributes:
        on_request: Called before each HTTP request goes out.
        on_response: Called when it has ended, answered or failed.
        on_retry: Called when a failed request is about to be retried.
        on_state: Called with each new state of a run a wait observes.
    """

    on_request: Callable[[RequestEvent], object] | None = None
    on_response: Callable[[ResponseEvent], object] | None = None
    on_retry: Callable[[RetryEvent], object] | None = None
    on_state: Callable[[WorkflowRun], object] | None = None


class RequestOutcome:
    """Filled in by the requester as the request ends: the status or the error."""

    __slots__ = ("error", "status")

    def __init__(self) -> None:
        self.status: int | None = None
        self.error: APIError | None = None
