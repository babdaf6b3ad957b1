"""One TLS context per process for the transports flowinvoke builds.

httpx makes a new `ssl.SSLContext` for every transport and loads the whole CA bundle into
it: 25 to 40 ms of CPU, the cost of about a hundred requests, paid by every client built
(a client per request in a web view or a task, a test suite's thousands of clients), even
one that only ever speaks plain http to a loopback emulator. The context httpx would build
is the same each time, and a context may serve many connections and threads at once, so
the transports flowinvoke builds share one: made when the first of them is built, and made
again only if the variables httpx reads for it (`SSL_CERT_FILE`, `SSL_CERT_DIR`,
`SSLKEYLOGFILE`) change. A caller's own `http_client` or `transport` keeps its own.
"""

from __future__ import annotations

import os
import ssl
from functools import lru_cache

from .http import create_ssl_context

__all__ = ["shared_ssl_context"]

_ENVIRONMENT = ("SSL_CERT_FILE", "SSL_CERT_DIR", "SSLKEYLOGFILE")


def shared_ssl_context() -> ssl.SSLContext:
    """The context httpx's default (`verify=True`, the environment trusted) would build."""
    return _context_for(tuple(os.environ.get(name) for name in _ENVIRONMENT))


@lru_cache(maxsize=4)
def _context_for(environment: tuple[str | None, ...]) -> ssl.SSLContext:
    del environment  # the cache key: create_ssl_context reads the variables itself
    return create_ssl_context()
