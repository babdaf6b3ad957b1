"""The learned poll schedule as pure functions, and the bounded duration history."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from flowinvoke import ConfigurationError, DurationEstimate, PollPolicy, RunDurations, WorkflowKey
from flowinvoke._waiting.estimate import estimate_durations

KEY = WorkflowKey("gptbots", "https://api-sg.gptbots.ai", "wf-1")


def test_adaptive_false_draws_exactly_the_plain_schedule() -> None:
    # The values of the schedule before learning existed (docs/waiting.md, seed 0).
    delays = PollPolicy(adaptive=False).delays(random.Random(0))
    assert [round(d, 2) for d in itertools.islice(delays, 8)] == [
        0.21,
        0.27,
        0.33,
        0.42,
        0.57,
        0.73,
        1.02,
        1.21,
    ]


def test_a_timer_on_a_warm_history_is_plain_when_adaptive_is_false() -> None:
    book = RunDurations()
    for _ in range(5):
        book.record(KEY, 2.0)
    timer = book.timer(KEY)
    assert timer.estimate.warm
    policy = PollPolicy(adaptive=False)
    learned = list(itertools.islice(timer.delays(policy, random.Random(3)), 10))
    assert learned == list(itertools.islice(policy.delays(random.Random(3)), 10))


@pytest.mark.parametrize(
    ("durations", "clusters"),
    [
        ([2.0, 2.0], ()),  # too few
        ([1.9, 2.0, 2.1], ((1.9, 2.1),)),
        ([1.0, 6.0] * 4, ((1.0, 1.0), (6.0, 6.0))),
        ([0.5, 1, 2, 4, 8, 16, 32, 64], ()),  # scattered
        ([2.0] * 9 + [40.0], ((2.0, 2.0),)),  # one outlier is dropped
        ([1.0, 1.2, 1.45, 1.7, 2.0, 2.4, 2.9], ()),  # a continuous spread wider than 2 x
    ],
)
def test_estimates_group_similar_durations(
    durations: list[float], clusters: tuple[tuple[float, float], ...]
) -> None:
    assert estimate_durations(durations).clusters == clusters


def test_the_learned_schedule_sleeps_to_the_expected_end_then_probes_densely() -> None:
    policy = PollPolicy()
    estimate = DurationEstimate(8, ((1.95, 2.05),))
    first = policy.learned_delay(estimate, 0.0, 0.5)
    assert 1.85 <= first <= 1.95
    assert policy.learned_delay(estimate, 2.0, 0.5) == pytest.approx(0.1)
    # an overrun: growing again, never sparser than the plain schedule
    for elapsed in (2.2, 5.0, 60.0, 600.0):
        delay = policy.learned_delay(estimate, elapsed, 0.5)
        assert delay <= min(0.2 + 0.3 * elapsed, 30.0)
    assert policy.learned_delay(estimate, 600.0, 0.5) == pytest.approx(30.0)


def test_no_learned_sleep_is_longer_than_max_interval() -> None:
    policy = PollPolicy(max_interval=30.0)
    estimate = DurationEstimate(5, ((300.0, 310.0),))
    assert policy.learned_delay(estimate, 0.0, 0.0) == 30.0


def test_between_two_clusters_each_interval_is_the_elapsed_time() -> None:
    policy = PollPolicy(jitter=0)
    estimate = DurationEstimate(8, ((1.0, 1.0), (6.0, 6.0)))
    assert policy.learned_delay(estimate, 1.05, 0.5) == pytest.approx(1.05)
    assert policy.learned_delay(estimate, 2.0, 0.5) == pytest.approx(2.0)
    assert policy.learned_delay(estimate, 4.2, 0.5) == pytest.approx(6.0 - 0.12 - 4.2)
    # never shorter than the plain interval, never longer than max_interval
    assert policy.learned_delay(estimate, 0.9 + 0.1, 0.5) >= 0.2 + 0.3 * 1.0
    capped = PollPolicy(jitter=0, max_interval=3.0)
    wide = DurationEstimate(8, ((1.0, 1.0), (60.0, 60.0)))
    assert capped.learned_delay(wide, 10.0, 0.5) == pytest.approx(3.0)


def _detected(policy: PollPolicy, estimate: DurationEstimate, end: float, seed: int) -> list[float]:
    """The query times of one run polled on the learned schedule, up to the one that sees it."""
    draw = random.Random(seed).random
    times = [0.0]
    while times[-1] < end:
        times.append(times[-1] + policy.learned_delay(estimate, times[-1], draw()))
    return times[1:]


def test_bimodal_runs_are_queried_around_each_mode_not_through_the_gap() -> None:
    policy = PollPolicy()
    estimate = RunDurations(seed=_export([1.0, 6.0] * 4)).estimate(KEY)
    counts = []
    for seed in range(200):
        short = _detected(policy, estimate, 1.0, seed)
        long = _detected(policy, estimate, 6.0, seed)
        assert len(short) <= 3 and short[-1] - 1.0 <= 0.25, short
        assert len(long) <= 7 and long[-1] - 6.0 <= 1.0, long
        counts.append(len(long))
        for end in (1.2, 2.5, 4.0, 5.5):  # a run in the gap: seen by about twice its length
            assert _detected(policy, estimate, end, seed)[-1] <= 2.2 * end
    assert statistics.median(counts) <= 6  # 10 at the plain interval through the gap


def test_a_query_inside_the_landing_step_does_not_land_again() -> None:
    policy = PollPolicy()
    estimate = DurationEstimate(8, ((2.0, 2.0),))
    # arrived at 1.92 (inside the step before 2 s): probe on, whatever the new draw says
    assert policy.learned_delay(estimate, 1.92, 0.1) == pytest.approx(0.1 * (1 + 0.1 * -0.8))


def test_jitter_spreads_a_batch_started_together() -> None:
    policy = PollPolicy()
    estimate = DurationEstimate(8, ((20.0, 20.5),))
    firsts = {round(policy.learned_delay(estimate, 0.0, u / 10), 3) for u in range(10)}
    assert len(firsts) == 10 and max(firsts) - min(firsts) >= 0.7


def test_a_wait_that_slept_through_a_landing_catches_up_within_a_step() -> None:
    policy = PollPolicy()
    estimate = DurationEstimate(8, ((2.0, 2.0), (10.0, 10.5)))  # steps 0.1 s and 0.4 s
    # Last queried at 1.5 s, now at 2.4 s: the run may have ended at 2 s. Catch up within
    # the next step, at a random point of it.
    assert policy.catch_up_delay(estimate, 2.4, 1.5, 0.5) == pytest.approx(0.05)
    assert policy.catch_up_delay(estimate, 2.4, 1.5, 0.0) == 0.0
    # Queried inside the landing (1.95 s) or past it already: the learned schedule plans.
    assert policy.catch_up_delay(estimate, 2.4, 1.95, 0.5) is None
    # Short of the first landing: nothing to catch up on.
    assert policy.catch_up_delay(estimate, 1.5, 0.8, 0.5) is None
    # The latest landing reached counts: in the gap past 2 s, queried at 2.05 s, nothing;
    # past the second landing (9.6 s) with no query since 8 s, a step of that cluster.
    assert policy.catch_up_delay(estimate, 5.0, 2.05, 0.5) is None
    assert policy.catch_up_delay(estimate, 9.8, 8.0, 0.5) == pytest.approx(0.2)


def _export(durations: list[float]) -> dict[str, object]:
    row = {"provider": KEY.provider, "base_url": KEY.base_url, "workflow": KEY.workflow}
    return {"version": 1, "workflows": [{**row, "durations": durations}]}


def test_memory_is_bounded_in_workflows_and_durations_per_workflow() -> None:
    book = RunDurations(window=8, max_workflows=16)
    for n in range(1000):
        book.record(WorkflowKey("gptbots", "u", f"wf-{n % 100}"), 1.0 + n % 7)
    assert len(book) == 16
    assert book.snapshot()[-1].key.workflow == "wf-99"  # the most recently used is kept
    for _ in range(50):
        book.record(KEY, 2.0)
    assert len(book) == 16 and len(book.snapshot()[-1].durations) == 8


def test_an_export_seeds_another_history_and_bad_ones_change_nothing() -> None:
    book = RunDurations()
    for value in (2.0, 2.1, 1.9):
        book.record(KEY, value)
    exported = book.export()
    copy = RunDurations(seed=exported)
    assert copy.snapshot() == book.snapshot()
    assert copy.estimate(KEY).warm
    for bad in ({"version": 2, "workflows": []}, {"version": 1}, {"version": 1, "workflows": [{}]}):
        with pytest.raises(ConfigurationError):
            copy.seed(bad)
    broken = {"version": 1, "workflows": [{**exported["workflows"][0], "durations": [-1]}]}
    with pytest.raises(ConfigurationError):
        copy.seed(broken)
    assert copy.snapshot() == book.snapshot()
    copy.clear()
    assert len(copy) == 0 and not copy.estimate(KEY).warm


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        RunDurations(window=2)
    with pytest.raises(ConfigurationError):
        PollPolicy(adaptive="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        RunDurations().record(KEY, float("nan"))


def test_an_overrun_returns_to_a_fixed_interval_policy() -> None:
    fixed = PollPolicy(initial_delay=2.0, multiplier=1.0, max_interval=2.0, jitter=0)
    estimate = DurationEstimate(5, ((10.0, 10.0),))
    assert fixed.learned_delay(estimate, 10.5, 0.5) == pytest.approx(1.0)  # probing
    assert fixed.learned_delay(estimate, 20.0, 0.5) == pytest.approx(2.0)  # back to 2 s
