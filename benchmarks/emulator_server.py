"""The flowinvoke emulator with the benchmark workflows, served by uvicorn on 127.0.0.1.

Uses `flowinvoke.testing.serve` (the `emulator` extra). On Ctrl-C (SIGINT) it shuts down
cleanly and prints the emulator's counters as one JSON line, which is how the batch
benchmark counts the requests the server received.

Run: `python benchmarks/emulator_server.py --port 8124`.

Workflows (GPTBots wire format):

- `bench-instant` (key `bench-key-instant`): finishes at once; the client CPU benchmark
  queries one of its runs.
- `bench-2s` (key `bench-key-2s`): an async run is RUNNING for 2 s of wall time, then
  SUCCEED; the batch benchmark runs it.
- `bench-pending` (key `bench-key-pending`): runs for an hour; the memory benchmark waits on
  10,000 of them.
- `bench-1.5s` (key `bench-key-1.5s`): RUNNING for 1.5 s, then SUCCEED; the webhooks
  benchmark's 100 runs at once, ended by the callbacks this process sends.
"""

from __future__ import annotations

import argparse
import json
import sys

from flowinvoke.testing import Emulator, Workflow, serve

HOST = "127.0.0.1"
WORKFLOWS = (
    Workflow(id="bench-instant", api_key="bench-key-instant", output={"summary": "done"}),
    Workflow(id="bench-2s", api_key="bench-key-2s", duration=2.0, output={"summary": "done"}),
    Workflow(id="bench-pending", api_key="bench-key-pending", duration=3600.0),
    Workflow(id="bench-1.5s", api_key="bench-key-1.5s", duration=1.5),
)


def main() -> None:
    """Serve until SIGINT, then print the counters."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    emulator = Emulator(WORKFLOWS)
    try:
        serve(emulator, host=HOST, port=port, log_level="warning")
    finally:
        counters = emulator.counters
        summary = {
            "requests": counters.requests,
            "by_operation": dict(counters.requests_by_operation),
            "runs_started": counters.total_invokes,
            "queries": sum(counters.queries.values()),
        }
        sys.stdout.write(json.dumps(summary) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
