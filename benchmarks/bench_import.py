"""Benchmark 5: the time `import flowinvoke` takes, against `import httpx, pydantic`.

Each statement runs in a fresh interpreter, alternating, 7 times each (3 in quick mode).
Two measures, medians of the runs:

- wall time of the whole `python -c` process, minus the median of `python -c pass`;
- the statement's own time, read with `time.perf_counter()` inside the process around it.

The second replaces `-X importtime`'s cumulative figure, which cannot see a module imported
through `importlib.import_module`: that is how pydantic's lazy `__init__` loads `BaseModel`
and how flowinvoke's loads its public names, so `-X importtime` would leave out most of
`from pydantic import BaseModel` and of `from flowinvoke import AsyncClient`.

`pydantic` imports lazily (its `__init__` defers `BaseModel` and the core until first use),
and so does `flowinvoke` (PEP 562): `import flowinvoke` loads neither client. The rows
`from flowinvoke import AsyncClient` / `Client` show what a program that calls `invoke`
loads; the row of flowinvoke's dependencies (`from pydantic import BaseModel` included)
is the scale for those.
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
    "AsyncClient": "from flowinvoke import AsyncClient",
    "Client": "from flowinvoke import Client",
    "httpx, pydantic": "import httpx, pydantic",
    "its dependencies": "import httpx, anyio, backoff; from pydantic import BaseModel",
    "bare interpreter": "pass",
}

#: The goal: `import flowinvoke` at most this many times `import httpx, pydantic` (issue 13).
GOAL_RATIO = 1.25

#: Builds clients one after another in one process: CPU per client after the first (which
#: pays for its imports and the process's one TLS context).
_BUILDS = (
    "import time\n"
    "from flowinvoke import AsyncClient, Client\n"
    "import httpx\n"
    "key = 'k' * 16\n"
    "makers = {{\n"
    "    'flowinvoke.AsyncClient': lambda: AsyncClient(provider='gptbots', api_key=key),\n"
    "    'flowinvoke.Client': lambda: Client(provider='gptbots', api_key=key),\n"
    "    'httpx.AsyncClient': httpx.AsyncClient,\n"
    "}}\n"
    "for name, make in makers.items():\n"
    "    make()\n"
    "    started = time.process_time()\n"
    "    for _ in range({count}):\n"
    "        make()\n"
    "    print(name, (time.process_time() - started) / {count})\n"
)


def client_builds(count: int) -> dict[str, float]:
    """CPU seconds per client built, after the first, for each kind of client."""
    lines = _python(_BUILDS.format(count=count)).splitlines()
    return {name: float(cpu) for name, cpu in (line.rsplit(" ", 1) for line in lines)}


def _python(code: str, env: dict[str, str] | None = None) -> str:
    """What a fresh interpreter running `code` prints."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=True, cwd=ROOT, env=env, text=True
    )
    return done.stdout


#: Runs `statement` between two clock reads (`time` is loaded at start-up: free to import).
_TIMED = (
    "from time import perf_counter as _start\n"
    "_started = _start()\n"
    "{statement}\n"
    "print(_start() - _started)"
)


def once(statement: str) -> tuple[float, float]:
    """(wall seconds of the process, seconds of the statement) in one fresh interpreter."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    started = time.perf_counter()
    printed = _python(_TIMED.format(statement=statement), env)
    wall = time.perf_counter() - started
    return wall, float(printed.split()[-1])


def _above_bare(wall: float, bare: float) -> float:
    """A statement's wall time beyond a bare interpreter's (one within the noise is 0)."""
    return max(wall - bare, 0.0)


def run(*, quick: bool = False) -> BenchResult:
    """Alternate the statements in fresh interpreters; report medians."""
    repeats = 3 if quick else 7
    emit(f"[{NAME}] {len(STATEMENTS)} statements x {repeats} fresh interpreters")
    walls: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    imports: dict[str, list[float]] = {name: [] for name in STATEMENTS}  # in-process times
    for statement in STATEMENTS.values():  # fill the bytecode cache and file cache
        once(statement)
    for _ in range(repeats):
        for name, statement in STATEMENTS.items():
            wall, own = once(statement)
            walls[name].append(wall)
            imports[name].append(own)
    bare = median(walls["bare interpreter"])
    table = Table(
        f"Import time (fresh interpreters, median of {repeats})",
        ["statement", "process wall", "wall - bare interpreter", "statement (in process)"],
        notes=[
            "`import pydantic` and `import flowinvoke` are lazy; the client rows and the "
            "dependencies row load what a call needs (pydantic's `BaseModel` included)",
            "bytecode is cached (PYTHONPYCACHEPREFIX in the temp folder, filled by a first "
            "untimed round), as for an installed package",
        ],
    )
    for name, statement in STATEMENTS.items():
        table.rows.append(
            [
                f"`{statement}`",
                f"{median(walls[name]) * 1000:.0f} ms",
                f"{_above_bare(median(walls[name]), bare) * 1000:.0f} ms",
                "-" if name == "bare interpreter" else f"{median(imports[name]) * 1000:.0f} ms",
            ]
        )
    theirs = median(imports["httpx, pydantic"])
    theirs_wall = median(walls["httpx, pydantic"]) - bare

    def ratios(name: str) -> str:
        ours = median(imports[name])
        ours_wall = _above_bare(median(walls[name]), bare)
        return (
            f"{ours / theirs:.2f} x in process ({ours * 1000:.0f} vs {theirs * 1000:.0f} ms), "
            f"{ours_wall / theirs_wall:.2f} x by wall time"
        )

    goals = [
        Goal(
            "`import flowinvoke` vs `import httpx, pydantic`",
            f"<= {GOAL_RATIO} x",
            f"{ratios('flowinvoke')}; not the goal, `from flowinvoke import AsyncClient` "
            f"(what `invoke` needs): {ratios('AsyncClient')}",
            median(imports["flowinvoke"]) <= GOAL_RATIO * theirs
            and median(walls["flowinvoke"]) - bare <= GOAL_RATIO * theirs_wall,
        )
    ]
    builds = client_builds(20 if quick else 200)
    built = Table(
        "Building a client (one process, CPU per client after the first)",
        ["client", "CPU per client"],
        notes=[
            "httpx loads the CA bundle into a new TLS context for each client it builds a "
            "transport for; the clients flowinvoke builds share one per process",
        ],
    )
    built.rows.extend([f"`{name}()`", f"{cpu * 1000:.2f} ms"] for name, cpu in builds.items())
    data = {"walls": walls, "in_process": imports, "client_builds": builds}
    return BenchResult(NAME, [table, built], goals, data)


if __name__ == "__main__":
    result = run(quick=True)
    emit(result.markdown())
    for goal in result.goals:
        emit(" | ".join(goal.row()))
