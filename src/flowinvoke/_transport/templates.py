"""Requests made from a template per method and URL, on the httpx clients flowinvoke builds.

httpx's `build_request` merges the client's headers, cookies and query parameters into new
objects and encodes the body for every request: about a tenth of a query's client CPU. A
wait's queries differ only in their body, so on a client flowinvoke built (which no caller
holds, so its headers and parameters never change) the merge is done once per method and
URL, and each request copies the merged headers and sets its body's length: the same
headers, in the same order, as `build_request` gives. A client with cookies (a server set
some) and any client a caller passed in take `build_request` every time.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import TypeVar

from .._core.deadline import Deadline
from .http import URL, AsyncClient, ByteStream, Client, Request, Timeout

__all__ = ["RequestTemplates", "own_client", "timeout_extension"]

_C = TypeVar("_C", AsyncClient, Client)
_MAX_TEMPLATES = 64  # paths with a run id in them (some platforms) must not grow it

_OWN: weakref.WeakSet[AsyncClient | Client] = weakref.WeakSet()


def own_client(client: _C) -> _C:
    """Mark `client` as built by flowinvoke (its headers and parameters are fixed)."""
    _OWN.add(client)
    return client


class RequestTemplates:
    """The requests one requester sends through `http`, each with its own headers and body."""

    __slots__ = ("_headers", "_http", "_templates")

    def __init__(self, http: AsyncClient | Client, headers: Mapping[str, str] | None) -> None:
        self._http = http
        self._headers = headers  # merged over the client's own, as `build_request` does
        self._templates: dict[tuple[str, str], Request] | None = {} if http in _OWN else None

    def build(
        self,
        method: str,
        path: str,
        url: URL,
        content: bytes | None,
        timeout: dict[str, float | None],
    ) -> Request:
        """A request of `method` to `url` (the base URL and `path`) carrying `content`,
        whose timeouts are `timeout` (httpx's extension: connect, read, write, pool)."""
        extensions = {"timeout": timeout}
        templates = self._templates
        if templates is None or self._http.cookies:
            return self._http.build_request(
                method, url, content=content, headers=self._headers, extensions=extensions
            )
        key = (method, path)
        template = templates.get(key)
        if template is None:
            template = self._http.build_request(method, url, headers=self._headers)
            template.headers.pop("Content-Length", None)  # set per body, after the others
            if len(templates) < _MAX_TEMPLATES:
                templates[key] = template
        if content is None:
            return Request(method, template.url, headers=template.headers, extensions=extensions)
        request = Request(
            method,
            template.url,
            headers=template.headers,
            stream=ByteStream(content),
            extensions=extensions,
        )
        request.headers["Content-Length"] = str(len(content))
        request.read()  # what `build_request` leaves done: `request.content` is readable
        return request


def timeout_extension(timeout: Timeout, deadline: Deadline) -> dict[str, float | None]:
    """httpx's timeout extension of a request: `timeout`'s, none longer than what is left
    of the deadline (the dict `build_request` makes of a `Timeout`, made directly)."""
    if not deadline.finite:
        return timeout.as_dict()
    left = deadline.remaining()
    connect, read, write, pool = timeout.connect, timeout.read, timeout.write, timeout.pool
    return {
        "connect": left if connect is None else min(connect, left),
        "read": left if read is None else min(read, left),
        "write": left if write is None else min(write, left),
        "pool": left if pool is None else min(pool, left),
    }
