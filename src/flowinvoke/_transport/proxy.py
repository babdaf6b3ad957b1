"""The one proxy policy of flowinvoke: the library's own HTTP clients and every CLI command.

- https: the environment's proxy is used as most HTTP tools use it: `HTTPS_PROXY` (else
  `ALL_PROXY`; lower-case names first), unless `NO_PROXY` names the host. Through a proxy an
  https request is a CONNECT tunnel, so the proxy never sees the key.
- http: never through a proxy, so `HTTP_PROXY` is ignored. A plain-http proxy would read the
  `Authorization` header in clear text.
- loopback hosts (localhost, 127.0.0.0/8, ::1): never through a proxy.

A client given its own `http_client` or `transport` keeps its own settings: the policy is
only what flowinvoke builds for itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from . import http as _http
from .build import async_default_transport, sync_default_transport
from .hosts import is_loopback

__all__ = ["async_proxy_transport", "proxy_url_for", "sync_proxy_transport"]


def proxy_url_for(base_url: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The proxy URL requests to `base_url` go through under the policy above, or None."""
    env = os.environ if environ is None else environ
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host or is_loopback(host):
        return None
    if _bypassed(host, _env(env, "no_proxy")):
        return None
    return _env(env, "https_proxy") or _env(env, "all_proxy") or None


def _env(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or env.get(name.upper()) or "").strip()


def _bypassed(host: str, no_proxy: str) -> bool:
    """Whether NO_PROXY names `host`: `*`, the host, or a domain it is in (`.example.com`)."""
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if entry == "*":
            return True
        entry = entry.split("://", 1)[-1]
        if entry.startswith("["):  # [::1]:8080
            entry = entry[1:].split("]", 1)[0]
        elif entry.count(":") == 1:  # host:port
            entry = entry.split(":", 1)[0]
        entry = entry.lstrip("*").lstrip(".")
        if entry and (host == entry or host.endswith("." + entry)):
            return True
    return False


def async_proxy_transport(base_url: str, max_connections: int) -> _http.AsyncBaseTransport | None:
    """The async transport through the proxy the policy picks for `base_url`, or None."""
    proxy = proxy_url_for(base_url)
    if proxy is None:
        return None
    # Built like any transport of the client's own: deadline-cut sockets, renewed after fork.
    return async_default_transport(_limits(max_connections), fast=False, proxy=proxy)


def sync_proxy_transport(base_url: str, max_connections: int) -> _http.BaseTransport | None:
    """The blocking transport through the proxy the policy picks for `base_url`, or None."""
    proxy = proxy_url_for(base_url)
    if proxy is None:
        return None
    return sync_default_transport(_limits(max_connections), fast=False, proxy=proxy)


def _limits(max_connections: int) -> _http.Limits:
    return _http.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
