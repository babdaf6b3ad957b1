"""The exception tree: every failure a caller can meet, under `FlowInvokeError`.

Provider modules translate their wire errors into these classes, so callers write one
`except` clause per kind of trouble whatever the platform. Every error that happens after the
server named a run carries that run's id (`run_id`), so a run is never lost to an exception.
Messages never contain the API key: they are built from server text passed through the
client's redactor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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


class FlowInvokeError(Exception):
    """Base class of every error flowinvoke raises.

    Attributes:
        message: A human-readable description, free of secrets.
        run_id: The id of the run the error concerns, when the server has given one.
    """

    def __init__(self, message: str, *, run_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.run_id = run_id

    def __reduce__(self) -> tuple[Any, ...]:
        # The default rebuilds with `cls(*args)`, which fails for keyword-only arguments
        # (Celery then hands callers a bare error): rebuild from args and attributes instead.
        return (_rebuild, (type(self), self.args), self.__dict__)

    def __str__(self) -> str:
        if self.run_id is not None and self.run_id not in self.message:
            return f"{self.message} (run id: {self.run_id})"
        return self.message


def _rebuild(cls: type[FlowInvokeError], args: tuple[Any, ...]) -> FlowInvokeError:
    """An exception of `cls` with `args`, its attributes still to be restored by pickle."""
    error = cls.__new__(cls, *args)
    error.args = args
    return error


class ConfigurationError(FlowInvokeError, ValueError):
    """The client or a call is set up wrongly; raised before any request is sent."""


class UnsupportedOperationError(FlowInvokeError):
    """The provider has no such operation (for example, aitutor-api has no query endpoint)."""

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

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        body: Any,
        status_code: int,
        run_id: str | None = None,
        may_have_started: bool = False,
    ) -> None:
        super().__init__(
            message, provider=provider, run_id=run_id, may_have_started=may_have_started
        )
        self.body = body
        self.status_code = status_code
