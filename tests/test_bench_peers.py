"""The peers benchmark (benchmarks/bench_peers.py) runs end to end at a tiny scale.

flowinvoke and the hand-written httpx loop (their packages are the test group's; the
peers' own, in the `bench` group, are run by `python benchmarks/bench_peers.py --quick`,
not by the suite, which installs only the test group). Each client runs in
its own process against peers_server.py on loopback, as in the full benchmark; nothing here
asserts a timing, only that every run ended, was counted and has a lag to report.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench_peers() -> Iterator[ModuleType]:
    """The benchmark module, imported the way run.py imports it (benchmarks/ on the path)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import bench_peers

        yield bench_peers
    finally:
        sys.path.remove(str(BENCHMARKS))


def _tiny(module: ModuleType) -> object:
    return module.Scale(waits=4, seconds=0.3, repeats=1, batch=6, batch_seconds=0.3, concurrency=3)


def _check(module: ModuleType, peers: tuple[str, ...]) -> list[str]:
    """Run the benchmark for `peers`; check every run is counted; return the goals' names."""
    scale = _tiny(module)
    result = module.run(scale=scale, peers=peers)
    waits, batch = result.data["waits"], result.data["batch"]
    assert set(waits) == set(peers)
    assert set(batch) == set(peers) & set(module.BATCH_PEERS)
    for peer in peers:
        (outcome,) = waits[peer]
        assert (outcome["ok"], outcome["errors"]) == (4, {}), peer
        # Every run was started and queried at least once, and seen ended after its end.
        assert outcome["requests"] >= 2 * 4, peer
        assert outcome["lagged"] == 4, peer
        assert 0 <= outcome["lag"]["min"] <= outcome["lag"]["median"] <= outcome["lag"]["max"]
        assert outcome["cpu"] > 0, peer
        assert outcome["peak_rss_mb"] > 0, peer
    for peer, outcome in batch.items():
        assert (outcome["ok"], outcome["errors"]) == (6, {}), peer
        assert outcome["requests"] >= 2 * 6, peer
    waits_table, batch_table = result.tables
    assert [row[0] for row in waits_table.rows] == list(peers)
    assert [row[0] for row in batch_table.rows] == [p for p in peers if p in batch]
    return [goal.name.rsplit(": ", 1)[-1] for goal in result.goals]


def test_flowinvoke_the_httpx_loop_and_the_lag_yardstick(bench_peers: ModuleType) -> None:
    peers = ("flowinvoke", "httpx loop, httpx defaults", "raw httpx, told the end")
    assert _check(bench_peers, peers) == ["median lag, default transport"]


def test_the_goals_read_the_figures(bench_peers: ModuleType) -> None:
    """Lag per repetition on the default transport; CPU per request (and per run) against
    raw httpx's."""

    def outcome(lags: list[float], cpu: float, requests: int) -> object:
        return bench_peers.Outcome("x", len(lags), len(lags), {}, lags, 10.0, cpu, 50.0, requests)

    results = {
        "flowinvoke": [outcome([0.1, 0.2, 0.9], 1.1, 1000), outcome([0.4, 0.5, 0.6], 1.1, 1000)],
        "flowinvoke fast": [outcome([0.1], 0.7, 1000)],
        "raw httpx, flowinvoke's pool": [outcome([0.1], 1.0, 1000)],
        "raw httpx, told the end": [outcome([0.3, 0.4], 1.0, 1000), outcome([0.5], 1.0, 1000)],
    }
    goals = bench_peers.goals(bench_peers.Scale(repeats=2), results)
    assert [(goal.measured, goal.met) for goal in goals] == [
        ("0.20 s / 0.50 s (raw httpx told the end: 0.35 s / 0.50 s)", False),
        ("1.100 ms vs 1.000 ms (1.10 x; per run 0.37 x)", True),
        ("0.700 ms", True),
    ]
    results["raw httpx, flowinvoke's pool"] = [outcome([0.1], 0.9, 1000)]
    results["flowinvoke"] = [outcome([0.3], 1.2, 1000)]
    goals = bench_peers.goals(bench_peers.Scale(repeats=1), results)
    assert [goal.met for goal in goals] == [True, False, True]
