"""Development sessions: `nox` runs the ones CI runs (see README)."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["tests", "lint", "typecheck", "docs"]

ROOT = Path(__file__).parent
PROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
# The oldest and newest supported Pythons, and the machine's default one.
PYTHONS = ["3.10", "3.11", "3.13"]
# pytest-xdist workers: the suite spends much of its time waiting on sockets and child
# processes, so more workers than cores pay off (on 2 cores, 6 did best). Tests are handed
# out at most 4 at a time: xdist's first hand-out is otherwise a quarter of each worker's
# share in one block, so the long process tests, sorted first (tests/conftest.py), all went
# to one worker, which ran them for 84 s while the others were done at 51 s (one Python's
# suite: 94 to 100 s; handed out 4 at a time: 74 s).
XDIST = ["-n", "6", "--maxschedchunk", "4"]
# Line coverage is measured (and enforced) on one Python, the machine's default: tracing
# every line costs about as much CPU as the suite itself, and the code paths that differ
# between Pythons are few and tested on each.
COVERAGE_PYTHON = "3.11"


def _find_pyenv_interpreters() -> None:
    """Let nox find every pyenv-installed CPython on a fresh machine.

    pyenv's shims answer only for the versions `pyenv global` names, so nox would not see
    python3.10 or python3.13 there; their bin folders are put on PATH instead.
    """
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    folders = sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin")))
    if folders:
        os.environ["PATH"] = os.pathsep.join([*os.environ["PATH"].split(os.pathsep), *folders])


_find_pyenv_interpreters()


def _install(session: nox.Session, *groups: str) -> None:
    """Install the package with every extra, and the named dependency groups."""
    requirements = [
        req for group in groups for req in nox.project.dependency_groups(PROJECT, group)
    ]
    session.install(".[cli,emulator,fast,otel,postgres,redis,temporal]", *requirements)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite on asyncio and trio, in parallel; on `COVERAGE_PYTHON`, with line
    coverage of src/ enforced (the workers' coverage too: `patch = ["subprocess"]` in
    pyproject.toml).

    `nox -s tests -- -n 0` runs it in one process; other arguments go to pytest as well.
    """
    # Compile at install, as pip does (uv does not by default), and let Python cache
    # bytecode where the machine says not to: each of the suite's many interpreters (xdist
    # workers, command-line and worker processes) would otherwise compile every module it
    # imports again, all six workers the same modules at once on a fresh clone.
    session.env["UV_COMPILE_BYTECODE"] = "1"
    _install(session, "test")
    session.env["PYTHONDONTWRITEBYTECODE"] = ""
    if session.python != COVERAGE_PYTHON:
        session.run("pytest", *XDIST, *session.posargs)
        return
    session.env["COVERAGE_FILE"] = str(ROOT / f".coverage.{session.python}")
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", *XDIST, *session.posargs)
    session.run("coverage", "combine", "--quiet")
    session.run("coverage", "report")


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """The generated sync code is current; ruff check; ruff format --check; the import
    contracts of docs/architecture.md (layers, httpx in _transport/ only, no circles)."""
    session.install("-e", ".", *nox.project.dependency_groups(PROJECT, "lint"))
    session.run("python", "scripts/unasync.py", "--check")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session(python="3.11", default=False)
def generate(session: nox.Session) -> None:
    """Write src/flowinvoke/_sync/ and tests/_sync/ from their _async/ sources."""
    session.install(*nox.project.dependency_groups(PROJECT, "lint"))
    session.run("python", "scripts/unasync.py")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src/ (the generated sync code included)."""
    _install(session, "typecheck")
    session.run("mypy")


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the documentation with warnings as errors."""
    _install(session, "docs")
    session.env["NO_MKDOCS_2_WARNING"] = "1"
    session.run("mkdocs", "build", "--strict", "--site-dir", str(ROOT / "site"))


@nox.session(python="3.11", default=False)
def bench(session: nox.Session) -> None:
    """The benchmark suite (not part of CI): prints markdown tables, see docs/performance.md."""
    _install(session)
    session.run("python", "benchmarks/run.py", *session.posargs)
