"""Checks on what a caller sends, so bad input fails before any request leaves."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ._errors import ConfigurationError
from ._models import MAX_WEBHOOKS, Webhook
from ._text import has_control_character

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
    _check_json(value)
    return dict(value)


#: How deeply an input may nest. JSON encoding recurses, so a deeper input would fail with
#: `RecursionError` mid-request; real workflow inputs nest a few levels.
MAX_INPUT_DEPTH = 100

# What the walk below meets: a container to enter, or a marker to leave one.
_Step = tuple[object, tuple[object, ...], bool]


def _check_json(root: Mapping[Any, Any]) -> None:
    """Walk `root` without recursing (a deep input must not exhaust the stack)."""
    # The containers on the path from the root to the current item, to find cycles.
    open_ids: set[int] = set()
    stack: list[_Step] = [(root, (), False)]
    while stack:
        value, path, leaving = stack.pop()
        if leaving:
            open_ids.discard(id(value))
            continue
        if value is None or isinstance(value, str | bool | int):
            continue
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError(f"{_where(path)} is {value!r}, which JSON cannot represent")
            continue
        if isinstance(value, Mapping):
            items: Any = value.items()
        elif isinstance(value, list | tuple):
            items = enumerate(value)
        else:
            raise TypeError(
                f"{_where(path)} is a {type(value).__name__}, which is not JSON-serialisable"
            )
        if id(value) in open_ids:
            raise ValueError(f"{_where(path)} contains itself, which JSON cannot represent")
        if len(path) >= MAX_INPUT_DEPTH:
            raise ValueError(f"input nests deeper than {MAX_INPUT_DEPTH} levels")
        open_ids.add(id(value))
        stack.append((value, path, True))
        children: list[_Step] = []
        for key, item in items:
            if isinstance(value, Mapping) and not isinstance(key, str):
                raise TypeError(f"{_where(path)} has a non-str key {key!r}")
            children.append((item, (*path, key), False))
        stack.extend(reversed(children))  # report the first bad item in input order


def _where(path: tuple[object, ...]) -> str:
    """`input['a'][0]` for the path ('a', 0), built only for an error message."""
    return "input" + "".join(f"[{key!r}]" for key in path)


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
