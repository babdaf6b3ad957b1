"""Tolerant readers for fields of a decoded JSON body, shared by provider modules."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = [
    "as_float",
    "as_int",
    "as_text",
    "epoch_ms",
    "epoch_seconds",
    "json_text",
    "millis",
    "seconds",
]


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


def epoch_seconds(value: Any) -> datetime | None:
    """A UTC datetime from seconds since the epoch, or from the RFC 822 / ISO 8601 text
    older servers send (Dify before its epoch change); 0, missing or unreadable: unknown."""
    if isinstance(value, str) and as_float(value) is None:
        return _date_text(value)
    number = as_float(value)
    if not number:
        return None
    try:
        return datetime.fromtimestamp(number, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def seconds(value: Any) -> timedelta | None:
    """A duration from seconds."""
    number = as_float(value)
    return None if number is None or number < 0 else timedelta(seconds=number)


def _date_text(text: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        try:
            parsed = datetime.fromisoformat(text.strip())
        except ValueError:
            return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def json_text(value: Any) -> Any:
    """A field that arrives as serialised JSON (Coze's `data`/`output`, Dify's query
    `inputs`) decoded; text that is not JSON is returned as is."""
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
