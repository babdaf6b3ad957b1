"""Every Python block of README.md and docs/ runs as written, against the emulator.

The blocks name real providers and placeholder keys (`sk-...`). Here every httpx transport
in the process answers from one in-process emulator that knows those keys, so a block runs
unchanged and nothing reaches the network; a block that starts a subprocess gets the same
emulator on a loopback port through `FLOWINVOKE_BASE_URL`, and a block that builds a
`RedisChannel` gets a real redis-server on a loopback port through `REDIS_URL`. See
tests/docs_examples.py for the marker comments (fragment, env, output, request).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from opentelemetry import trace as otel_trace

from flowinvoke import providers
from flowinvoke.testing import Emulator, LoopbackServer, Workflow, demo_emulator
from flowinvoke.webhooks import WebhookReceiver
from tests.docs_examples import Example, examples, unknown_markers

# The Redis tests' fixture starts a real redis-server on a loopback port.
from tests.test_webhooks_redis import redis_url  # noqa: F401

pytest_plugins = ["pytester"]

EXAMPLES = examples()
RUNNABLE = [example for example in EXAMPLES if not example.fragment]

# The placeholder keys the pages use, each a workflow of the emulator behind every transport.
PLACEHOLDER_WORKFLOWS = (
    Workflow(id="wf-docs", api_key="sk-...", polls=0),
    Workflow(id="wf-docs-other", api_key="sk-other-workflow", polls=1),
    Workflow(id="dify-docs", api_key="app-...", provider="dify", polls=1),
    Workflow(id="7428720442700000000", api_key="pat_...", provider="coze", polls=1),
)
# What a page tells the reader to have in the environment (FLOWINVOKE_API_KEY and friends).
DEFAULT_ENV = {
    "FLOWINVOKE_API_KEY": "sk-...",
    "FLOWINVOKE_PROVIDER": "gptbots",
    "FLOWINVOKE_WEBHOOK_KEY": "a-secret-shared-by-every-worker",
    "REDIS_URL": "redis://127.0.0.1:6379/0",  # a block that uses it gets a real server's
}
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
# A batch example reads its inputs from this file, as the page says.
INPUT_LINES = "".join(f'{{"question": "What is {word}?"}}\n' for word in ("tea", "coffee"))


def docs_emulator() -> Emulator:
    """The demo workflows (their keys are public) and one workflow per placeholder key."""
    emulator = demo_emulator(run_seconds=0.2)
    for workflow in PLACEHOLDER_WORKFLOWS:
        emulator.add_workflow(workflow)
    return emulator


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """Route every httpx transport of this process to one emulator (no socket is opened)."""
    emulator = docs_emulator()
    transport = emulator.transport()

    def handle(_self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        return transport.handle_request(request)

    async def handle_async(
        _self: httpx.AsyncHTTPTransport, request: httpx.Request
    ) -> httpx.Response:
        return await transport.handle_async_request(request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", handle)
    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", handle_async)
    monkeypatch.setattr(socket, "getaddrinfo", _loopback_only(socket.getaddrinfo))
    return emulator


def _loopback_only(resolve: Callable[..., Any]) -> Callable[..., Any]:
    """A name lookup that refuses every host but this machine: should a transport ever
    slip past the patch above, its request fails here instead of reaching the internet."""

    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in LOOPBACK_NAMES and not name.endswith(".localhost"):
            raise socket.gaierror(f"the docs' examples stay on loopback, not {name!r}")
        return resolve(host, *args, **kwargs)

    return lookup


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch directory as the working directory, with the files the pages read."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jsonl").write_text(INPUT_LINES, encoding="utf-8")
    for name in ("FLOWINVOKE_BASE_URL", "FLOWINVOKE_FAST_TRANSPORT", "FLOWINVOKE_REGION"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _set_env(monkeypatch: pytest.MonkeyPatch, example: Example) -> None:
    for name, value in {**DEFAULT_ENV, **example.env}.items():
        monkeypatch.setenv(name, value)
    # A block that runs the command line finds the venv's `flowinvoke`.
    bin_dir = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", bin_dir + os.pathsep + os.environ.get("PATH", ""))


def _run_script(example: Example, capsys: pytest.CaptureFixture[str]) -> str:
    code = compile(example.block.source, example.block.name, "exec")
    namespace: dict[str, Any] = {"__name__": "__main__"}
    with _process_globals_restored():
        exec(code, namespace)  # a script, as the reader would run it
        if example.request is not None:
            _serve_one_request(namespace["app"], *example.request)
        if isinstance(namespace.get("receiver"), WebhookReceiver):
            anyio.run(_listen_once, namespace["receiver"])
    return capsys.readouterr().out


async def _listen_once(receiver: WebhookReceiver) -> None:
    """A receiver a block builds starts listening, as in a worker's lifespan (with a
    channel, that connects to it), and stops."""
    async with receiver:
        pass


def _serve_one_request(app: Any, method: str, path: str, *params: str) -> None:
    """The web app a block defines answers the request its page describes, lifespan and
    all: a run through the app's flowinvoke client, its id and output in the answer."""
    query = dict(param.split("=", 1) for param in params)

    async def serve() -> httpx.Response:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://app") as web,
        ):
            return await web.request(method, path, params=query)

    answer = anyio.run(serve)
    assert answer.status_code == 200, answer.text
    assert answer.json()["run_id"], answer.text


