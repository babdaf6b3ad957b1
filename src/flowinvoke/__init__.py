"""flowinvoke: start, wait for, and run thousands of LLM-bot workflow runs.

`AsyncClient` is the async client (asyncio and trio) and `Client` its blocking twin, generated
from the async source. Every provider's answers come back as one `WorkflowRun` model and every
failure as one exception tree under `FlowInvokeError`.
"""

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
from ._version import __version__

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
