"""Draw the Performance page's charts from the benchmark suite's own results.

Why: a chart copied by hand goes stale the day the benchmark is run again; drawn from the
JSON the suite writes (`python benchmarks/run.py --only polling --only learning --json
benchmarks/results.json`), it shows exactly the figures of that run, and says its date.
Needs matplotlib (`pip install matplotlib`), which nothing else in the project uses.

Usage::

    python scripts/performance_charts.py [RESULTS.json]   # (re)write docs/perf-*.png

Charts, each from one benchmark:

- docs/perf-lag.png: median lag from a run's end to its detection, against the run's
  duration, per poll schedule (`polling`: computed from the schedules; `learning`:
  measured over loopback);
- docs/perf-queries.png: queries per run against the run's duration, the same way;
- docs/perf-batch.png: the batch of 2,000 runs x 2 s at 250 in flight, time against the
  ideal, per schedule (`learning`).
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DEFAULT_RESULTS = ROOT / "benchmarks" / "results.json"
GOAL_NAME = "goal: 15 % of d + 0.1 s"
# The same schedule keeps its colour in every chart (names as the benchmarks print them).
COLOURS = {"flowinvoke": "#3f51b5", "adaptive=False": "#9fa8da", "fixed": "#ef6c00"}
OTHER_COLOUR = "#2e7d32"
SIZE = (8.0, 3.6)


def colour(schedule: str) -> str:
    """A schedule's colour: flowinvoke's blues (dark: learning), fixed 1 s orange, api-core
    green. The polling benchmark computes the plain schedule (`PollPolicy().delays()` does
    not learn), so it gets the light blue of `adaptive=False`."""
    if "adaptive=False" in schedule or "x1.3" in schedule:  # the plain schedule, learning off
        return COLOURS["adaptive=False"]
    if schedule.startswith("flowinvoke"):
        return COLOURS["flowinvoke"]
    return COLOURS["fixed"] if schedule.startswith("fixed") else OTHER_COLOUR


def computed_by_schedule(
    polling: Mapping[str, Any],
) -> dict[str, list[tuple[float, dict[str, float]]]]:
    """The polling benchmark's `"<schedule>@<d>"` cells, grouped: schedule -> [(d, stats)]."""
    grouped: dict[str, list[tuple[float, dict[str, float]]]] = {}
    for cell, stats in polling["data"].items():
        schedule, _, duration = cell.rpartition("@")
        if not schedule:  # not a plain-schedule cell (the bimodal table's)
            continue
        grouped.setdefault(schedule, []).append((float(duration), stats))
    return {name: sorted(cells) for name, cells in grouped.items()}


def measured_by_schedule(
    learning: Mapping[str, Any],
) -> dict[str, list[tuple[float, float, float]]]:
    """The learning benchmark's warm scenarios: schedule -> [(duration, median lag, mean q)].

    A scenario's duration is the median of its runs' durations; the bimodal scenario counts
    as two (its 1 s runs and its 6 s runs); the cold scenario is left out (no schedule
    learns there, and it would hide the warm curve at 5 s).
    """
    grouped: dict[str, list[tuple[float, float, float]]] = {}
    for scenario, per_schedule in learning["data"]["scenarios"].items():
        if "cold" in scenario:
            continue
        for schedule, samples in per_schedule.items():
            for group in _modes(samples):
                duration = statistics.median(s["duration"] for s in group)
                lag = statistics.median(s["lag"] for s in group)
                queries = statistics.fmean(s["queries"] for s in group)
                grouped.setdefault(schedule, []).append((duration, lag, queries))
    return {name: sorted(points) for name, points in grouped.items()}


def _modes(samples: Sequence[Mapping[str, float]]) -> list[list[Mapping[str, float]]]:
    """Samples split where durations jump by more than 2 x (the bimodal scenario)."""
    ordered = sorted(samples, key=lambda s: s["duration"])
    groups: list[list[Mapping[str, float]]] = [[]]
    for sample in ordered:
        if groups[-1] and sample["duration"] > 2 * groups[-1][-1]["duration"]:
            groups.append([])
        groups[-1].append(sample)
    return [group for group in groups if group]


def _style(axes: Axes, title: str, ylabel: str) -> None:
    axes.set_title(title, fontsize=10)
    axes.set_xscale("log")
    axes.set_xlabel("run duration (s)")
    axes.set_ylabel(ylabel)
    axes.grid(True, which="both", alpha=0.3)


