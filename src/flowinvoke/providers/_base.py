"""The provider interface: a translator between one platform's wire format and ours.

A provider builds request descriptions and reads response bodies. It does no I/O, so the
async client, the generated sync client and the tests all drive the same code.
"""

from __future__ import annotations

import enum
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from .._core.errors import ConfigurationError, ResponseValidationError, UnsupportedOperationError
from .._core.models import Webhook, WorkflowRun
from .._core.operation import Operation

if TYPE_CHECKING:
    from ._sse import ServerSentEvent

__all__ = [
    "AuthScheme",
    "ErrorInfo",
    "ErrorKind",
    "Operation",
    "Provider",
    "RequestSpec",
    "StreamError",
]

AuthScheme = Literal["bearer", "raw"]


class ErrorKind(enum.Enum):
    """The kind of failure a provider's error code names (mapped to an exception class)."""

    BAD_REQUEST = "bad_request"
    AUTHENTICATION = "authentication"
    INSUFFICIENT_CREDITS = "insufficient_credits"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    RATE_LIMIT = "rate_limit"
    SERVER = "server"


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """One request to send: method, path below the base URL, JSON body and its purpose.

    The body is encoded once, here: a wait sends the same query many times. A `json` of
    None sends no body (a GET query).

    Attributes:
        workflow_id: The workflow the request concerns, where the platform names it per
            call (Coze); `parse_run` puts it on the run so `wait(run)` can query it.
        stream: The answer is a server-sent event stream (Dify's streaming start): the
            client reads it with the provider's `parse_stream_event`.
    """

    method: str
    path: str
    json: Any
    operation: Operation
    run_id: str | None = None
    workflow_id: str | None = None
    stream: bool = False
    content: bytes | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.json is None:
            object.__setattr__(self, "content", None)
            return
        encoded = json.dumps(self.json, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        object.__setattr__(self, "content", encoded.encode())


@dataclass(frozen=True, slots=True)
class StreamError:
    """An error event inside a 2xx event stream: read as if it were a `status_code` answer
    with `body` (so `parse_error` maps it onto the exception tree)."""

    status_code: int
    body: Any
    run_id: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """An error the server reported: its kind (None: judge by HTTP status), code and text.

    `status` is the HTTP status the body itself names (AltaBots' `{"error": {..., "status":
    400}}` inside an HTTP 200): when set, the kind is judged by it instead of the answer's
    status, so an error inside a 200 maps to the same class as its HTTP twin.
    """

    message: str
    kind: ErrorKind | None = None
    code: int | str | None = None
    status: int | None = None


class Provider(ABC):
    """Translate one platform's workflow API to flowinvoke's requests, runs and errors.

    Subclass it and register an instance with `register_provider` to add a platform.
    Methods raise `ResponseValidationError` (via `invalid`) for bodies they cannot read.

    Attributes:
        name: The name callers pass as `provider=`.
        supports_async_invoke: Whether a start can return at once with an unfinished run
            (`async_mode=True`); `run()` uses it when it can.
        supports_webhooks: Whether the platform calls webhooks when an async run ends, so
            a client's webhook receiver can finish `run()` (consulted with async starts only;
            Dify and Coze have none).
        regions: The known regions; empty for a platform with one host (then
            `FLOWINVOKE_REGION` is ignored for it).
        auth_schemes: The auth schemes the platform accepts.
        read_timeout: The default read timeout, in seconds: longer than the platform's
            slowest synchronous answer.
    """

    name: ClassVar[str]
    supports_async_invoke: ClassVar[bool] = False
    supports_webhooks: ClassVar[bool] = True
    regions: ClassVar[tuple[str, ...]] = ()
    auth_schemes: ClassVar[tuple[AuthScheme, ...]] = ("bearer", "raw")
    read_timeout: ClassVar[float] = 300.0

    @abstractmethod
    def base_url(self, region: str | None) -> str:
        """The platform's base URL for `region` (None: the default region)."""

    def auth_headers(self, api_key: str, scheme: AuthScheme) -> dict[str, str]:
        """The headers that authenticate a request."""
        if scheme not in self.auth_schemes:
            raise ConfigurationError(
                f"provider {self.name!r} accepts auth_scheme {' or '.join(self.auth_schemes)}"
            )
        return {"Authorization": f"Bearer {api_key}" if scheme == "bearer" else api_key}

    @abstractmethod
    def build_invoke(
        self,
        input: Mapping[str, Any],
        *,
        user_id: str | None,
        workflow_id: str | None,
        async_mode: bool,
        webhooks: Sequence[Webhook],
    ) -> RequestSpec:
        """Describe the request that starts a run."""

    @property
    def supports_query(self) -> bool:
        """Whether runs can be queried by id (`get_run`, `wait` on a bare id): true when the
        provider implements `build_query`, so the answer cannot disagree with the code."""
        return type(self).build_query is not Provider.build_query

    def build_query(self, run_id: str) -> RequestSpec:
        """Describe the request that reads a run's current state."""
        raise self.unsupported("querying a run by id", run_id=run_id)

    def query_for(self, run_id: str, *, workflow_id: str | None = None) -> RequestSpec:
        """The query the client sends for a run: `build_query(run_id)`.

        `workflow_id` is the run's workflow (from the run, the call or the client). A
        platform whose query path names the workflow (Coze) overrides this method to use it;
        the others ignore it, so `build_query` keeps its one-argument form.
        """
        return self.build_query(run_id)

    def parse_stream_event(
        self, event: ServerSentEvent, request: RequestSpec
    ) -> WorkflowRun | StreamError | None:
        """Read one event of a streaming start (`RequestSpec.stream`).

        Returns the run's state the event tells (its id known from the first events), a
        `StreamError` for an error event, or None for events that change nothing (pings,
        chunks). Only providers whose `build_invoke` asks for a stream implement it.
        """
        raise self.unsupported("streaming starts")

    @abstractmethod
    def parse_error(self, status_code: int, body: Any) -> ErrorInfo | None:
        """The error an answer reports, or None when it is not an error.

        Called for every answer: a non-2xx answer must give an `ErrorInfo`; a 2xx answer
        gives one only when its body is an error shape (errors inside HTTP 200).
        """

    @abstractmethod
    def parse_run(self, body: Any, request: RequestSpec) -> WorkflowRun:
        """Read a successful answer as a `WorkflowRun`."""

    def auth_failure_hint(self, scheme: AuthScheme) -> str:
        """What to add to an authentication failure's message, given the scheme sent.

        A refused key is often a right key sent in the wrong form (older GPTBots pages show
        the raw key, newer ones `Bearer`), so where the platform accepts several schemes
        the message names the one used and the others.
        """
        others = [other for other in self.auth_schemes if other != scheme]
        if not others:
            return ""
        alternatives = " or ".join(f"auth_scheme={other!r}" for other in others)
        return (
            f" (the key was sent with auth_scheme={scheme!r}; if it is right, try {alternatives})"
        )

    def unsupported(self, what: str, *, run_id: str | None = None) -> UnsupportedOperationError:
        """The error for an operation this platform does not have."""
        return UnsupportedOperationError(
            f"provider {self.name!r} does not support {what}", provider=self.name, run_id=run_id
        )

    def invalid(
        self, problem: str, body: Any, *, status_code: int = 200
    ) -> ResponseValidationError:
        """The error for a body that does not have the documented shape."""
        return ResponseValidationError(
            f"unreadable {self.name} response: {problem}",
            provider=self.name,
            body=body,
            status_code=status_code,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
