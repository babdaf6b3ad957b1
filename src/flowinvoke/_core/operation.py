"""What a request does. Retry safety is decided per operation, so the retry policy, the
requester and the providers all name it; it lives here, below all of them."""

from __future__ import annotations

import enum

__all__ = ["Operation"]


class Operation(str, enum.Enum):
    """What a request does; retry safety is decided per operation."""

    INVOKE = "invoke"
    QUERY = "query"
