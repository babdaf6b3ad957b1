"""Benchmark 3: how well the default poll schedule trades queries against detection lag.

Computed, not timed: no sleeping and no network. For each typical run length d (1, 5, 30
and 300 s), 200 run durations are drawn uniformly from [0.8 d, 1.2 d] (seeded). A run that
starts at 0 is queried at the cumulative sums of a schedule's delays (the first query comes
after the first delay) and is seen finished by the first query at or after its end. For each
schedule we report the queries sent (the one that sees the end included) and the detection
lag (that query's time minus the run's end).

Schedules:

- flowinvoke's default, `PollPolicy().delays(random.Random(seed))`: the real generator,
  jitter included (a different seed for each run);
- fixed 1 s polling (also openai-python's `create_and_poll` default of 1,000 ms);
- google api-core's polling retry: 1 s, x1.5 per query, capped at 20 s (without its jitter,
  which would only spread the same schedule).

Then the learned schedule on a bimodal workflow (runs of 1 s and 6 s alternating, 8 of them
remembered): `PollPolicy().learned_delay` on the estimate a `RunDurations` draws from them,
against the plain schedule, for 200 runs of each mode and for runs that end in the gap.
"""

from __future__ import annotations

import itertools
import random
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from _common import BenchResult, Goal, Table, emit, percentile

from flowinvoke import DurationEstimate, PollPolicy, RunDurations, WorkflowKey

NAME = "polling"
DURATIONS = (1.0, 5.0, 30.0, 300.0)
SAMPLES = 200
SEED = 20240601

Schedule = Callable[[int], Iterator[float]]


def ours(seed: int) -> Iterator[float]:
    """flowinvoke's default schedule, jittered by a seeded generator."""
    return PollPolicy().delays(random.Random(seed))


def fixed_1s(seed: int) -> Iterator[float]:
    """Every second."""
    return itertools.repeat(1.0)


def google_api_core(seed: int) -> Iterator[float]:
    """1 s, then x1.5 per query, capped at 20 s."""
    delay = 1.0
    while True:
        yield delay
        delay = min(delay * 1.5, 20.0)


SCHEDULES: dict[str, Schedule] = {
    "flowinvoke default (0.2 s x1.3 to 30 s, +/-10 %)": ours,
    "fixed 1 s (openai-python's default too)": fixed_1s,
    "google api-core (1 s x1.5 to 20 s)": google_api_core,
}


@dataclass
class Stats:
    """Queries and lag of one schedule over one set of run durations."""

    mean_queries: float
    max_queries: int
    median_lag: float
    p90_lag: float
    mean_lag: float


def detect(duration: float, delays: Iterator[float]) -> tuple[int, float]:
    """(queries sent, lag) for one run of `duration` polled on `delays`."""
    now = 0.0
    for queries, delay in enumerate(delays, start=1):
        now += delay
        if now >= duration:
            return queries, now - duration
    raise AssertionError("schedules are endless")


def evaluate(schedule: Schedule, durations: list[float]) -> Stats:
    """Queries and lag of `schedule` over every duration (seed = the run's index)."""
    queries: list[int] = []
    lags: list[float] = []
    for index, duration in enumerate(durations):
        count, lag = detect(duration, schedule(SEED + index))
        queries.append(count)
        lags.append(lag)
    return Stats(
        statistics.fmean(queries),
        max(queries),
        statistics.median(lags),
        percentile(lags, 0.9),
        statistics.fmean(lags),
    )


BIMODAL = (1.0, 6.0)
GAP_ENDS = (1.5, 2.5, 3.5, 4.5)


def learned(estimate: DurationEstimate) -> Schedule:
    """The learned schedule around `estimate`'s clusters, jittered by a seeded generator."""
    policy = PollPolicy()

    def schedule(seed: int) -> Iterator[float]:
        draw = random.Random(seed).random
        elapsed = 0.0
        while True:
            delay = policy.learned_delay(estimate, elapsed, draw())
            elapsed += delay
            yield delay

    return schedule


def bimodal_estimate() -> DurationEstimate:
    """What a client knows after 8 runs alternating 1 s and 6 s."""
    book = RunDurations()
    key = WorkflowKey("gptbots", "http://127.0.0.1", "bimodal")
    for duration in BIMODAL * 4:
        book.record(key, duration)
    return book.estimate(key)