@contextlib.contextmanager
def _process_globals_restored() -> Iterator[None]:
    """Undo what a script sets for its whole process: the root logger's configuration
    (`logging.basicConfig`), OpenTelemetry's global tracer provider and the providers it
    registers, which the other tests would otherwise meet."""
    registered = dict(providers._REGISTRY)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    provider = otel_trace._TRACER_PROVIDER
    set_once = otel_trace._TRACER_PROVIDER_SET_ONCE._done
    try:
        yield
    finally:
        providers._REGISTRY.clear()
        providers._REGISTRY.update(registered)
        root.handlers[:] = handlers
        root.setLevel(level)
        installed = otel_trace._TRACER_PROVIDER
        if installed is not provider:
            shutdown = getattr(installed, "shutdown", None)
            if shutdown is not None:
                shutdown()  # flush and stop its export thread while its output is open
            otel_trace._TRACER_PROVIDER = provider
            otel_trace._TRACER_PROVIDER_SET_ONCE._done = set_once


@pytest.mark.parametrize("example", RUNNABLE, ids=[e.block.name for e in RUNNABLE])
def test_example_runs(
    example: Example,
    request: pytest.FixtureRequest,
    workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _set_env(monkeypatch, example)
    if example.is_test_module:
        _run_test_module(example, request.getfixturevalue("pytester"))
        return
    emulator = request.getfixturevalue("served")
    if "RedisChannel(" in example.block.source:  # a real Redis, as the page's workers use
        monkeypatch.setenv("REDIS_URL", request.getfixturevalue("redis_url"))
    if "subprocess" in example.block.source:
        with LoopbackServer(emulator) as server:
            monkeypatch.setenv("FLOWINVOKE_BASE_URL", server.base_url)
            printed = _run_script(example, capsys)
    else:
        printed = _run_script(example, capsys)
    if example.output is not None:
        assert printed.splitlines() == example.output.splitlines()


def _run_test_module(example: Example, pytester: pytest.Pytester) -> None:
    """A page's test module, run by pytest as the user's suite would run it."""
    pytester.makepyfile(test_from_docs=example.block.source)
    options = ["-W", "error", "-p", "no:cacheprovider"]
    if importlib.util.find_spec("pytest_asyncio") is not None:  # silence its config warning
        options += ["-o", "asyncio_default_fixture_loop_scope=function"]
    # pytest cannot rewrite the asserts of modules this session imported: about us, not them.
    options += ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    result = pytester.runpytest_inprocess(*options)
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 1, result.stdout.str()
    assert set(outcomes) <= {"passed", "warnings"}, result.stdout.str()


def test_every_marker_is_understood() -> None:
    assert unknown_markers() == []


def test_most_blocks_run_and_fragments_are_few() -> None:
    """The count the docs promise: fragments are the exception (each one marked)."""
    fragments = [example.block.name for example in EXAMPLES if example.fragment]
    assert len(EXAMPLES) >= 50
    assert len(fragments) * 5 <= len(EXAMPLES), fragments


def test_the_collector_reads_markers_env_and_output(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Intro.\n\n<!-- example: fragment -->\n```python\nawait x\n```\n\n"
        "<!-- example: env A=1 B='two words' -->\n\n```python\nprint(1)\n```\n\n"
        "<!-- example: output -->\n```text\n1\n```\n\n"
        "- a list:\n\n  ```python\n  print(2)\n  ```\n",
        encoding="utf-8",
    )
    found = examples((page,))
    assert [e.fragment for e in found] == [True, False, False]
    assert found[1].env == {"A": "1", "B": "two words"}
    assert found[1].output == "1\n"
    assert found[2].block.source == "print(2)\n"
    assert unknown_markers((page,)) == []
    page.write_text("<!-- example: fragmnet -->\n```python\nx\n```\n", encoding="utf-8")
    assert unknown_markers((page,)) == ["page.md:1"]
