"""A real PostgreSQL server for the ledger's tests: initdb and pg_ctl in a temporary folder,
listening on a free loopback port, run as an unprivileged user (PostgreSQL refuses root).

`postgres_url()` starts one per test session and returns its URL; tests that need it skip,
saying why, only where the server's binaries are missing.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

_USER = "flowinvoke"


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_server_user() -> list[str]:
    """The prefix that runs a command as an unprivileged user when the tests run as root."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot start PostgreSQL unprivileged")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"]


@contextmanager
def postgres_server(*, fsync: bool = False) -> Iterator[str]:
    """Start a server; yield its URL; stop it and delete its folder. The tests run without
    fsync (they test logic, not durability); the benchmark with it."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL's initdb/pg_ctl are not installed (apt-get install postgresql)")
    prefix = _as_server_user()
    folder = Path(tempfile.mkdtemp(prefix="flowinvoke-pg-"))
    data = folder / "data"
    if prefix:
        os.chown(folder, 65534, 65534)
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C"}

    def run(*command: str, check: bool = True) -> None:
        subprocess.run([*prefix, *command], check=check, capture_output=True, env=env, cwd=folder)

    try:
        run(initdb, "-D", str(data), "-U", _USER, "--auth=trust", "-E", "UTF8")
        options = f"-h 127.0.0.1 -p {port} -k {folder} -c fsync={'on' if fsync else 'off'}"
        run(pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {exc.stderr.decode(errors='replace')}")
    try:
        yield f"postgresql://{_USER}@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(folder, ignore_errors=True)


def reset(url: str) -> None:
    """Drop the ledger's tables, so each test starts from an empty database."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS flowinvoke_runs, flowinvoke_meta")
