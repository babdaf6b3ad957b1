"""The client's default limits, public so that callers (the command line among them) can
size their own work to them."""

from __future__ import annotations

__all__ = ["DEFAULT_BATCH_CONCURRENCY", "DEFAULT_MAX_CONNECTIONS", "DEFAULT_MAX_RESPONSE_BYTES"]

#: Connections per client. Small on purpose: on 2 cores httpx spends 1.4 ms of CPU per
#: request with 1 connection and 5.6 ms with 100, so a large pool is slower, not faster.
DEFAULT_MAX_CONNECTIONS = 10

#: Runs a batch keeps in flight. A run in flight mostly sleeps between polls, so this can be
#: far larger than the connection pool: requests wait for a connection, runs do not.
DEFAULT_BATCH_CONCURRENCY = 100

#: The most bytes of decoded body a client reads from one answer unless told otherwise.
#: Platform answers are small, but a workflow's output can be large.
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
