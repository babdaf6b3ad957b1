"""A GPTBots-shaped loopback server whose runs last a chosen time, for the learning benchmark.

The API key names the durations, so one server serves every scenario at once:

- `2.0` - every run lasts 2 s;
- `2.0~0.03` - each run lasts 2 s x a factor drawn uniformly from [0.97, 1.03];
- `1|6` - runs alternate: 1 s, 6 s, 1 s, ... (per key, in start order).

A key may carry a tag after `#` (`2.0~0.03#learning`) so that clients measuring different
schedules keep separate counters and workflow ids. A query answer for a finished run carries,
besides the usual fields (`workflowExecutionTime` included), `benchEnd` (the run's end on
this process's `time.monotonic()`, the same clock as the client's on Linux) and
`benchQueries` (how many queries this run received). Served by uvicorn, 127.0.0.1 only.

Run: `python benchmarks/timed_server.py --port 8125`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

HOST = "127.0.0.1"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


class Runs:
    """Every run started: its key, start, end and query count."""

    def __init__(self, seed: int = 20240601) -> None:
        self.dice = random.Random(seed)
        self.started: dict[str, int] = {}
        self.ends: dict[str, float] = {}
        self.starts: dict[str, float] = {}
        self.queries: dict[str, int] = {}
        self.keys: dict[str, str] = {}
        self.ids = itertools.count(1)

    def duration(self, key: str) -> float:
        spec = key.split("#", 1)[0]
        number = self.started.get(key, 0)
        self.started[key] = number + 1
        if "|" in spec:
            choices = [float(part) for part in spec.split("|")]
            return choices[number % len(choices)]
        base, _, spread = spec.partition("~")
        factor = self.dice.uniform(1 - float(spread), 1 + float(spread)) if spread else 1.0
        return float(base) * factor

    def invoke(self, key: str) -> dict[str, Any]:
        run_id = f"run-{next(self.ids)}"
        now = time.monotonic()
        self.starts[run_id] = now
        self.ends[run_id] = now + self.duration(key)
        self.queries[run_id] = 0
        self.keys[run_id] = key
        return {**_workflow(key), "workflowRunId": run_id, "status": "PENDING"}

    def query(self, run_id: str) -> tuple[int, dict[str, Any]]:
        if run_id not in self.ends:
            return 404, {"code": 40400, "message": "no such run"}
        self.queries[run_id] += 1
        body = {**_workflow(self.keys[run_id]), "workflowRunId": run_id}
        start, end = self.starts[run_id], self.ends[run_id]
        if time.monotonic() < end:
            return 200, {**body, "status": "RUNNING"}
        return 200, {
            **body,
            "status": "SUCCEED",
            "output": {"summary": "done"},
            "workflowExecutionTime": round((end - start) * 1000),
            "benchEnd": end,
            "benchQueries": self.queries[run_id],
        }


def _workflow(key: str) -> dict[str, Any]:
    return {"workflowId": f"wf-{key}", "workflowName": "timed", "workflowVersion": "1"}


def make_app(runs: Runs) -> Callable[[Scope, Any, Any], Awaitable[None]]:
    """The ASGI app: POST /v1/workflow/invoke and POST /v1/workflow/query/result."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message: Message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        key = headers.get(b"authorization", b"").decode().removeprefix("Bearer ")
        path = scope["path"]
        if path.endswith("/workflow/invoke"):
            status, answer = 200, runs.invoke(key)
        elif path.endswith("/workflow/query/result"):
            status, answer = runs.query(json.loads(body)["workflowRunId"])
        else:
            status, answer = 404, {"code": 40400, "message": "no such path"}
        payload = json.dumps(answer).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    return app


def main() -> None:
    """Serve until SIGINT."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    uvicorn.run(
        make_app(Runs()),
        host=HOST,
        port=port,
        log_level="warning",
        lifespan="off",
        access_log=False,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
