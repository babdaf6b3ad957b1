"""A process of the ledger's multi-process tests (and benchmarks): a client on a shared
ledger against an emulator on a loopback port.

    python tests/ledger_worker.py race LEDGER BASE_URL KEY COUNT CONCURRENCY
        run inputs {"n": 0..COUNT-1} with keys "k-<n>"; print one JSON line per input
    python tests/ledger_worker.py start LEDGER BASE_URL KEY COUNT CONCURRENCY
        the same, printing "started <n>" as each run id is recorded (the test kills it)
    python tests/ledger_worker.py resume LEDGER BASE_URL KEY COUNT CONCURRENCY
        resume(); print one JSON line per run it waited for
"""

from __future__ import annotations

import json
import sys
import threading

from flowinvoke import Client, PollPolicy, RetryPolicy

POLL = PollPolicy(initial_delay=0.05, multiplier=1.5, max_interval=0.25, jitter=0, timeout=120)
RETRY = RetryPolicy(initial_delay=0.01, max_delay=0.05)
_lock = threading.Lock()


def say(line: str) -> None:
    """One whole line (the blocking client's batch calls back from several threads)."""
    with _lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def main(mode: str, ledger: str, base_url: str, key: str, count: int, concurrency: int) -> None:
    options = {"api_key": key, "base_url": base_url, "poll": POLL, "retry": RETRY}
    with Client(ledger=ledger, max_connections=min(concurrency, 20), **options) as client:
        if mode == "resume":
            for item in client.resume(concurrency=concurrency):
                status = item.run.status.value if item.run else None
                say(json.dumps({"key": item.key, "status": status, "error": repr(item.error)}))
            return

        def started(index: int, run: object) -> None:
            if mode == "start":
                say(f"started {index}")

        items = client.as_completed(
            ({"n": n} for n in range(count)),
            key=lambda item: f"k-{item['n']}",
            concurrency=concurrency,
            on_start=started,
        )
        for item in items:
            run_id = item.run.id if item.run else None
            error = None if item.error is None else repr(item.error)
            say(json.dumps({"n": item.index, "run_id": run_id, "error": error}))


if __name__ == "__main__":
    mode, ledger, base_url, key, count, concurrency = sys.argv[1:7]
    main(mode, ledger, base_url, key, int(count), int(concurrency))
