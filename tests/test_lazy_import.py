"""`import flowinvoke` is cheap: public names load on first use (PEP 562), and a client loads
only what its calls need. Each check runs in a fresh interpreter, where `sys.modules` tells
what an import really loaded."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import flowinvoke

#: Loaded by `import flowinvoke` before this change; none is needed to read a version or to
#: reach one public name.
HEAVY = [
    "anyio",
    "httpx",
    "httpcore",
    "logging",
    "pydantic",
    "pydantic.main",
    "typing",
    "flowinvoke._async.client",
    "flowinvoke._sync.client",
    "flowinvoke._core.errors",
    "flowinvoke._core.models",
    "flowinvoke._observe.observers",
    "flowinvoke.providers",
]

#: What a GPTBots client never needs: the other platforms, streams, webhooks, the emulator,
#: the command line, and the blocking twin.
NOT_FOR_A_GPTBOTS_CLIENT = [
    "flowinvoke.providers.aitutor",
    "flowinvoke.providers.coze",
    "flowinvoke.providers.dify",
    "flowinvoke.providers._sse",
    "flowinvoke.webhooks",
    "flowinvoke.testing",
    "flowinvoke.cli",
    "flowinvoke._sync.client",
]


def fresh(code: str) -> object:
    """Run `code` in a new interpreter and return what it assigned to `result` (as JSON);
    `loaded()` there names the modules imported since it started."""
    prelude = textwrap.dedent(
        """
        import json, sys
        _before = set(sys.modules)
        def loaded():
            return sorted(set(sys.modules) - _before)
        """
    )
    script = prelude + textwrap.dedent(code) + "\nprint(json.dumps(result))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_import_flowinvoke_loads_no_client_no_model_and_no_dependency() -> None:
    result = fresh(
        """
        import flowinvoke
        version = flowinvoke.__version__
        result = [version, loaded()]
        """
    )
    assert isinstance(result, list)
    version, loaded = result
    assert version == flowinvoke.__version__
    assert sorted(set(HEAVY) & set(loaded)) == []


def test_a_gptbots_client_loads_neither_other_providers_nor_webhooks_nor_the_emulator() -> None:
    loaded = fresh(
        """
        from flowinvoke import AsyncClient
        imported = loaded()
        AsyncClient(api_key="key-123456")
        result = {"import": imported, "client": loaded()}
        """
    )
    assert isinstance(loaded, dict)
    assert "pydantic.main" in loaded["import"]  # a call returns a WorkflowRun: no cheating
    # httpx itself imports httpcore only when a transport is built; so does flowinvoke.
    assert "httpcore" not in loaded["import"]
    assert "httpcore" in loaded["client"]
    assert "flowinvoke.providers.gptbots" in loaded["client"]
    assert sorted(set(NOT_FOR_A_GPTBOTS_CLIENT) & set(loaded["client"])) == []


def test_each_public_name_loads_on_first_use_and_is_its_home_modules_object() -> None:
    result = fresh(
        """
        import importlib
        import flowinvoke
        result = []
        for name in flowinvoke.__all__:
            if name == "__version__":
                continue
            held_before = name in vars(flowinvoke)
            value = getattr(flowinvoke, name)
            # A class or function names its module; a constant's home is the lazy table's.
            module = getattr(value, "__module__", None) or flowinvoke._HOMES[name]
            home = importlib.import_module(module, "flowinvoke")
            held_after = name in vars(flowinvoke)
            result.append([name, held_before, value is getattr(home, name), held_after])
        """
    )
    assert isinstance(result, list)
    assert len(result) == len(flowinvoke.__all__) - 1
    for name, held_before, same, held_after in result:
        assert (name, held_before, same, held_after) == (name, False, True, True)


def test_star_import_binds_every_public_name() -> None:
    result = fresh(
        """
        import flowinvoke
        untouched = not {"AsyncClient", "Client", "WorkflowRun"} & set(vars(flowinvoke))
        namespace = {}
        exec("from flowinvoke import *", namespace)
        result = [untouched, sorted(set(flowinvoke.__all__) - set(namespace))]
        """
    )
    assert result == [True, []]


def test_dir_lists_every_public_name_without_importing_it() -> None:
    result = fresh(
        """
        import flowinvoke
        listed = dir(flowinvoke)
        result = [listed, "flowinvoke._async.client" in sys.modules]
        """
    )
    assert isinstance(result, list)
    listed, client_loaded = result
    assert set(flowinvoke.__all__) <= set(listed)
    assert listed == sorted(listed)
    assert client_loaded is False


def test_an_unknown_name_is_an_attribute_error_and_imports_nothing() -> None:
    result = fresh(
        """
        import flowinvoke
        import flowinvoke.providers
        before = set(sys.modules)
        messages = []
        for module in (flowinvoke, flowinvoke.providers):
            try:
                module.NoSuchName
            except AttributeError as exc:
                messages.append(str(exc))
        try:
            from flowinvoke import NoSuchName  # noqa: F401
        except ImportError as exc:
            messages.append(type(exc).__name__)
        result = [messages, hasattr(flowinvoke, "NoSuchName"), sorted(set(sys.modules) - before)]
        result.append("flowinvoke.providers.dify" in sys.modules)
        """
    )
    assert result == [
        [
            "module 'flowinvoke' has no attribute 'NoSuchName'",
            "module 'flowinvoke.providers' has no attribute 'NoSuchName'",
            "ImportError",
        ],
        False,
        [],
        False,
    ]


def test_an_error_pickled_in_one_process_unpickles_in_a_fresh_one_without_pydantic() -> None:
    pickled = fresh(
        """
        import pickle
        import flowinvoke
        error = flowinvoke.RateLimitError(
            "slow down", provider="gptbots", status_code=429, retry_after=3.0, run_id="run-42"
        )
        result = pickle.dumps(error).hex()
        """
    )
    assert isinstance(pickled, str)
    result = fresh(
        f"""
        import pickle
        error = pickle.loads(bytes.fromhex({pickled!r}))
        result = [type(error).__name__, error.run_id, error.retry_after, error.status_code,
                  "pydantic.main" in sys.modules]
        """
    )
    assert result == ["RateLimitError", "run-42", 3.0, 429, False]


def test_the_blocking_client_runs_without_loading_the_async_one() -> None:
    result = fresh(
        """
        import httpx
        from flowinvoke import Client

        def answer(request):
            return httpx.Response(200, json={"workflowRunId": "run-1", "status": "SUCCEED",
                                             "output": {"echo": 1}})

        with Client(api_key="key-123456", transport=httpx.MockTransport(answer)) as client:
            run = client.invoke({"q": 1})
        result = [run.id, run.status.value, run.output, "flowinvoke._async.client" in sys.modules]
        """
    )
    assert result == ["run-1", "SUCCEEDED", {"echo": 1}, False]


def test_built_in_providers_are_listed_and_guarded_before_they_are_loaded() -> None:
    result = fresh(
        """
        from flowinvoke.providers import available_providers, get_provider, register_provider

        listed = available_providers()
        dify_loaded = "flowinvoke.providers.dify" in sys.modules
        impostor = type(get_provider("gptbots"))()
        impostor_named_dify = type("Impostor", (type(impostor),), {"name": "dify"})()
        try:
            register_provider(impostor_named_dify)
            refused = False
        except ValueError:
            refused = True
        dify = get_provider(" Dify ")
        result = [listed, dify_loaded, refused, type(dify).__name__, dify is get_provider("dify")]
        """
    )
    assert result == [
        ["aitutor", "altabots", "coze", "coze-studio", "dify", "gptbots"],
        False,
        True,
        "DifyProvider",
        True,
    ]


def test_the_pytest_plugin_loads_neither_the_emulator_nor_a_client() -> None:
    # pytest loads it (entry point pytest11) in every run of every project that has
    # flowinvoke installed, whether its tests use the fixtures or not.
    loaded = fresh(
        """
        import pytest
        imported = set(loaded())
        import flowinvoke.testing.pytest_plugin
        result = sorted(set(loaded()) - imported)
        """
    )
    assert isinstance(loaded, list)
    heavy = {*HEAVY, "flowinvoke.testing._emulator", "flowinvoke.testing._workflows"}
    heavy -= {"typing", "logging", "flowinvoke._core.errors"}  # pytest's; PollPolicy's (cheap)
    assert sorted(heavy & set(loaded)) == []
