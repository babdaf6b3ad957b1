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

from ._core.lazy import TYPE_CHECKING, lazy_dir, lazy_getattr
from ._version import __version__

if TYPE_CHECKING:
    from ._async.client import AsyncClient
    from ._core.batch import BatchItem, BatchProgress, BatchTally
    from ._core.defaults import (
        DEFAULT_BATCH_CONCURRENCY,
        DEFAULT_MAX_CONNECTIONS,
        DEFAULT_MAX_RESPONSE_BYTES,
    )
    from ._core.errors import (
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
    )
    from ._core.models import (
        OutputValidationError,
        RunStatus,
        WaitTimeoutError,
        Webhook,
        WorkflowFailedError,
        WorkflowRun,
    )
    from ._observe.events import Hooks, RequestEvent, ResponseEvent, RetryEvent
    from ._sync.client import Client
    from ._transport.retry import RetryPolicy
    from ._waiting.estimate import DurationEstimate
    from ._waiting.learning import LearnedDuration, RunDurations, WorkflowKey
    from ._waiting.policy import PollPolicy

#: Where each public name lives: the one table `__getattr__` imports from.
_HOMES: dict[str, str] = {
    "AsyncClient": "._async.client",
    "BatchItem": "._core.batch",
    "BatchProgress": "._core.batch",
    "BatchTally": "._core.batch",
    **dict.fromkeys(
        ("DEFAULT_BATCH_CONCURRENCY", "DEFAULT_MAX_CONNECTIONS", "DEFAULT_MAX_RESPONSE_BYTES"),
        "._core.defaults",
    ),
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
        ),
        "._core.errors",
    ),
    **dict.fromkeys(("LearnedDuration", "RunDurations", "WorkflowKey"), "._waiting.learning"),
    "DurationEstimate": "._waiting.estimate",
    **dict.fromkeys(
        (
            "OutputValidationError",
            "RunStatus",
            "WaitTimeoutError",
            "Webhook",
            "WorkflowFailedError",
            "WorkflowRun",
        ),
        "._core.models",
    ),
    **dict.fromkeys(("Hooks", "RequestEvent", "ResponseEvent", "RetryEvent"), "._observe.events"),
    "PollPolicy": "._waiting.policy",
    "RetryPolicy": "._transport.retry",
    # Public subpackages stay reachable as attributes (`flowinvoke.providers.Provider`), as
    # when the client's imports loaded them as a side effect.
    **{name: f".{name}" for name in ("providers", "testing", "webhooks")},
}


__all__ = [
    "DEFAULT_BATCH_CONCURRENCY",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "BatchItem",
    "BatchProgress",
    "BatchTally",
    "Client",
    "ConfigurationError",
    "DurationEstimate",
    "FlowInvokeError",
    "Hooks",
    "InsufficientCreditsError",
    "LearnedDuration",
    "NotFoundError",
    "OutputValidationError",
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


if not TYPE_CHECKING:  # mypy reads the imports above; a visible __getattr__ would hide typos
    __getattr__ = lazy_getattr(__name__, _HOMES, globals())
__dir__ = lazy_dir(globals(), __all__)
