"""Per-run webhook credentials: a random token in the URL, a secret derived from it.

The secret sent back in the `X-Flowinvoke-Secret` header is HMAC-SHA256(receiver key,
token). Any process holding the key can check a callback by itself, with no shared table of
registrations: a forged callback costs one HMAC and no state, wherever it lands, and a
callback that passes the check can only name a token this key issued.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

__all__ = ["SECRET_HEADER", "Credentials", "is_token", "new_key"]

SECRET_HEADER = "X-Flowinvoke-Secret"  # noqa: S105 - a header name, not a secret
"""The header in which the platform sends a run's secret back."""

_TOKEN_BYTES = 16
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")


def new_key() -> bytes:
    """A random receiver key (32 bytes)."""
    return secrets.token_bytes(32)


def is_token(text: str) -> bool:
    """True when `text` has the shape of a token (22 URL-safe base64 characters)."""
    return _TOKEN.fullmatch(text) is not None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Credentials:
    """Issues and checks run tokens and their secrets under one key (never shown)."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "Credentials(key=<hidden>)"

    def new_token(self) -> str:
        """A fresh random run token (128 bits), safe in a URL path."""
        return _b64(secrets.token_bytes(_TOKEN_BYTES))

    def secret_for(self, token: str) -> str:
        """The secret that proves a callback for `token` comes from whom we told it to."""
        return _b64(hmac.new(self._key, token.encode("ascii"), hashlib.sha256).digest())

    def verify(self, token: str, presented: str) -> bool:
        """Constant-time check of a presented secret against the token's own."""
        expected = self.secret_for(token).encode("ascii")
        return hmac.compare_digest(expected, presented.encode("utf-8", "replace"))
