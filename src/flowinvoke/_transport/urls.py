"""Which URLs may carry the API key (or a receiver's run secrets): the one check of a
base URL, used by the client's settings and by the webhook receiver's `public_url`."""

from __future__ import annotations

import re

from .._core.errors import ConfigurationError
from .hosts import is_loopback
from .http import URL

__all__ = ["check_base_url"]

_USERINFO = re.compile(r"//[^/?#]*@")


def check_base_url(
    url: object, *, allow_insecure_http: bool, name: str = "base_url", carries: str = "the API key"
) -> str:
    """An absolute http(s) URL without query, fragment or user:password; https unless the
    host is loopback or plain http is allowed.

    Also checks a webhook receiver's public URL (`name`), which carries run secrets.
    """
    if not isinstance(url, str):
        raise ConfigurationError(f"{name} must be a str, not {type(url).__name__}")
    shown = _without_userinfo(url)
    if not url.strip():
        raise ConfigurationError(f"{name} is empty; leave it out (None) for the provider's own URL")
    try:
        parsed = URL(url)
    except Exception as exc:  # httpx raises InvalidURL or TypeError
        detail = _without_userinfo(str(exc))
        raise ConfigurationError(f"{name} {shown!r} is not a valid URL: {detail}") from None
    if parsed.userinfo:
        # httpx would send it as Basic auth in place of the key, and show it in reprs.
        raise ConfigurationError(
            f"{name} {_without_userinfo(str(parsed))!r} must not contain user:password"
        )
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(f"{name} {shown!r} must be an absolute http(s) URL")
    if parsed.query or parsed.fragment:
        raise ConfigurationError(f"{name} {shown!r} must not have a query or fragment")
    if parsed.scheme == "http" and not allow_insecure_http and not is_loopback(parsed.host):
        raise ConfigurationError(
            f"{name} {shown!r} would send {carries} unencrypted over the network; use "
            "https, or pass allow_insecure_http=True if the network is trusted"
        )
    return str(parsed).rstrip("/")


def _without_userinfo(text: str) -> str:
    """`text` with any `user:password@` after a `//` removed, for messages."""
    return _USERINFO.sub("//", text)
