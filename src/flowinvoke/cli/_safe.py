"""What the CLI writes is safe for a terminal and never holds the API key.

Text a server sent (outputs, errors, run ids, status words) could hold terminal control
sequences: `ESC]0;title`, `ESC[2J`, colours. `clean` escapes every control character
except newline and tab (C0, DEL, C1) and every lone surrogate into a visible `\\x1b` /
`\\ud800`, and masks the key; `clean_json` does the same to a JSON text (where such
characters only occur inside strings, so the escapes keep it valid JSON).

The key is masked by exact occurrence, as the library masks it in its messages: the command
calls `hide_key_of(client)` once its client exists (the key may come from the environment).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["clean", "clean_json", "forget_key", "hide_key_of", "mask"]

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_JSON_UNSAFE = re.compile("[\x7f-\x9f\ud800-\udfff]")  # json.dumps escapes the C0 set itself


class _Key:
    """The masking in force: one per process, set by the running command."""

    mask: Callable[[str], str] = str


def hide_key_of(client: Any) -> None:
    """Mask `client`'s API key in everything this process prints or writes from now on."""
    _Key.mask = client._config.redactor()


def forget_key() -> None:
    """Stop masking (each command starts afresh: tests run many in one process)."""
    _Key.mask = str


def mask(text: str) -> str:
    """`text` with every exact occurrence of the key replaced by `****`."""
    return _Key.mask(text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match[0]):04x}"


def clean(text: str) -> str:
    """`text` with the key masked and control characters (but newline and tab) escaped."""
    return _CONTROL.sub(_escape, mask(text))


def clean_json(text: str) -> str:
    """A JSON text with the key masked and DEL, C1 controls and lone surrogates escaped."""
    return _JSON_UNSAFE.sub(_json_escape, mask(text))
