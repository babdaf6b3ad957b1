"""One loopback server for the peers benchmark: the same timed runs behind three wire shapes.

Every client in `bench_peers.py` starts and waits on the same kind of run, each through its
own API, so that their lag, queries, CPU and memory can be set side by side:

- GPTBots (flowinvoke's default provider, and the hand-written httpx loops):
  `POST /v1/workflow/invoke` answers PENDING; `POST /v1/workflow/query/result` answers
  RUNNING, then SUCCEED with the output.
- Replicate's predictions API (replicate-python): `POST /v1/predictions` answers 201 with
  status `starting`; `GET /v1/predictions/{id}` answers `processing`, then `succeeded`.
- fal's queue API (fal-client): `POST /{owner}/{app}` answers the request id and the
  absolute `status_url`, `response_url` and `cancel_url`;
  `GET /{owner}/{app}/requests/{id}/status` answers `IN_PROGRESS` (202), then `COMPLETED`;
  `GET /{owner}/{app}/requests/{id}` answers the output. fal-client always speaks https to
  its queue host, so `--tls-port` (with `--certfile`, `--keyfile`) serves the same app over
  TLS for its submits; the URLs the submit answers name the plain port, so its polls are
  plain HTTP like every other client's.

The API key (whatever the wire's Authorization scheme: `Bearer`, `Token` or `Key`) names
how long a run lasts: `2.0` - two seconds from its start; `until:1234.5` - it ends at that
`time.monotonic()` (the same clock as the clients' on Linux), so that runs started over a
second or two end together. A finished run's output is `{"end": its end, "queries": the
requests it received after its start, this one included}`: the client computes its lag.

On SIGINT the server stops and prints the requests it counted, by wire and kind, as one JSON
line. 127.0.0.1 only.

Run: `python benchmarks/peers_server.py --port 8126`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

HOST = "127.0.0.1"
Scope = MutableMapping[str, Any]
Answer = tuple[int, dict[str, Any]]
_CREATED_AT = "2026-01-01T00:00:00.000000Z"


@dataclass
class Run:
    """One run: when it ends and how many requests asked about it."""

    run_id: str
    end: float
    queries: int = 0

    def ask(self) -> bool:
        """Count a query; True once the run has ended."""
        self.queries += 1
        return time.monotonic() >= self.end

    def output(self) -> dict[str, Any]:
        """What a finished run returns: its end and its query count."""
        return {"end": self.end, "queries": self.queries}


class Runs:
    """Every run started, and the requests counted by wire and kind."""

    def __init__(self) -> None:
        self.runs: dict[str, Run] = {}
        self.ids = itertools.count(1)
        self.counts: collections.Counter[str] = collections.Counter()
        self.by_key: collections.Counter[str] = collections.Counter()

    def start(self, key: str) -> Run:
        """A new run whose end the key names (`2.0` or `until:<monotonic time>`)."""
        now = time.monotonic()
        # A run started after the moment its key names ends as it starts.
        end = max(now, float(key[6:])) if key.startswith("until:") else now + float(key)
        run = Run(f"run-{next(self.ids)}", end)
        self.runs[run.run_id] = run
        return run


def gptbots(runs: Runs, method: str, path: str, body: bytes, key: str) -> Answer:
    """GPTBots' invoke and query/result, as flowinvoke's GPTBots provider calls them."""
    workflow = {"workflowId": "wf-peers", "workflowName": "peers", "workflowVersion": "1"}
    if path.endswith("/workflow/invoke") and method == "POST":
        runs.counts["gptbots invoke"] += 1
        run = runs.start(key)
        return 200, {**workflow, "workflowRunId": run.run_id, "status": "PENDING"}
    if path.endswith("/workflow/query/result") and method == "POST":
        runs.counts["gptbots query"] += 1
        run_id = json.loads(body).get("workflowRunId", "")
        found = runs.runs.get(run_id)
        if found is None:
            return 404, {"code": 40000, "message": "workflowRunId not found"}
        answer = {**workflow, "workflowRunId": run_id}
        if not found.ask():
            return 200, {**answer, "status": "RUNNING"}
        return 200, {**answer, "status": "SUCCEED", "output": found.output()}
    return 404, {"code": 40400, "message": "no such path"}


def _prediction(run: Run, status: str, base_url: str) -> dict[str, Any]:
    url = f"{base_url}/v1/predictions/{run.run_id}"
    done = status == "succeeded"
    return {
        "id": run.run_id,
        "model": "bench/peers",
        "version": "bench-version",
        "status": status,
        "input": {},
        "output": run.output() if done else None,
        "logs": "",
        "error": None,
        "metrics": {"predict_time": 0.0} if done else {},
        "created_at": _CREATED_AT,
        "started_at": _CREATED_AT,
        "completed_at": _CREATED_AT if done else None,
        "urls": {"get": url, "cancel": f"{url}/cancel"},
    }


def replicate(runs: Runs, method: str, path: str, key: str, base_url: str) -> Answer:
    """Replicate's `POST /v1/predictions` and `GET /v1/predictions/{id}`."""
    if path == "/v1/predictions" and method == "POST":
        runs.counts["replicate create"] += 1
        return 201, _prediction(runs.start(key), "starting", base_url)
    if method == "GET":
        runs.counts["replicate get"] += 1
        found = runs.runs.get(path.rsplit("/", 1)[-1])
        if found is None:
            return 404, {"detail": "Not found.", "status": 404}
        return 200, _prediction(found, "succeeded" if found.ask() else "processing", base_url)
    return 404, {"detail": "Not found.", "status": 404}


