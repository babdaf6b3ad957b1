"""Checks on what a caller sends, so bad input fails before any request leaves."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ._errors import ConfigurationError
from ._models import MAX_WEBHOOKS, Webhook

__all__ = ["check_input", "check_run_id", "check_webhooks"]


def check_input(value: object) -> dict[str, Any]:
    """Return `value` as a dict if it is a mapping of strings to JSON values.

    Raises:
        TypeError: not a mapping, a non-string key, or a value JSON cannot hold; the
            message names the offending key path.
        ValueError: a float that JSON cannot hold (NaN, infinity).
    """
    if not isinstance(value, Mapping):
        raise TypeError(
            f"input must be a mapping of str to JSON values, not {type(value).__name__}"
        )
    for key, item in value.items():
        if not isinstance(key, str):
            raise TypeError(f"input keys must be str; got {type(key).__name__} key {key!r}")
        _check_json(item, f"input[{key!r}]")
    return dict(value)


def _check_json(value: object, path: str) -> None:
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path} is {value!r}, which JSON cannot represent")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{path} has a non-str key {key!r}")
            _check_json(item, f"{path}[{key!r}]")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_json(item, f"{path}[{index}]")
        return
    raise TypeError(f"{path} is a {type(value).__name__}, which is not JSON-serialisable")


def check_run_id(run_id: object) -> str:
    """Return `run_id` if it is a non-blank string; raise before any request otherwise."""
    if not isinstance(run_id, str):
        raise TypeError(f"run id must be a str, not {type(run_id).__name__}")
    if not run_id.strip():
        raise ValueError("run id must not be blank")
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
