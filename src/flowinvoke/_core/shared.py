"""Strings that thousands of runs repeat, held once: a body's field names, status words,
workflow ids and names.

A decoded JSON body owns a fresh copy of every key and value (the decoder shares nothing
between bodies), so 100,000 start answers held by their waits and callers
would each carry their own `"workflowRunId"`, `"status"` and `"PENDING"`. A run's `raw`
body is rebuilt with those shared: an equal dict in under half the bytes.

The table is bounded: past its size, new strings are kept as they are (a server that
sends endless distinct keys costs nothing more than the table), and run ids never enter
it (only the words and names a run's model takes are added; keys, which are few).
"""

from __future__ import annotations

from typing import Any

__all__ = ["lean_body", "shared"]

_MAX_ENTRIES = 4096
_MAX_LENGTH = 200
_TABLE: dict[str, str] = {}


def shared(text: str) -> str:
    """The one kept copy of `text` (it becomes that copy when there is none yet)."""
    kept = _TABLE.get(text)
    if kept is not None:
        return kept
    if len(_TABLE) < _MAX_ENTRIES and len(text) <= _MAX_LENGTH:
        _TABLE[text] = text
    return text


def lean_body(body: dict[str, Any]) -> dict[str, Any]:
    """`body` (a decoded JSON object) with its keys shared, and each string value that
    is already in the table (a status word, a workflow name) replaced by the kept copy;
    nested objects as they are."""
    table = _TABLE
    lean: dict[str, Any] = {}
    for key, value in body.items():
        kept = table.get(key)
        lean[shared(key) if kept is None else kept] = (
            table.get(value, value) if type(value) is str else value
        )
    return lean
