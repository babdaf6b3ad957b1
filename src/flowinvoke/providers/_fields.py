"""Tolerant readers for fields of a decoded JSON body, shared by provider modules.

Each reader is total: whatever a server sends (a 4,000-digit integer, NaN, Infinity, a
list where a number belongs), it returns a value or None and never raises, so one odd
field cannot lose a whole answer or escape as a builtin error.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["as_float", "as_int", "as_text", "epoch_ms", "millis"]


def as_text(value: Any) -> str | None:
    """A string field; finite numbers are accepted (versions come as "9" and as 9)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and as_float(value) is not None:
        try:
            return str(value)
        except ValueError:  # an int past Python's digit limit for str()
            return None
    return None


def as_float(value: Any) -> float | None:
    """A finite number field; numeric strings are accepted, NaN and infinities are not."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def as_int(value: Any) -> int | None:
    """An integer field; whole floats and numeric strings are accepted."""
    number = as_float(value)
    return None if number is None or not number.is_integer() else int(number)


def epoch_ms(value: Any) -> datetime | None:
    """A UTC datetime from milliseconds since the epoch (0, missing or absurd mean unknown)."""
    number = as_float(value)
    if not number:
        return None
    try:
        return datetime.fromtimestamp(number / 1000.0, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def millis(value: Any) -> timedelta | None:
    """A duration from milliseconds (negative or past `timedelta`'s range means unknown)."""
    number = as_float(value)
    if number is None or number < 0:
        return None
    try:
        return timedelta(milliseconds=number)
    except OverflowError:
        return None
