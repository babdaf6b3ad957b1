"""The pytest plugin, as a user's test suite meets it (run by pytester in a subprocess).

The plugin is registered through the `pytest11` entry point when flowinvoke is installed.
An editable install made before the entry point existed lacks it; then the plugin is named
with `-p`. Never both: pytest would refuse a plugin registered under two names.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util

import pytest

pytest_plugins = ["pytester"]

ENTRY_POINT = "flowinvoke"
PLUGIN = "flowinvoke.testing.pytest_plugin"


def _entry_point_installed() -> bool:
    return any(
        entry.name == ENTRY_POINT and entry.value == PLUGIN
        for entry in importlib.metadata.entry_points(group="pytest11")
    )


def run(pytester: pytest.Pytester, *, subprocess: bool = False) -> pytest.RunResult:
    """Run the user's suite with warnings as errors, like ours.

    In-process by default, for speed. There, pytest warns that it cannot rewrite the
    asserts of modules this session has imported already (the plugin, flowinvoke): that
    warning is about our session, not the user's, so it alone is let through.
    """
    options = ["-W", "error", "-p", "no:cacheprovider"]
    if not _entry_point_installed():
        options += ["-p", PLUGIN]
    if importlib.util.find_spec("pytest_asyncio") is not None:  # silence its config warning
        options += ["-o", "asyncio_default_fixture_loop_scope=function"]
    if subprocess:
        return pytester.runpytest_subprocess(*options)
    options += ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    return pytester.runpytest_inprocess(*options)


def test_sync_client_and_emulator_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from flowinvoke import Client, RunStatus
        from flowinvoke.testing import Emulator, Workflow


        def test_default_workflow(flowinvoke_client, flowinvoke_emulator):
            assert isinstance(flowinvoke_client, Client)
            assert isinstance(flowinvoke_emulator, Emulator)
            run = flowinvoke_client.run({"q": "hi"})
            assert run.status is RunStatus.SUCCEEDED
            assert run.output == {"echo": {"q": "hi"}}
            assert flowinvoke_emulator.run(run.id).queries == 2  # polls=1: two queries
            assert flowinvoke_emulator.counters.invokes_for_input({"q": "hi"}) == 1


        def test_own_workflow(flowinvoke_emulator):
            flowinvoke_emulator.add_workflow(
                Workflow(id="wf-mine", api_key="my-key", output={"answer": 42})
            )
            with flowinvoke_emulator.client("wf-mine") as client:
                assert client.invoke({}).output == {"answer": 42}


        def test_each_test_gets_a_fresh_emulator(flowinvoke_emulator):
            assert flowinvoke_emulator.counters.requests == 0
            assert [w for w in ("wf-test", "wf-mine") if _has(flowinvoke_emulator, w)] == [
                "wf-test"
            ]


        def _has(emulator, workflow_id):
            try:
                emulator.workflow(workflow_id)
            except KeyError:
                return False
            return True
        """
    )
    result = run(pytester, subprocess=True)  # once in a fresh interpreter, as users run it
    result.assert_outcomes(passed=3)


def test_async_client_fixture_under_anyio(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        from flowinvoke import AsyncClient, RunStatus


        @pytest.fixture(params=["asyncio", "trio"])
        def anyio_backend(request):
            return request.param


        @pytest.mark.anyio
        async def test_run(flowinvoke_async_client):
            assert isinstance(flowinvoke_async_client, AsyncClient)
            states = []
            run = await flowinvoke_async_client.run(
                {"q": 1}, on_update=lambda r: states.append(r.status)
            )
            assert run.status is RunStatus.SUCCEEDED
            assert states[-1] is RunStatus.SUCCEEDED


        @pytest.mark.anyio
        async def test_used_as_a_context_manager(flowinvoke_async_client):
            async with flowinvoke_async_client as client:
                assert (await client.invoke({"q": 2})).output == {"echo": {"q": 2}}
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=4)


