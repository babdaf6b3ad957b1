"""Benchmark 5: the time `import flowinvoke` takes, against `import httpx, pydantic`.

Each statement runs in a fresh interpreter (`python -X importtime -c ...`), alternating, 7
times each (3 in quick mode). Two measures, medians of the runs:

- wall time of the whole `python -c` process, minus the median of `python -c pass`;
- the cumulative import time `-X importtime` reports for the statement's top-level modules
  (the interpreter's own start-up imports excluded).

`pydantic` imports lazily (its `__init__` defers `BaseModel` and the core until first use),
so `import httpx, pydantic` is close to httpx alone; a third row imports what flowinvoke
itself needs of its dependencies (`from pydantic import BaseModel` included), for scale.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from _common import PYCACHE, ROOT, BenchResult, Goal, Table, emit, median

NAME = "import"

STATEMENTS = {
    "flowinvoke": "import flowinvoke",
    "httpx, pydantic": "import httpx, pydantic",
    "its dependencies": "import httpx, anyio, backoff; from pydantic import BaseModel",
    "bare interpreter": "pass",
}


def once(statement: str) -> tuple[float, float]:
    """(wall seconds, summed top-level cumulative import seconds) of one fresh interpreter."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        capture_output=True,
        check=True,
        cwd=ROOT,
        env=env,
        text=True,
    )
    wall = time.perf_counter() - started
    return wall, _top_level_cumulative(done.stderr, statement)


def _top_level_cumulative(report: str, statement: str) -> float:
    """Sum the cumulative microseconds of the statement's top-level imports."""
    wanted = {
        name.strip().split(".")[0]
        for part in statement.replace(";", ",").split(",")
        for name in [part.replace("import", " ").split()[-1] if "import" in part else ""]
        if name
    }
    if "from pydantic" in statement:
        wanted.add("pydantic")
    total = 0.0
    for line in report.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if name.startswith(" ") and not name.startswith("  ") and name.strip() in wanted:
            total += int(cumulative) / 1e6
    return total


def run(*, quick: bool = False) -> BenchResult:
    """Alternate the statements in fresh interpreters; report medians."""
    repeats = 3 if quick else 7
    emit(f"[{NAME}] {len(STATEMENTS)} statements x {repeats} fresh interpreters")
    walls: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    imports: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    for statement in STATEMENTS.values():  # fill the bytecode cache and file cache
        once(statement)
    for _ in range(repeats):
        for name, statement in STATEMENTS.items():
            wall, cumulative = once(statement)
            walls[name].append(wall)
            imports[name].append(cumulative)
    bare = median(walls["bare interpreter"])
    table = Table(
        f"Import time (fresh interpreters, median of {repeats})",
        ["statement", "process wall", "wall - bare interpreter", "-X importtime cumulative"],
        notes=[
            "pydantic's `import pydantic` is lazy; the third row forces `BaseModel`",
            "bytecode is cached (PYTHONPYCACHEPREFIX in the temp folder, filled by a first "
            "untimed round), as for an installed package",
        ],
    )
    for name, statement in STATEMENTS.items():
        table.rows.append(
            [
                f"`{statement}`",
                f"{median(walls[name]) * 1000:.0f} ms",
                f"{(median(walls[name]) - bare) * 1000:.0f} ms",
                "-" if name == "bare interpreter" else f"{median(imports[name]) * 1000:.0f} ms",
            ]
        )
    ours = median(imports["flowinvoke"])
    theirs = median(imports["httpx, pydantic"])
    ours_wall = median(walls["flowinvoke"]) - bare
    theirs_wall = median(walls["httpx, pydantic"]) - bare
    goals = [
        Goal(
            "`import flowinvoke` vs `import httpx, pydantic`",
            "<= 1.3 x",
            f"{ours / theirs:.2f} x by -X importtime ({ours * 1000:.0f} vs "
            f"{theirs * 1000:.0f} ms); {ours_wall / theirs_wall:.2f} x by wall time",
            ours <= 1.3 * theirs,
        )
    ]
    data = {"walls": walls, "importtime": imports}
    return BenchResult(NAME, [table], goals, data)


if __name__ == "__main__":
    result = run(quick=True)
    emit(result.markdown())
    emit(" | ".join(result.goals[0].row()))
