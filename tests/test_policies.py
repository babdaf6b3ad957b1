"""The retry and poll schedules, read without sleeping."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from flowinvoke import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    ConfigurationError,
    NotFoundError,
    PollPolicy,
    RateLimitError,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
)
from flowinvoke._core.deadline import Deadline
from flowinvoke._transport.retry import is_retryable, next_retry_delay, parse_retry_after
from flowinvoke.providers import Operation


def test_poll_policy_defaults_first_delay_growth_and_cap() -> None:
    policy = PollPolicy(jitter=0)
    delays = list(itertools.islice(policy.delays(), 40))
    assert delays[0] == pytest.approx(0.2)
    assert delays[1] == pytest.approx(0.26)
    assert delays[2] == pytest.approx(0.338)
    assert max(delays) == pytest.approx(30.0)
    assert delays[-1] == pytest.approx(30.0)
    assert all(b >= a for a, b in itertools.pairwise(delays))
    assert policy.timeout == 1800.0


def test_poll_policy_jitter_stays_within_bounds_and_is_reproducible() -> None:
    policy = PollPolicy(initial_delay=1.0, multiplier=2.0, max_interval=8.0, jitter=0.25)
    plain = list(itertools.islice(PollPolicy(1.0, 2.0, 8.0, jitter=0).delays(), 30))
    jittered = list(itertools.islice(policy.delays(random.Random(7)), 30))
    for base, value in zip(plain, jittered, strict=True):
        assert base * 0.75 <= value <= base * 1.25
    assert jittered != plain
    assert jittered == list(itertools.islice(policy.delays(random.Random(7)), 30))


def test_poll_policy_fixed_interval() -> None:
    policy = PollPolicy(initial_delay=1.0, multiplier=1.0, max_interval=1.0, jitter=0)
    assert list(itertools.islice(policy.delays(), 5)) == [1.0] * 5


def test_a_server_hint_lengthens_the_next_delay_capped_and_never_shortens_it() -> None:
    policy = PollPolicy(max_hint=10.0)
    assert policy.next_delay(0.5, None) == 0.5
    assert policy.next_delay(0.5, 3.0) == 3.0
    assert policy.next_delay(0.5, 120.0) == 10.0
    assert policy.next_delay(0.5, 0.0) == 0.5
    assert policy.next_delay(20.0, 3.0) == 20.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial_delay": -1},
        {"multiplier": 0.5},
        {"initial_delay": 5, "max_interval": 1},
        {"jitter": 1.0},
        {"timeout": 0},
        {"max_hint": -1},
    ],
)
def test_poll_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError, match="PollPolicy"):
        PollPolicy(**kwargs)


def test_retry_policy_schedule_grows_is_capped_and_is_finite() -> None:
    policy = RetryPolicy(max_retries=6, initial_delay=0.5, max_delay=4.0, jitter=False)
    assert list(policy.delays()) == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert list(RetryPolicy(max_retries=0).delays()) == []


def test_retry_policy_full_jitter_bounds() -> None:
    policy = RetryPolicy(max_retries=50, initial_delay=1.0, max_delay=1.0, jitter=True)
    delays = list(policy.delays())
    assert len(delays) == 50
    assert all(0.0 <= d <= 1.0 for d in delays)
    assert len(set(delays)) > 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"initial_delay": -1.0},
        {"max_delay": 0.1},
        {"multiplier": 0.9},
        {"max_retry_after": -1.0},
        {"budget": 0.0},
    ],
)
def test_retry_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError, match="RetryPolicy"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after": "-4"}) == 0.0
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({"retry-after": "nan"}) is None
    assert parse_retry_after({}) is None
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now.timestamp()) == pytest.approx(30.0)
    past = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"retry-after": past}, now=now.timestamp()) == 0.0


def _status(cls: type[APIStatusError], code: int) -> APIStatusError:
    return cls("x", provider="p", status_code=code)


@pytest.mark.parametrize(
    ("error", "query", "invoke"),
    [
        (APIConnectionError("x", provider="p"), True, True),
        (APIConnectionError("x", provider="p", may_have_started=True), True, False),
        (APITimeoutError("x", provider="p", may_have_started=True), True, False),
        (ResponseValidationError("x", provider="p", body="", status_code=200), True, False),
        (_status(RateLimitError, 429), True, True),
        (_status(ServerError, 503), True, True),
        (ServerError("x", provider="p", status_code=500, may_have_started=True), True, False),
        (ServerError("x", provider="p", status_code=502, may_have_started=True), True, False),
        (_status(APIStatusError, 408), True, False),
        (_status(BadRequestError, 400), False, False),
        (_status(NotFoundError, 404), False, False),
    ],
)
def test_retry_decisions_depend_on_the_operation(
    error: APIStatusError, query: bool, invoke: bool
) -> None:
    assert is_retryable(error, Operation.QUERY) is query
    assert is_retryable(error, Operation.INVOKE) is invoke


def test_next_retry_delay_honours_hints_caps_and_limits() -> None:
    policy = RetryPolicy(max_retries=2, initial_delay=1.0, jitter=False, max_retry_after=5.0)
    no_limit = (Deadline(None),)
    limited = RateLimitError("x", provider="p", status_code=429, retry_after=2.0)
    schedule = policy.delays()
    assert next_retry_delay(limited, Operation.QUERY, policy, schedule, no_limit) == 2.0
    too_long = RateLimitError("x", provider="p", status_code=429, retry_after=500.0)
    assert next_retry_delay(too_long, Operation.QUERY, policy, schedule, no_limit) == 5.0
    assert next_retry_delay(too_long, Operation.QUERY, policy, schedule, no_limit) is None
    busy = APIStatusError("x", provider="p", status_code=503, headers={"retry-after": "4"})
    assert next_retry_delay(busy, Operation.INVOKE, policy, policy.delays(), no_limit) == 4.0
    near = (Deadline(0.5),)
    assert next_retry_delay(busy, Operation.QUERY, policy, policy.delays(), near) is None
    bad = _status(BadRequestError, 400)
    assert next_retry_delay(bad, Operation.QUERY, policy, policy.delays(), no_limit) is None


def test_deadline() -> None:
    assert not Deadline(None).finite
    assert Deadline(None).remaining() == float("inf")
    deadline = Deadline(100.0)
    assert deadline.finite and not deadline.expired
    assert deadline.cap(1.0) == 1.0
    assert deadline.cap(1000.0) <= 100.0
    assert Deadline(-1).expired
