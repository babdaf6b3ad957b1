"""Tolerant readers for fields of a decoded JSON body, shared by provider modules."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["as_float", "as_int", "as_text", "epoch_ms", "millis"]


def as_text(value: Any) -> str | None:
    """A string field; numbers are accepted (versions come as "9" and as 9)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str | int | float):
        return str(value)
    return None


def as_float(value: Any) -> float | None:
    """A number field; numeric strings are accepted."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def as_int(value: Any) -> int | None:
    """An integer field; whole floats and numeric strings are accepted."""
    number = as_float(value)
    return None if number is None or not number.is_integer() else int(number)


def epoch_ms(value: Any) -> datetime | None:
    """A UTC datetime from milliseconds since the epoch (0 and missing mean unknown)."""
    number = as_float(value)
    if not number:
        return None
    try:
        return datetime.fromtimestamp(number / 1000.0, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def millis(value: Any) -> timedelta | None:
    """A duration from milliseconds."""
    number = as_float(value)
    return None if number is None or number < 0 else timedelta(milliseconds=number)
