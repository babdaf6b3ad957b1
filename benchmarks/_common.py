"""Shared helpers of the benchmark suite: results, tables, server subprocesses, CPU clocks.

Nothing here is part of flowinvoke; the suite is run with `python benchmarks/run.py`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HOST = "127.0.0.1"
#: Where child interpreters cache bytecode (PYTHONPYCACHEPREFIX): an installed package has its
#: .pyc files, so compiling from source on every run would skew time and memory alike; and
#: nothing is written into src/ or site-packages.
PYCACHE = os.path.join(tempfile.gettempdir(), "flowinvoke-bench-pycache")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclasses.dataclass
class Table:
    """One markdown table: a title, column names, rows of cells, and notes below it."""

    title: str
    columns: list[str]
    rows: list[list[str]] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    def markdown(self) -> str:
        """The table as GitHub-flavoured markdown, notes after it."""
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append("|" + "|".join("---" for _ in self.columns) + "|")
        lines.extend("| " + " | ".join(row) + " |" for row in self.rows)
        if self.notes:
            lines.append("")
            lines.extend(f"- {note}" for note in self.notes)
        return "\n".join(lines) + "\n"


@dataclasses.dataclass
class Goal:
    """A target the project set itself, and whether this run met it."""

    name: str
    target: str
    measured: str
    met: bool

    def row(self) -> list[str]:
        """A row of the goals table."""
        return [self.name, self.target, self.measured, "met" if self.met else "**missed**"]


@dataclasses.dataclass
class BenchResult:
    """What one benchmark returns: its tables, its goals and its raw numbers."""

    name: str
    tables: list[Table]
    goals: list[Goal] = dataclasses.field(default_factory=list)
    data: dict[str, Any] = dataclasses.field(default_factory=dict)

    def markdown(self) -> str:
        """Every table of the benchmark, in order."""
        return "\n".join(table.markdown() for table in self.tables)


def results_json(
    stamp: str, mode: str, machine: Table, results: Sequence[BenchResult]
) -> dict[str, Any]:
    """A run's results as one JSON-able document: when, where, and each benchmark's tables,
    goals and raw numbers (`data`), which scripts/performance_charts.py draws."""
    return {
        "date": stamp,
        "mode": mode,
        "machine": dict(row for row in machine.rows if len(row) == 2),
        "benchmarks": {result.name: dataclasses.asdict(result) for result in results},
    }


def emit(text: str) -> None:
    """Print a line of benchmark output (flushed, so progress shows in a pipe)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def ms(seconds: float) -> str:
    """Seconds as milliseconds with two decimals."""
    return f"{seconds * 1000:.2f} ms"


def median(values: Sequence[float]) -> float:
    """The median (0.0 for no values)."""
    return statistics.median(values) if values else 0.0


def percentile(values: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile by the nearest-rank rule."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of another process (psutil if installed, else /proc)."""
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        # Fields after the command name: state is [0], utime [11], stime [12].
        return (int(fields[11]) + int(fields[12])) / _TICKS
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Return once something accepts connections on `port`; raise if the process died."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if process.poll() is not None:
            msg = f"the server process exited with code {process.returncode}"
            raise RuntimeError(msg)
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    msg = f"no server on {HOST}:{port} after {timeout} s"
    raise RuntimeError(msg)


@dataclasses.dataclass
class ServerProcess:
    """A benchmark server running in its own process (its CPU is not the client's)."""

    process: subprocess.Popen[bytes]
    port: int
    output: bytes = b""

    @property
    def base_url(self) -> str:
        """The server's URL."""
        return f"http://{HOST}:{self.port}"

    def cpu(self) -> float:
        """CPU seconds the server process has used so far."""
        return process_cpu(self.process.pid)


@contextmanager
def server_process(script: str, *args: str) -> Iterator[ServerProcess]:
    """Run `benchmarks/<script> --port N *args` in a subprocess until the block ends.

    The server is stopped with SIGINT (a clean shutdown) and killed if it lingers; what it
    printed is in `output` afterwards.
    """
    port = free_port()
    command = [sys.executable, str(HERE / script), "--port", str(port), *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=ROOT)
    server = ServerProcess(process, port)
    try:
        wait_for_port(port, process)
        yield server
    finally:
        server.output = stop_process(process)


def stop_process(process: subprocess.Popen[bytes], grace: float = 15.0) -> bytes:
    """Stop a server we started (SIGINT, then SIGKILL after `grace`); return its stdout."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        out, _ = process.communicate(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return out or b""


def last_json_line(output: bytes) -> dict[str, Any]:
    """The last line of a process's output that parses as a JSON object."""
    for raw in reversed(output.decode(errors="replace").splitlines()):
        line = raw.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return {}