def _footer(figure: plt.Figure, results: Mapping[str, Any], names: str) -> None:
    """Which run drew the chart: the command, the date, and how busy the machine was."""
    machine = results["machine"]
    load = machine.get("load average at start (1/5/15 min)", "unknown").split(" / ")[0]
    figure.text(
        0.01,
        0.01,
        f"benchmarks/run.py --only {names}, {results['date']} ({results['mode']} run), "
        f"{machine.get('CPUs (os.cpu_count)', '?')} CPUs, load average {load} at the start",
        fontsize=7,
        color="#555555",
    )


def _against_duration(
    results: Mapping[str, Any], computed: str, measured: int, ylabel: str
) -> tuple[plt.Figure, Axes]:
    """Two panels of one measure against run duration, a line per schedule: `computed`
    names the polling benchmark's stat, `measured` the index in the learning points."""
    benchmarks = results["benchmarks"]
    figure, (left, right) = plt.subplots(1, 2, figsize=SIZE, sharey=True)
    for schedule, cells in computed_by_schedule(benchmarks["polling"]).items():
        xs, ys = [d for d, _ in cells], [stats[computed] for _, stats in cells]
        left.plot(xs, ys, "o-", color=colour(schedule), label=schedule)
    _style(left, "computed from the schedules", ylabel)
    left.set_yscale("log")
    for schedule, points in measured_by_schedule(benchmarks["learning"]).items():
        xs, ys = [p[0] for p in points], [p[measured] for p in points]
        right.plot(xs, ys, "o-", color=colour(schedule), label=schedule)
    _style(right, "measured over loopback, warm clients", "")
    right.legend(fontsize=6.5, loc="upper left")
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    _footer(figure, results, "polling --only learning")
    return figure, left


def draw_lag(results: Mapping[str, Any]) -> plt.Figure:
    figure, computed = _against_duration(results, "median_lag", 1, "median lag (s)")
    goal_x = [1.0, 300.0]
    computed.plot(goal_x, [0.15 * d + 0.1 for d in goal_x], "k--", linewidth=1, label=GOAL_NAME)
    computed.legend(fontsize=6.5, loc="upper left")
    return figure


def draw_queries(results: Mapping[str, Any]) -> plt.Figure:
    figure, computed = _against_duration(results, "mean_queries", 2, "queries per run (mean)")
    computed.legend(fontsize=6.5, loc="upper left")
    return figure


def draw_batch(results: Mapping[str, Any]) -> plt.Figure:
    batches = results["benchmarks"]["learning"]["data"]["batches"]
    figure, axes = plt.subplots(figsize=(SIZE[0], 2.6))
    names = [batch["schedule"] for batch in batches]
    walls = [batch["wall"] for batch in batches]
    bars = axes.barh(names, walls, color=[colour(name) for name in names])
    ideal = batches[0]["ideal"]
    axes.axvline(ideal, color="black", linewidth=1, label=f"ideal: {ideal:.0f} s")
    axes.axvline(
        1.15 * ideal, color="black", linestyle="--", linewidth=1, label="goal: 1.15 x ideal"
    )
    for bar, batch in zip(bars, batches, strict=True):
        axes.text(
            bar.get_width() + 0.2,
            bar.get_y() + bar.get_height() / 2,
            f"{batch['wall'] / batch['ideal']:.2f} x, {batch['queries_per_run']:.1f} q/run",
            va="center",
            fontsize=8,
        )
    axes.invert_yaxis()
    axes.set_xlim(0, max(walls) * 1.35)
    axes.set_xlabel("wall time (s) for 2,000 runs x 2 s at 250 in flight")
    axes.tick_params(axis="y", labelsize=8)
    axes.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    _footer(figure, results, "learning")
    return figure


def main(argv: Sequence[str]) -> int:
    path = Path(argv[0]) if argv else DEFAULT_RESULTS
    results = json.loads(path.read_text(encoding="utf-8"))
    for name, draw in (("lag", draw_lag), ("queries", draw_queries), ("batch", draw_batch)):
        figure = draw(results)
        out = DOCS / f"perf-{name}.png"
        figure.savefig(out, dpi=110, metadata={"Software": None})  # no version: stable bytes
        plt.close(figure)
        print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
