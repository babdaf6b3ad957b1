"""flowinvoke: start, wait for, and run thousands of LLM-bot workflow runs.

`AsyncClient` is the async client (asyncio and trio) and `Client` its blocking twin, generated
from the async source. Every provider's answers come back as one `WorkflowRun` model and every
failure as one exception tree under `FlowInvokeError`.

The public names are imported when first used (PEP 562, as pydantic does), so `import
flowinvoke` costs next to nothing: a program that only needs `Client` never loads the
async client, a script that only reads `__version__` loads neither (see
docs/performance.md).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._async.client import AsyncClient
    from ._batch_items import BatchItem, BatchProgress
    from ._errors import (
        APIConnectionError,
        APIError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ConfigurationError,
        FlowInvokeError,
        InsufficientCreditsError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
        ResponseValidationError,
        ServerError,
        UnsupportedOperationError,
        WaitTimeoutError,
        WorkflowFailedError,
    )
    from ._learning import DurationEstimate, LearnedDuration, RunDurations, WorkflowKey
    from ._models import RunStatus, Webhook, WorkflowRun
    from ._observe import Hooks, RequestEvent, ResponseEvent, RetryEvent
    from ._poll_policy import PollPolicy
    from ._retry import RetryPolicy
    from ._sync.client import Client

#: Where each public name lives: the one table `__getattr__` imports from.
_HOMES: dict[str, str] = {
    "AsyncClient": "._async.client",
    "BatchItem": "._batch_items",
    "BatchProgress": "._batch_items",
    "Client": "._sync.client",
    **dict.fromkeys(
        (
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
            "WaitTimeoutError",
            "WorkflowFailedError",
        ),
        "._errors",
    ),
    **dict.fromkeys(
        ("DurationEstimate", "LearnedDuration", "RunDurations", "WorkflowKey"), "._learning"
    ),
    **dict.fromkeys(("RunStatus", "Webhook", "WorkflowRun"), "._models"),
    **dict.fromkeys(("Hooks", "RequestEvent", "ResponseEvent", "RetryEvent"), "._observe"),
    "PollPolicy": "._poll_policy",
    "RetryPolicy": "._retry",
}

#: Public subpackages, reachable as attributes (`flowinvoke.providers.Provider`) as before
#: the names became lazy, when the client imported them as a side effect.
_SUBPACKAGES = frozenset({"providers", "testing", "webhooks"})

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "BatchItem",
    "BatchProgress",
    "Client",
    "ConfigurationError",
    "DurationEstimate",
    "FlowInvokeError",
    "Hooks",
    "InsufficientCreditsError",
    "LearnedDuration",
    "NotFoundError",
    "PermissionDeniedError",
    "PollPolicy",
    "RateLimitError",
    "RequestEvent",
    "ResponseEvent",
    "ResponseValidationError",
    "RetryEvent",
    "RetryPolicy",
    "RunDurations",
    "RunStatus",
    "ServerError",
    "UnsupportedOperationError",
    "WaitTimeoutError",
    "Webhook",
    "WorkflowFailedError",
    "WorkflowKey",
    "WorkflowRun",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its home module on first use, then keep it here."""
    home = _HOMES.get(name)
    if home is not None:
        value = getattr(import_module(home, __name__), name)
    elif name in _SUBPACKAGES:
        value = import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # the next lookup is a plain module attribute
    return value


def __dir__() -> list[str]:
    """The public names, imported or not, beside what the module already holds."""
    return sorted({*globals(), *__all__})
