"""Benchmark 7: polling that learns run durations, against runs that last a chosen time.

Real loopback: `timed_server.py` (uvicorn, a subprocess) serves GPTBots-shaped runs whose
durations the API key names. For each scenario, one `AsyncClient` per schedule runs `warm`
runs first (all at once; only the learning schedule learns anything from them), then
`measured` runs all at once. For each measured run:

- lag: from the run's end (the server's `time.monotonic()`, the same clock as the client's
  on Linux) to the moment `client.run` returned;
- queries: how many queries the server received for that run.

Schedules: flowinvoke's default (learning), the same without learning
(`PollPolicy(adaptive=False)`: the schedule before learning existed), fixed 1 s polling, and
google api-core's 1 s x1.5 up to 20 s (without its jitter). Then a batch: `run_many` of
2,000 runs x 2 s at 250 in flight, once per schedule, against the ideal 16 s.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

from _common import BenchResult, Goal, Table, emit, percentile, server_process

from flowinvoke import AsyncClient, PollPolicy

NAME = "learning"

SCHEDULES: dict[str, PollPolicy] = {
    "flowinvoke default (learning)": PollPolicy(),
    "flowinvoke adaptive=False (the old default)": PollPolicy(adaptive=False),
    "fixed 1 s": PollPolicy(
        initial_delay=1.0, multiplier=1.0, max_interval=1.0, jitter=0, adaptive=False
    ),
    "google api-core (1 s x1.5 to 20 s)": PollPolicy(
        initial_delay=1.0, multiplier=1.5, max_interval=20.0, jitter=0, adaptive=False
    ),
}
LEARNING = next(iter(SCHEDULES))


@dataclass(frozen=True)
class Scenario:
    """Runs of one kind: the key names their durations (see timed_server.py)."""

    name: str
    key: str
    warm: int
    measured: int
    modes: tuple[float, ...] = ()  # bimodal: report each mode apart


SCENARIOS = (
    Scenario("2 s +/-3 %, after 8 finished", "2.0~0.03", 8, 40),
    Scenario("20 s +/-3 %, after 3 finished", "20.0~0.03", 3, 20),
    Scenario("5 s +/-20 %, cold client", "5.0~0.2", 0, 40),
    Scenario("1 s / 6 s alternating, after 8 finished", "1|6", 8, 40, modes=(1.0, 6.0)),
)


@dataclass
class Sample:
    """One measured run."""

    duration: float
    lag: float
    queries: int


async def _runs(client: AsyncClient, count: int) -> list[Sample]:
    async def one(index: int) -> Sample:
        run = await client.run({"item": index}, timeout=300.0)
        returned = time.monotonic()
        raw = run.raw
        duration = run.duration.total_seconds() if run.duration else 0.0
        return Sample(duration, returned - raw["benchEnd"], int(raw["benchQueries"]))

    return list(await asyncio.gather(*(one(index) for index in range(count))))


async def _scenario(base_url: str, scenario: Scenario, scale: int) -> dict[str, list[Sample]]:
    async def per_schedule(name: str, policy: PollPolicy) -> tuple[str, list[Sample]]:
        key = f"{scenario.key}#{name}"
        async with AsyncClient(api_key=key, base_url=base_url, poll=policy) as client:
            if scenario.warm and policy.adaptive:
                await _runs(client, scenario.warm)
            elif scenario.warm:
                await asyncio.sleep(max(_longest(scenario), 1.0) * 1.2)  # start together
            return name, await _runs(client, max(2, scenario.measured // scale))

    done = await asyncio.gather(*(per_schedule(n, p) for n, p in SCHEDULES.items()))
    return dict(done)


def _longest(scenario: Scenario) -> float:
    spec = scenario.key.split("#")[0]
    if "|" in spec:
        return max(float(part) for part in spec.split("|"))
    base, _, spread = spec.partition("~")
    return float(base) * (1 + float(spread or 0))


@dataclass
class BatchOutcome:
    """One batch of runs on one schedule."""

    schedule: str
    wall: float
    ideal: float
    queries_per_run: float
    errors: int


async def _batch(base_url: str, name: str, runs: int, concurrency: int) -> BatchOutcome:
    key = f"2.0#batch-{name}"
    async with AsyncClient(api_key=key, base_url=base_url, poll=SCHEDULES[name]) as client:
        started = time.perf_counter()
        items = await client.run_many(
            ({"item": index} for index in range(runs)), concurrency=concurrency, timeout=120.0
        )
        wall = time.perf_counter() - started
    queries = [int(item.run.raw["benchQueries"]) for item in items if item.ok and item.run]
    errors = sum(1 for item in items if not item.ok)
    ideal = runs / concurrency * 2.0
    return BatchOutcome(name, wall, ideal, statistics.fmean(queries or [0]), errors)


def _row(label: str, name: str, samples: list[Sample]) -> list[str]:
    lags = [sample.lag for sample in samples]
    queries = [sample.queries for sample in samples]
    return [
        label,
        name,
        str(len(samples)),
        f"{statistics.median(lags):.3f} s",
        f"{percentile(lags, 0.9):.3f} s",
        f"{statistics.median(queries):g}",
        f"{statistics.fmean(queries):.1f}",
    ]


def run(*, quick: bool = False) -> BenchResult:
    """Every scenario with every schedule, then the batch with every schedule."""
    scale = 4 if quick else 1
    runs, concurrency = (250, 125) if quick else (2000, 250)
    results: dict[str, dict[str, list[Sample]]] = {}
    batches: list[BatchOutcome] = []
    with server_process("timed_server.py") as server:
        for scenario in SCENARIOS:
            if quick and scenario.warm == 3:
                continue  # the 20 s runs take 45 s
            emit(f"[{NAME}] {scenario.name}: {len(SCHEDULES)} schedules at once")
            results[scenario.name] = asyncio.run(_scenario(server.base_url, scenario, scale))
        for name in SCHEDULES:
            emit(f"[{NAME}] batch {runs} x 2 s at {concurrency} in flight: {name}")
            batches.append(asyncio.run(_batch(server.base_url, name, runs, concurrency)))
    table = Table(
        "Learning: lag from a run's end to `run()` returning, and queries per run "
        "(real loopback, runs started together)",
        ["runs", "schedule", "measured", "median lag", "p90 lag", "median queries", "mean"],
        notes=[
            "timed_server.py under uvicorn in a subprocess; durations drawn by the server",
            "warm-up runs go first, all at once; the schedules of a scenario run side by side",
            "lag includes the last query's round trip and the client's own scheduling",
        ],
    )
    goals: list[Goal] = []
    for scenario in SCENARIOS:
        if scenario.name not in results:
            continue
        for name, samples in results[scenario.name].items():
            if scenario.modes:
                for mode in scenario.modes:
                    chosen = [s for s in samples if abs(s.duration - mode) < 0.5]
                    table.rows.append(_row(f"{scenario.name}: the {mode:g} s runs", name, chosen))
            else:
                table.rows.append(_row(scenario.name, name, samples))
        goals += _goals(scenario, results[scenario.name][LEARNING])
    batch_table = Table(
        f"Learning: batch of {runs} runs x 2 s at {concurrency} in flight (real loopback)",
        ["schedule", "wall", "ideal", "wall / ideal", "queries / run", "errors"],
        notes=["httpx's own transport (the default; the fast one is opt-in)"],
    )
    for outcome in batches:
        batch_table.rows.append(
            [
                outcome.schedule,
                f"{outcome.wall:.1f} s",
                f"{outcome.ideal:.1f} s",
                f"{outcome.wall / outcome.ideal:.2f} x",
                f"{outcome.queries_per_run:.1f}",
                str(outcome.errors),
            ]
        )
    learning = batches[0]
    goals.append(
        Goal(
            f"learning: {runs} x 2 s at {concurrency} in flight",
            "<= 1.15 x ideal, 0 errors",
            f"{learning.wall / learning.ideal:.2f} x, {learning.errors} errors",
            learning.wall <= 1.15 * learning.ideal and learning.errors == 0,
        )
    )
    data = {
        "scenarios": {
            scenario: {name: [vars(s) for s in samples] for name, samples in per.items()}
            for scenario, per in results.items()
        },
        "batches": [vars(outcome) for outcome in batches],
    }
    return BenchResult(NAME, [table, batch_table], goals, data)


def _goals(scenario: Scenario, samples: list[Sample]) -> list[Goal]:
    lags = [s.lag for s in samples]
    queries = statistics.median(s.queries for s in samples)
    if scenario.modes:
        goals = []
        for mode in scenario.modes:
            chosen = [s for s in samples if abs(s.duration - mode) < 0.5]
            lag = statistics.median(s.lag for s in chosen)
            bound = 0.15 * mode + 0.1
            goals.append(
                Goal(
                    f"learning, bimodal: median lag of the {mode:g} s runs",
                    f"<= {bound:.2f} s",
                    f"{lag:.3f} s",
                    lag <= bound,
                )
            )
        # The long mode pays for the gap: it must be crossed, not polled through.
        longest = [s.queries for s in samples if abs(s.duration - max(scenario.modes)) < 0.5]
        median = statistics.median(longest)
        goals.append(
            Goal(
                f"learning, bimodal: queries for the {max(scenario.modes):g} s runs",
                "median <= 7",
                f"median {median:g}, mean {statistics.fmean(longest):.1f}",
                median <= 7,
            )
        )
        return goals
    base = float(scenario.key.split("~")[0])
    lag = statistics.median(lags)
    if scenario.warm == 0:
        bound = 0.15 * base + 0.1
        return [
            Goal(
                f"learning, {scenario.name}",
                f"median lag <= {bound:.2f} s",
                f"{lag:.3f} s",
                lag <= bound,
            )
        ]
    lag_bound, query_bound = (0.15, 4) if base < 10 else (1.05, 6)
    return [
        Goal(
            f"learning, {scenario.name}",
            f"median lag <= {lag_bound} s, median queries <= {query_bound}",
            f"{lag:.3f} s, {queries:g} queries",
            lag <= lag_bound and queries <= query_bound,
        )
    ]


if __name__ == "__main__":
    result = run(quick=True)
    emit(result.markdown())
    for goal in result.goals:
        emit(" | ".join(goal.row()))
