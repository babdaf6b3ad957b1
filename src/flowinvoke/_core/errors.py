"""The exception tree: every failure a caller can meet, under `FlowInvokeError`.

Provider modules translate their wire errors into these classes, so callers write one
`except` clause per kind of trouble whatever the platform. Every error that happens after the
server named a run carries that run's id (`run_id`), so a run is never lost to an exception.
Messages never contain the API key: they are built from server text passed through the
client's redactor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "FlowInvokeError",
    "InsufficientCreditsError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseValidationError",
    "ServerError",
    "UnsupportedOperationError",
]


# Marks the second of an error's `args` as its attributes (see `_ErrorType`).
_STATE_MARK = "flowinvoke_error"


class _ErrorType(type):
    """The metaclass of the exception tree: `cls(message, attributes)` rebuilds an error.

    Celery's default JSON result backend, and anything else that rebuilds an exception as
    `cls(*args)`, keeps only `args`; our constructors take keyword-only arguments, so that
    call failed and callers got a bare `Exception`. An error's `args` are therefore its
    message and its JSON-safe attributes (run id, provider, status code, ...), and a call
    with exactly those two arguments rebuilds it.
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 2 and not kwargs and _is_state(args[1]):
            return cls._from_state(args[0], args[1])  # type: ignore[attr-defined]
        return super().__call__(*args, **kwargs)


# Where BaseException keeps `args` (what `repr` shows), under the property below.
_STORED_ARGS: Any = BaseException.__dict__["args"]


def _is_state(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(_STATE_MARK) == 1


class FlowInvokeError(Exception, metaclass=_ErrorType):
    """Base class of every error flowinvoke raises.

    Attributes:
        message: A human-readable description, free of secrets.
        run_id: The id of the run the error concerns, when the server has given one.
    """

    # The constructor's keywords whose values travel in `args` as they are (JSON scalars).
    _portable: ClassVar[tuple[str, ...]] = ("run_id",)

    def __init__(self, message: str, *, run_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.run_id = run_id

    @property
    def args(self) -> tuple[Any, ...]:
        """`(message, attributes)`: what `type(error)(*error.args)` rebuilds the error from.

        Read when asked for, so a run id set after the error was made (a wait adds it)
        is in it; `repr` shows the message alone.
        """
        if "message" not in self.__dict__:  # while pickle rebuilds it
            return tuple(_STORED_ARGS.__get__(self))
        return (self.message, {_STATE_MARK: 1, **self._state()})

    @args.setter
    def args(self, value: tuple[Any, ...]) -> None:
        _STORED_ARGS.__set__(self, value)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle keeps every attribute, JSON-safe or not (a response body, headers): rebuild
        # from args and the instance dict rather than with `cls(*args)`.
        return (_rebuild, (type(self), self.args), self.__dict__)

    def __str__(self) -> str:
        if self.run_id is not None and self.run_id not in self.message:
            return f"{self.message} (run id: {self.run_id})"
        return self.message

    def _state(self) -> dict[str, Any]:
        """The attributes `cls(message, state)` restores, as JSON-safe values."""
        return {name: getattr(self, name) for name in self._portable}

    @classmethod
    def _from_state(cls, message: str, state: Mapping[str, Any]) -> FlowInvokeError:
        """The error rebuilt from its message and `_state()` (keys it does not know ignored)."""
        return cls(message, **{name: state[name] for name in cls._portable if name in state})


def _rebuild(cls: type[FlowInvokeError], args: tuple[Any, ...]) -> FlowInvokeError:
    """An exception of `cls` with `args`, its attributes still to be restored by pickle."""
    error = cls.__new__(cls, *args)
    error.args = args
    return error


class ConfigurationError(FlowInvokeError, ValueError):
    """The client or a call is set up wrongly; raised before any request is sent."""


class UnsupportedOperationError(FlowInvokeError):
    """The provider has no such operation (for example, aitutor-api has no query endpoint)."""

    _portable: ClassVar[tuple[str, ...]] = ("provider", "run_id")

    def __init__(self, message: str, *, provider: str, run_id: str | None = None) -> None:
        super().__init__(message, run_id=run_id)
        self.provider = provider


class APIError(FlowInvokeError):
    """A request to the provider failed.

    Attributes:
        provider: The provider's registered name.
        may_have_started: True when the failed request was a run start whose effect is
            unknown (the server may have started the run before the failure). Such a start
            is never retried automatically; check the provider's run list before retrying.
    """

    _portable: ClassVar[tuple[str, ...]] = ("provider", "run_id", "may_have_started")

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        run_id: str | None = None,
        may_have_started: bool = False,
    ) -> None:
        super().__init__(message, run_id=run_id)
        self.provider = provider
        self.may_have_started = may_have_started

    def __str__(self) -> str:
        text = super().__str__()
        if self.may_have_started:
            text += "; the run may have started on the server, so it was not retried"
        return text


class APIStatusError(APIError):
    """The provider answered with an error (a non-2xx status or an error body in a 2xx).

    Attributes:
        status_code: The HTTP status of the answer (200 for an error body inside a 200).
        code: The provider's own error code (`40127`, `"workflow_not_found"`, ...), if any.
        request_id: The server's request id header, if it sent one.
        body: The decoded error body as received (or its text when it was not JSON).
        headers: The response headers.
    """

    _portable: ClassVar[tuple[str, ...]] = (
        *APIError._portable,
        "status_code",
        "code",
        "request_id",
    )

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int,
        code: int | str | None = None,
        request_id: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        run_id: str | None = None,
        may_have_started: bool = False,
    ) -> None:
        super().__init__(
            message, provider=provider, run_id=run_id, may_have_started=may_have_started
        )
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.body = body
        self.headers: Mapping[str, str] = dict(headers or {})