def fal(runs: Runs, method: str, path: str, key: str, base_url: str) -> Answer:
    """fal's queue: submit, status and result (the paths fal-client's handles use)."""
    parts = path.strip("/").split("/")
    if method == "POST" and len(parts) == 2:
        runs.counts["fal submit"] += 1
        run = runs.start(key)
        url = f"{base_url}/{parts[0]}/{parts[1]}/requests/{run.run_id}"
        return 200, {
            "status": "IN_QUEUE",
            "request_id": run.run_id,
            "response_url": url,
            "status_url": f"{url}/status",
            "cancel_url": f"{url}/cancel",
            "queue_position": 0,
        }
    if method == "GET" and len(parts) in (4, 5) and parts[2] == "requests":
        found = runs.runs.get(parts[3])
        if found is None:
            return 404, {"detail": "Request not found"}
        if len(parts) == 5:
            runs.counts["fal status"] += 1
            if not found.ask():
                return 202, {"status": "IN_PROGRESS", "logs": None, "request_id": found.run_id}
            return 200, {"status": "COMPLETED", "logs": None, "metrics": {}}
        runs.counts["fal result"] += 1
        found.queries += 1
        return 200, found.output()
    return 404, {"detail": "Not found"}


def make_app(runs: Runs, base_url: str) -> Callable[[Scope, Any, Any], Awaitable[None]]:
    """The ASGI app: each request goes to the wire its path belongs to."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        # The key after the scheme (`Bearer`, `Token`, `Key`): each client has its own.
        key = dict(scope["headers"]).get(b"authorization", b"").decode().rsplit(" ", 1)[-1]
        runs.by_key[key] += 1
        method, path = scope["method"], scope["path"]
        if path.startswith("/v1/workflow/"):
            status, answer = gptbots(runs, method, path, body, key)
        elif path.startswith("/v1/predictions"):
            status, answer = replicate(runs, method, path, key, base_url)
        else:
            status, answer = fal(runs, method, path, key, base_url)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(answer).encode()})

    return app


async def serve(options: argparse.Namespace) -> Runs:
    """Serve on the plain port (and the TLS port, if given) until SIGINT."""
    import uvicorn

    class Server(uvicorn.Server):
        """A uvicorn server that leaves SIGINT to `serve`, which stops both listeners."""

        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    runs = Runs()
    app = make_app(runs, f"http://{HOST}:{options.port}")
    common: dict[str, Any] = {
        "host": HOST,
        "log_level": "warning",
        "lifespan": "off",
        "access_log": False,
        "backlog": 4096,
    }
    configs = [uvicorn.Config(app, port=options.port, **common)]
    if options.tls_port:
        tls = {"ssl_certfile": options.certfile, "ssl_keyfile": options.keyfile}
        configs.append(uvicorn.Config(app, port=options.tls_port, **common, **tls))
    servers = [Server(config) for config in configs]

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop)
    await asyncio.gather(*(server.serve() for server in servers))
    return runs


def main() -> None:
    """Serve until SIGINT, then print the request counts as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls-port", type=int, default=0, help="also serve over TLS here")
    parser.add_argument("--certfile", default="", help="the TLS port's certificate (PEM)")
    parser.add_argument("--keyfile", default="", help="the TLS port's private key (PEM)")
    runs = asyncio.run(serve(parser.parse_args()))
    summary = {
        "requests": sum(runs.counts.values()),
        "by_kind": dict(runs.counts),
        "by_key": dict(runs.by_key),
    }
    sys.stdout.write(json.dumps(summary) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