def test_async_client_fixture_under_pytest_asyncio(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_asyncio")
    pytester.makepyfile(
        """
        import pytest


        @pytest.mark.asyncio
        async def test_run(flowinvoke_async_client):
            assert (await flowinvoke_async_client.run({"q": 3})).succeeded
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1)


def test_dify_and_coze_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        from flowinvoke import Client
        from flowinvoke.testing import Fault


        @pytest.fixture(params=["asyncio", "trio"])
        def anyio_backend(request):
            return request.param


        def test_dify(flowinvoke_dify_client, flowinvoke_emulator):
            assert isinstance(flowinvoke_dify_client, Client)
            run = flowinvoke_dify_client.run({"q": "hi"})
            assert run.succeeded and run.provider == "dify" and run.raw_status == "succeeded"
            assert flowinvoke_emulator.run(run.id).queries == 2  # the stream ended early


        def test_coze_survives_a_dropped_query(flowinvoke_coze_client, flowinvoke_emulator):
            flowinvoke_emulator.inject(Fault("disconnect", operation="query"))
            run = flowinvoke_coze_client.run({"q": "hi"})
            assert run.succeeded and run.output == {"echo": {"q": "hi"}}


        @pytest.mark.anyio
        async def test_async(flowinvoke_async_dify_client, flowinvoke_async_coze_client):
            assert (await flowinvoke_async_dify_client.run({"q": 1})).succeeded
            assert (await flowinvoke_async_coze_client.run({"q": 1})).succeeded
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=4)


def test_faults_through_the_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        from flowinvoke import APIConnectionError
        from flowinvoke.testing import Fault, RandomFaults


        def test_a_transient_503_is_survived(flowinvoke_emulator, flowinvoke_client):
            flowinvoke_emulator.inject(Fault("server_error", status=503, operation="query"))
            assert flowinvoke_client.run({"n": 1}).succeeded
            assert flowinvoke_emulator.counters.faults["server_error"] == 1


        def test_a_lost_start_is_never_repeated(flowinvoke_emulator, flowinvoke_client):
            flowinvoke_emulator.inject(Fault("disconnect", operation="invoke", processed=True))
            with pytest.raises(APIConnectionError) as caught:
                flowinvoke_client.run({"n": 2})
            assert caught.value.may_have_started
            assert flowinvoke_emulator.counters.invokes_for_input({"n": 2}) == 1


        def test_random_faults_with_a_seed(flowinvoke_emulator, flowinvoke_client):
            flowinvoke_emulator.set_random_faults(
                RandomFaults(rate=0.3, faults=[Fault("server_error", status=503)],
                             seed=7, operation="query")
            )
            runs = [flowinvoke_client.run({"n": n}) for n in range(10)]
            assert all(run.succeeded for run in runs)
            assert flowinvoke_emulator.counters.total_invokes == 10
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=3)


def test_the_entry_point_names_the_plugin_module() -> None:
    # An install without the entry point is the bug this test is for: users' suites would
    # silently lose the fixtures. Reinstall the checkout (`pip install -e .`) if it fails.
    assert _entry_point_installed(), "flowinvoke is installed without its pytest11 entry point"
    import flowinvoke.testing.pytest_plugin as plugin

    assert callable(plugin.flowinvoke_emulator)


def test_the_webhook_receiver_fixture(pytester: pytest.Pytester) -> None:
    pytest.importorskip("uvicorn")
    pytester.makepyfile(
        """
        from flowinvoke.testing import Emulator, Workflow


        def test_push(flowinvoke_webhook_receiver):
            emulator = Emulator([Workflow(id="wf", api_key="key", duration=0.1)])
            receiver = flowinvoke_webhook_receiver
            assert receiver.public_url.startswith("http://127.0.0.1:")
            with emulator.client("wf", webhook_receiver=receiver) as client:
                run = client.run({"q": 1}, timeout=30)
            assert run.succeeded
            assert emulator.counters.queries[run.id] == 1
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1)
