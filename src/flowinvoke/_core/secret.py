"""Holding the API key so that it cannot leak through reprs, messages or logs."""

from __future__ import annotations

from typing import Any

from .errors import ConfigurationError

__all__ = ["APIKey", "Redactor", "shared_secret_key"]

_MASK = "****"
_MIN_SHARED_KEY_BYTES = 16  # an HMAC key others must not guess: 128 bits at the least


class APIKey:
    """An API key that shows itself only when asked by name (`reveal()`)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The key itself, for the one place that builds the auth header."""
        return self._value

    def __repr__(self) -> str:
        return f"APIKey('{_MASK}')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, APIKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash((APIKey, self._value))

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("APIKey cannot be pickled: a key must not be written out")


class Redactor:
    """Removes a key from any text a server sent back before it reaches a message or log."""

    __slots__ = ("_secrets",)

    def __init__(self, *secrets: str) -> None:
        # Short strings would mask innocent text; real keys are long.
        self._secrets = tuple(s for s in secrets if len(s) >= 4)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, _MASK)
        return text

    def scrub(self, value: Any) -> Any:
        """`value` (a decoded JSON body) with the key masked in every string inside it."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self.scrub(k): self.scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub(item) for item in value]
        return value


def shared_secret_key(secret_key: str | bytes) -> bytes:
    """The bytes of a key that several processes share to sign callbacks (webhook
    receivers, Temporal's callback receivers); too short a key is refused up front."""
    key = secret_key.encode("utf-8") if isinstance(secret_key, str) else bytes(secret_key)
    if len(key) < _MIN_SHARED_KEY_BYTES:
        raise ConfigurationError(f"secret_key must be at least {_MIN_SHARED_KEY_BYTES} bytes long")
    return key