def _bimodal() -> tuple[Table, list[Goal], dict[str, dict[str, float]]]:
    """The learned and the plain schedule on each mode of a 1 s / 6 s workflow, and on runs
    that end in the gap between the modes (an outlier the history has not seen)."""
    schedules = {"learned (1 s / 6 s, after 8)": learned(bimodal_estimate()), "plain": ours}
    table = Table(
        "Bimodal runs (1 s / 6 s alternating): the learned schedule (computed)",
        ["runs", "schedule", "mean queries", "median queries", "max", "median lag", "max lag"],
        notes=[
            f"{SAMPLES} runs per row; the gap row: {SAMPLES} runs ending at each of "
            + ", ".join(f"{end:g}" for end in GAP_ENDS)
            + " s",
            "the learned schedule's first 8 runs (the history) are not counted",
        ],
    )
    rows: dict[str, dict[str, float]] = {}
    goals: list[Goal] = []
    cases = [(f"{mode:g} s", [mode] * SAMPLES) for mode in BIMODAL]
    cases.append(("in the gap", [end for end in GAP_ENDS for _ in range(SAMPLES)]))
    for label, durations in cases:
        for name, schedule in schedules.items():
            seen = [detect(d, schedule(SEED + i)) for i, d in enumerate(durations)]
            queries = [count for count, _ in seen]
            lags = [lag for _, lag in seen]
            cell = {
                "mean_queries": statistics.fmean(queries),
                "median_queries": statistics.median(queries),
                "max_queries": max(queries),
                "median_lag": statistics.median(lags),
                "max_lag": max(lags),
            }
            rows[f"{label} {name}"] = cell
            table.rows.append(
                [
                    label,
                    name,
                    f"{cell['mean_queries']:.1f}",
                    f"{cell['median_queries']:g}",
                    str(cell["max_queries"]),
                    f"{cell['median_lag']:.2f} s",
                    f"{cell['max_lag']:.2f} s",
                ]
            )
            if name == "plain" or label == "in the gap":
                continue
            mode = durations[0]
            bound = 0.15 * mode + 0.1
            goals.append(
                Goal(
                    f"learned, bimodal (computed): median lag of the {label} runs",
                    f"<= {bound:.2f} s",
                    f"{cell['median_lag']:.2f} s",
                    cell["median_lag"] <= bound,
                )
            )
            if mode == max(BIMODAL):
                goals.append(
                    Goal(
                        f"learned, bimodal (computed): queries for the {label} runs",
                        "median <= 7",
                        f"median {cell['median_queries']:g}, mean {cell['mean_queries']:.1f}",
                        cell["median_queries"] <= 7,
                    )
                )
    return table, goals, rows


def run(*, quick: bool = False) -> BenchResult:
    """Every schedule at every duration (cheap: the same in quick mode)."""
    emit(f"[{NAME}] {len(SCHEDULES)} schedules x {len(DURATIONS)} durations x {SAMPLES} runs")
    dice = random.Random(SEED)
    results: dict[tuple[str, float], Stats] = {}
    for d in DURATIONS:
        durations = [dice.uniform(0.8 * d, 1.2 * d) for _ in range(SAMPLES)]
        for name, schedule in SCHEDULES.items():
            results[(name, d)] = evaluate(schedule, durations)
    table = Table(
        "Poll schedules: queries sent and detection lag (computed from the schedules)",
        [
            "run length d",
            "schedule",
            "mean queries",
            "max queries",
            "median lag",
            "p90 lag",
            "mean lag",
            "median lag / d",
        ],
        notes=[
            f"{SAMPLES} runs per row, durations uniform in [0.8 d, 1.2 d], seed {SEED}",
            "lag: from the run's end to the query that sees it; the first query comes after "
            "the first delay",
        ],
    )
    for d in DURATIONS:
        for name in SCHEDULES:
            stats = results[(name, d)]
            table.rows.append(
                [
                    f"{d:g} s",
                    name,
                    f"{stats.mean_queries:.1f}",
                    str(stats.max_queries),
                    f"{stats.median_lag:.2f} s",
                    f"{stats.p90_lag:.2f} s",
                    f"{stats.mean_lag:.2f} s",
                    f"{stats.median_lag / d:.0%}",
                ]
            )
    default, fixed, google = SCHEDULES
    goals = []
    for d in DURATIONS:
        stats = results[(default, d)]
        bound = 0.15 * d + 0.1
        goals.append(
            Goal(
                f"default schedule: median lag at d = {d:g} s",
                f"<= 15 % of d + 0.1 s = {bound:.2f} s",
                f"{stats.median_lag:.2f} s",
                stats.median_lag <= bound,
            )
        )
    longest = results[(default, 300.0)]
    goals.append(
        Goal(
            "default schedule: queries for a 300 s run",
            "<= 30",
            f"mean {longest.mean_queries:.1f}, max {longest.max_queries}",
            longest.max_queries <= 30,
        )
    )
    long_runs = DURATIONS[2:]
    fewer = all(
        results[(default, d)].mean_queries < results[(fixed, d)].mean_queries for d in long_runs
    )
    goals.append(
        Goal(
            "beats fixed 1 s polling on queries at long runs (d = 30, 300 s)",
            "fewer queries",
            ", ".join(
                f"{results[(default, d)].mean_queries:.0f} vs "
                f"{results[(fixed, d)].mean_queries:.0f}"
                for d in long_runs
            ),
            fewer,
        )
    )
    short = DURATIONS[:2]
    less_lag = all(
        results[(default, d)].p90_lag < results[(google, d)].p90_lag
        and results[(default, d)].mean_lag < results[(google, d)].mean_lag
        for d in short
    )
    goals.append(
        Goal(
            "beats google api-core on lag at short runs (d = 1, 5 s)",
            "lower p90 and mean lag",
            ", ".join(
                f"p90 {results[(default, d)].p90_lag:.2f} s vs {results[(google, d)].p90_lag:.2f} s"
                for d in short
            ),
            less_lag,
        )
    )
    bimodal_table, bimodal_goals, bimodal = _bimodal()
    data: dict[str, object] = {f"{name}@{d:g}": vars(stats) for (name, d), stats in results.items()}
    data["bimodal"] = bimodal
    return BenchResult(NAME, [table, bimodal_table], goals + bimodal_goals, data)


if __name__ == "__main__":
    result = run()
    emit(result.markdown())
    for goal in result.goals:
        emit(" | ".join(goal.row()))