class BadRequestError(APIStatusError):
    """The request was rejected as malformed (HTTP 400, GPTBots 40000, `invalid_request`)."""


class AuthenticationError(APIStatusError):
    """The API key was refused (HTTP 401, GPTBots 40127, `unauthorized`)."""


class InsufficientCreditsError(APIStatusError):
    """The account cannot pay for the run (HTTP 402, GPTBots 20022, `spend_limit_reached`)."""


class PermissionDeniedError(APIStatusError):
    """The key may not do this (HTTP 403, GPTBots 40353 plan upgrade, 20055 API off)."""


class NotFoundError(APIStatusError):
    """The workflow or run does not exist (HTTP 404, GPTBots 20059, `workflow_not_found`)."""


class RateLimitError(APIStatusError):
    """Too many requests (HTTP 429).

    Attributes:
        retry_after: The server's `Retry-After` hint in seconds, if it sent one.
    """

    _portable: ClassVar[tuple[str, ...]] = (*APIStatusError._portable, "retry_after")

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """The provider failed internally (HTTP 5xx, GPTBots 50000, `internal_server_error`)."""


class APIConnectionError(APIError):
    """No usable answer arrived: the connection failed, was dropped or broke the protocol."""


class APITimeoutError(APIConnectionError, TimeoutError):
    """One HTTP request took longer than its timeout (connect, read, write or pool wait)."""


class ResponseValidationError(APIError):
    """The server's answer could not be read as the documented shape.

    Attributes:
        body: The body as received (decoded JSON, or the text when it was not JSON).
        status_code: The HTTP status of the answer.
    """

    _portable: ClassVar[tuple[str, ...]] = (*APIError._portable, "status_code")

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int,
        body: Any = None,
        run_id: str | None = None,
        may_have_started: bool = False,
    ) -> None:
        super().__init__(
            message, provider=provider, run_id=run_id, may_have_started=may_have_started
        )
        self.body = body
        self.status_code = status_code
