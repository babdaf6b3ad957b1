"""The generated `Client`: the same surface as `AsyncClient`, and safe in any thread."""

from __future__ import annotations

import importlib.util
import inspect
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from flowinvoke import AsyncClient, Client, WorkflowRun

from .policies import MILLISECOND_POLL
from .seed_bodies import GPTBOTS_ASYNC_ANSWER, gptbots_state

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "unasync.py"


def _unasync_text(text: str) -> str:
    spec = importlib.util.spec_from_file_location("unasync_for_parity", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    used = [0] * len(module.RULES)
    result: str = module.unasync(text, module.RULES, "src", used)
    return result


def _surface(cls: type) -> dict[str, Any]:
    names = {name for name in vars(cls) if not name.startswith("_")}
    names |= {"__aenter__", "__aexit__", "__enter__", "__exit__"} & set(vars(cls))
    return {name: getattr(cls, name) for name in names}


def test_the_public_surfaces_match_name_by_name_and_signature_by_signature() -> None:
    async_surface = _surface(AsyncClient)
    sync_surface = _surface(Client)
    expected = {_unasync_text(name) for name in async_surface}
    assert set(sync_surface) == expected
    assert {"invoke", "get_run", "wait", "watch", "run", "with_options", "close"} <= expected
    for name, member in async_surface.items():
        twin = sync_surface[_unasync_text(name)]
        if isinstance(member, property):
            assert isinstance(twin, property), name
            continue
        async_sig = inspect.signature(member)
        sync_sig = inspect.signature(twin)
        assert _unasync_text(str(async_sig)) == str(sync_sig), name
        assert _unasync_text(inspect.getdoc(member) or "") == (inspect.getdoc(twin) or ""), name
        is_async = inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member)
        assert is_async == (name not in ("with_options",)), name
        assert not inspect.iscoroutinefunction(twin), name
        assert not inspect.isasyncgenfunction(twin), name
    assert _unasync_text(inspect.getdoc(AsyncClient) or "") == inspect.getdoc(Client)


def _scripted_transport(calls: list[str]) -> httpx.MockTransport:
    lock = threading.Lock()
    polls: dict[str, int] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            calls.append(request.url.path)
            if request.url.path.endswith("/invoke"):
                run_id = f"run-{len(calls)}"
                return httpx.Response(200, json={**GPTBOTS_ASYNC_ANSWER, "workflowRunId": run_id})
            run_id = json.loads(request.content)["workflowRunId"]
            polls[run_id] = polls.get(run_id, 0) + 1
            status = "SUCCEED" if polls[run_id] >= 3 else "RUNNING"
            return httpx.Response(200, json=gptbots_state(status, run_id=run_id))

    return httpx.MockTransport(handler)


def test_one_client_shared_by_many_threads() -> None:
    calls: list[str] = []
    results: list[WorkflowRun] = []
    errors: list[BaseException] = []
    with Client(
        api_key="sk-1234", transport=_scripted_transport(calls), poll=MILLISECOND_POLL
    ) as client:

        def work() -> None:
            try:
                results.append(client.run({"a": 1}))
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert len(results) == 8
    assert all(run.succeeded for run in results)
    assert len({run.id for run in results}) == 8
    assert calls.count("/v1/workflow/invoke") == 8
    assert calls.count("/v1/workflow/query/result") == 24


@pytest.mark.anyio
async def test_the_sync_client_works_inside_a_running_event_loop() -> None:
    calls: list[str] = []
    with Client(
        api_key="sk-1234", transport=_scripted_transport(calls), poll=MILLISECOND_POLL
    ) as client:
        run = client.run({"a": 1})  # a blocking call from async code, as Jupyter makes it
    assert run.succeeded


def test_sync_on_update_must_be_a_plain_callable() -> None:
    async def on_update(run: WorkflowRun) -> None:  # pragma: no cover - never awaited
        pass

    with respx.mock:
        respx.post("https://api-sg.gptbots.ai/v1/workflow/query/result").respond(
            200, json=gptbots_state("SUCCEED")
        )
        with Client(api_key="sk-1234") as client, pytest.raises(TypeError, match="plain callable"):
            client.wait("run-42", on_update=on_update)


def test_the_sync_client_has_no_event_loop_or_thread_of_its_own() -> None:
    before = threading.active_count()
    with respx.mock:
        respx.post("https://api-sg.gptbots.ai/v1/workflow/query/result").respond(
            200, json=gptbots_state("SUCCEED")
        )
        with Client(api_key="sk-1234") as client:
            assert client.get_run("run-42").succeeded
            assert threading.active_count() == before
