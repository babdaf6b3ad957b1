"""Checks on what a caller sends, so bad input fails before any request leaves."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ConfigurationError
from .models import MAX_WEBHOOKS, Webhook
from .text import has_control_character

__all__ = ["MAX_INPUT_DEPTH", "check_input", "check_run_id", "check_webhooks"]


def check_input(value: object) -> dict[str, Any]:
    """Return `value` as a dict if it is a mapping of strings to JSON values.

    Raises:
        TypeError: not a mapping, a non-string key, or a value JSON cannot hold; the
            message names the offending key path.
        ValueError: a float that JSON cannot hold (NaN, infinity), a container that holds
            itself (a cycle), or nesting deeper than `MAX_INPUT_DEPTH`.
    """
    if not isinstance(value, Mapping):
        raise TypeError(
            f"input must be a mapping of str to JSON values, not {type(value).__name__}"
        )
    try:
        _check_json(value, 0, set())
    except _BadValue as bad:
        where = "input" + "".join(f"[{key!r}]" for key in reversed(bad.path))
        raise bad.kind(f"{where} {bad.problem}") from None
    return dict(value)


#: How deeply an input may nest. JSON encoding recurses, so a deeper input would fail with
#: `RecursionError` mid-request; real workflow inputs nest a few levels. The check below
#: recurses too, but never deeper than this, so it cannot exhaust the stack itself.
MAX_INPUT_DEPTH = 100


class _BadValue(Exception):
    """A bad value deep in the input; each level adds its key on the way out, so the key
    path is built only for an error, not for every value checked."""

    def __init__(self, kind: type[Exception], problem: str) -> None:
        self.kind = kind
        self.problem = problem
        self.path: list[object] = []


def _check_json(value: object, depth: int, open_ids: set[int]) -> None:
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _BadValue(ValueError, f"is {value!r}, which JSON cannot represent")
        return
    if isinstance(value, Mapping):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        raise _BadValue(TypeError, f"is a {type(value).__name__}, which is not JSON-serialisable")
    if depth >= MAX_INPUT_DEPTH:
        raise _BadValue(ValueError, f"nests deeper than {MAX_INPUT_DEPTH} levels")
    # Only the containers on the path from the root count: a value shared by two keys is
    # fine, one that holds itself (a cycle) is not.
    marker = id(value)
    if marker in open_ids:
        raise _BadValue(ValueError, "contains itself, which JSON cannot represent")
    open_ids.add(marker)
    is_mapping = isinstance(value, Mapping)
    for key, item in items:
        if is_mapping and not isinstance(key, str):
            raise _BadValue(TypeError, f"has a non-str key {key!r}")
        try:
            _check_json(item, depth + 1, open_ids)
        except _BadValue as bad:
            bad.path.append(key)
            raise
    open_ids.discard(marker)


def check_run_id(run_id: object) -> str:
    """Return `run_id` if it is a non-blank string without control characters.

    Raises:
        TypeError: not a str.
        ValueError: blank, or with a control character (a pasted line break, NUL, TAB).
    """
    if not isinstance(run_id, str):
        raise TypeError(f"run id must be a str, not {type(run_id).__name__}")
    if not run_id.strip():
        raise ValueError("run id must not be blank")
    if has_control_character(run_id):
        raise ValueError(f"run id {run_id!r} has a control character")
    return run_id


def check_webhooks(webhooks: Sequence[Webhook | Mapping[str, Any]] | None) -> list[Webhook]:
    """Validate a webhook list (at most five targets), accepting models or plain dicts."""
    if webhooks is None:
        return []
    if isinstance(webhooks, Mapping | str):
        raise TypeError("webhooks must be a sequence of Webhook objects or dicts")
    if len(webhooks) > MAX_WEBHOOKS:
        raise ConfigurationError(
            f"at most {MAX_WEBHOOKS} webhooks are allowed per run; got {len(webhooks)}"
        )
    return [
        hook if isinstance(hook, Webhook) else Webhook.model_validate(hook) for hook in webhooks
    ]
