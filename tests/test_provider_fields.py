"""The field readers every provider module shares: whatever a server puts in a field, the
reader answers a value or None ("unknown"), never an exception."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone

import pytest

from flowinvoke.providers._fields import (
    as_float,
    as_int,
    as_text,
    epoch_ms,
    epoch_seconds,
    json_text,
    millis,
    seconds,
)


def test_text_takes_strings_and_finite_numbers_only() -> None:
    assert as_text("run-1") == "run-1"
    assert as_text(42) == "42"
    assert as_text(1.5) == "1.5"
    assert as_text(True) is None
    assert as_text(None) is None
    assert as_text(float("nan")) is None
    assert as_text({"id": 1}) is None


def test_an_int_too_long_to_print_is_unknown_text() -> None:
    if not hasattr(sys, "get_int_max_str_digits"):
        pytest.skip("this Python prints ints of any length")  # pragma: no cover
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        assert as_text(10**700) is None
    finally:
        sys.set_int_max_str_digits(limit)


@pytest.mark.parametrize(
    ("value", "number"),
    [("2.5", 2.5), (3, 3.0), ("x", None), (None, None), (True, None), (float("inf"), None)],
)
def test_numbers_are_finite_or_unknown(value: object, number: float | None) -> None:
    assert as_float(value) == number


def test_ints_take_whole_numbers_only() -> None:
    assert as_int("7") == 7
    assert as_int(7.0) == 7
    assert as_int(7.5) is None


def test_epoch_milliseconds_and_seconds_are_utc_or_unknown() -> None:
    assert epoch_ms(1_700_000_000_000) == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
    assert epoch_ms(0) is None
    assert epoch_ms(1e300) is None  # past any date
    assert epoch_seconds(1_700_000_000) == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
    assert epoch_seconds(0) is None
    assert epoch_seconds(1e300) is None


def test_older_servers_date_text_is_read_in_either_form() -> None:
    rfc = epoch_seconds("Tue, 14 Nov 2023 22:13:20 GMT")
    iso = epoch_seconds("2023-11-14T22:13:20")
    assert rfc == iso == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
    assert epoch_seconds("yesterday") is None


def test_durations_are_non_negative_and_in_range_or_unknown() -> None:
    assert millis(1500) == timedelta(seconds=1.5)
    assert millis(-1) is None
    assert millis(1e300) is None
    assert seconds(2) == timedelta(seconds=2)
    assert seconds(-2) is None
    assert seconds(1e300) is None


def test_json_text_decodes_or_keeps_the_text() -> None:
    assert json_text('{"a": 1}') == {"a": 1}
    assert json_text(b"[1]") == [1]
    assert json_text("not json") == "not json"
    assert json_text("[" * 100_000) == "[" * 100_000  # nests too deep: kept as it came
    assert json_text({"a": 1}) == {"a": 1}
