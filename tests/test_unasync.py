"""Tests for scripts/unasync.py, run against small fixture trees and the real repo."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "unasync.py"
RUFF_CHECK = [sys.executable, "-m", "ruff", "check", "--no-cache"]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unasync", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["unasync"] = module
    spec.loader.exec_module(module)
    return module


unasync = _load()

# Uses every rule of the default table at least once.
ASYNC_SOURCE = '''\
"""Fixture client."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing, asynccontextmanager

from flowinvoke._transport import http as _http
from flowinvoke._compat import async_call_maybe, async_map_unordered, async_sleep
from flowinvoke._core.scopes import async_deadline_scope
from flowinvoke._transport.build import async_default_transport
from flowinvoke._transport.proxy import async_proxy_transport

from .._async import other
from .._async._batch import AsyncBatch, async_wait_items
from .._async._requester import AsyncRequester
from .._async._waiter import async_follow, async_told_by_callback
from flowinvoke._transport.slots import AsyncRequestSlots
from flowinvoke._waiting.wakeup import AsyncWakeup
from .._async._keyed import AsyncKeyedRuns
from flowinvoke.ledger._calls import async_ledger_call
from ._schedule import AsyncWaiter


class Runs:
    def __init__(self, client: _http.AsyncClient, transport: _http.AsyncBaseTransport) -> None:
        self._client = client
        self._transport = transport
        self._requester = AsyncRequester(client, AsyncRequestSlots(2))
        self._waiter = AsyncWaiter(self._requester, 2)
        self._batch = AsyncBatch
        self._keyed = AsyncKeyedRuns
        self._waits = async_wait_items
        self._follow = (async_follow, async_told_by_callback)
        self._wakeup = AsyncWakeup()
        self._default = async_default_transport(None, fast=None)
        self._proxied = async_proxy_transport("https://x", 1)

    async def __aenter__(self) -> Runs:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def wait(self, runs: AsyncGenerator[int, None], async_mode: bool) -> list[int]:
        async with async_deadline_scope(other.DEADLINE) as scope:
            await async_sleep(0.1)
        assert not scope.cancelled_caught
        async for run in runs:
            await async_call_maybe(print, run)
        assert await anext(runs, None) is None
        await async_ledger_call(print, runs)
        return [run async for run in async_map_unordered(print, runs, 2)]


async def states(runs: Runs) -> AsyncGenerator[int, None]:
    async with aclosing(runs.stream()) as stream:
        async for state in stream:
            yield state


@asynccontextmanager
async def body(response: _http.Response) -> AsyncGenerator[bytes | None, None]:
    await response.aread()
    yield await anext(response.aiter_bytes(), None)


async def chunks(response: _http.Response) -> list[bytes]:
    return [chunk async for chunk in response.aiter_bytes()]
'''

ASYNC_TEST = """\
import pytest

from flowinvoke._async.x import Runs


@pytest.mark.anyio
async def test_runs() -> None:
    async with Runs(None, None) as runs:
        assert [run async for run in runs.stream()] == []


@pytest.mark.anyio
async def test_closes(runs: Runs) -> None:
    await runs.async_client().aclose()
"""

SYNC_TEST = f"""\
{unasync.HEADER.format("tests/_async/test_x.py")}

from flowinvoke._sync.x import Runs


def test_runs() -> None:
    with Runs(None, None) as runs:
        assert [run for run in runs.stream()] == []


def test_closes(runs: Runs) -> None:
    runs.client().close()
"""

GENERATED = "src/flowinvoke/_sync/x.py"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    files = {
        "src/flowinvoke/_async/__init__.py": '"""Async."""\n',
        "src/flowinvoke/_async/other.py": "async def poll() -> None:\n    pass\n",
        "src/flowinvoke/_async/x.py": ASYNC_SOURCE,
        # Async only (scripts/unasync.py's ASYNC_ONLY): no sync twin is written.
        "src/flowinvoke/_async/_schedule.py": "class AsyncWaiter:\n    pass\n",
        "src/flowinvoke/_async/notes.txt": "async def ignored\n",
        "tests/_async/test_x.py": ASYNC_TEST,
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def run(root: Path, *args: str, rules: list[object] | None = None) -> int:
    argv = ["--root", str(root), *args]
    result = unasync.main(argv) if rules is None else unasync.main(argv, rules)
    assert isinstance(result, int)
    return result


def generated(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("_sync/*.py"))
    }


def test_generates_sync_code(root: Path) -> None:
    assert run(root) == 0
    files = generated(root)
    assert sorted(files) == [
        "src/flowinvoke/_sync/__init__.py",
        "src/flowinvoke/_sync/other.py",
        "src/flowinvoke/_sync/x.py",
        "tests/_sync/test_x.py",
    ]
    assert not (root / "src/flowinvoke/_sync/notes.txt").exists()  # only .py files
    assert files["tests/_sync/test_x.py"] == SYNC_TEST
    assert files["src/flowinvoke/_sync/other.py"] == (
        f"{unasync.header('src/flowinvoke/_async/other.py')}\ndef poll() -> None:\n    pass\n"
    )
    code = files[GENERATED]
    for construct in [
        '"""Fixture client."""\n\nfrom __future__ import annotations\n',
        "from collections.abc import Generator\n",
        "from contextlib import closing, contextmanager\n",
        "@contextmanager\ndef body(response: _http.Response) -> Generator[bytes | None, None]:\n",
        "    response.read()\n    yield next(response.iter_bytes(), None)\n",
        "from .._sync import other\n",
        "from .._sync._requester import Requester\n",
        "from .._sync._batch import Batch, sync_wait_items\n",
        "        self._batch = Batch\n",
        "        self._keyed = KeyedRuns\n",
        "        sync_ledger_call(print, runs)\n",
        "        self._waits = sync_wait_items\n",
        "        self._follow = (sync_follow, sync_told_by_callback)\n",
        "from .._sync._waiter import sync_follow, sync_told_by_callback\n",
        "from ._poller import LoopPerWait\n",
        "        self._waiter = LoopPerWait(self._requester, 2)\n",
        "        self._requester = Requester(client, SyncRequestSlots(2))\n",
        "        self._wakeup = SyncWakeup()\n",
        "def __init__(self, client: _http.Client, transport: _http.BaseTransport) -> None:",
        "    def __enter__(self) -> Runs:\n        return self\n",
        "    def __exit__(self, *exc_info: object) -> None:\n        self.close()\n",
        "    def close(self) -> None:\n        self._client.close()\n",
        "    def wait(self, runs: Generator[int, None], async_mode: bool) -> list[int]:\n",
        "from flowinvoke._transport.build import sync_default_transport\n",
        "        self._default = sync_default_transport(None, fast=None)\n",
        "from flowinvoke._transport.proxy import sync_proxy_transport\n",
        '        self._proxied = sync_proxy_transport("https://x", 1)\n',
        "        return [run for run in sync_map_unordered(print, runs, 2)]\n",
        "        with sync_deadline_scope(other.DEADLINE) as scope:\n            sync_sleep(0.1)\n",
        "        for run in runs:\n            sync_call_maybe(print, run)\n",
        "        assert next(runs, None) is None\n",
        "def states(runs: Runs) -> Generator[int, None]:\n",
        "    with closing(runs.stream()) as stream:\n        for state in stream:\n",
        "    return [chunk for chunk in response.iter_bytes()]\n",
    ]:
        assert construct in code


def test_header_is_the_first_line(root: Path) -> None:
    assert run(root) == 0
    for path, text in generated(root).items():
        source = path.replace("_sync", "_async")
        line = unasync.HEADER.format(source)
        if len(line) > 100:  # kept clear of E501 without an unused noqa elsewhere
            line += "  # noqa: E501"
        assert text.splitlines()[0] == line


def test_check_passes_right_after_generation(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(root) == 0
    assert run(root, "--check") == 0
    assert capsys.readouterr().out == ""
    assert run(root) == 0  # idempotent: nothing rewritten
    assert "wrote" not in capsys.readouterr().err


def test_check_fails_before_first_generation(root: Path) -> None:
    assert run(root, "--check") == 1
    assert not (root / GENERATED).exists()


def _change_async(root: Path) -> None:
    path = root / "src/flowinvoke/_async/other.py"
    path.write_text(path.read_text() + "\n\nasync def more() -> None:\n    pass\n")


def _append_line(root: Path) -> None:
    with (root / GENERATED).open("a") as file:
        file.write("appended = 1\n")


def _delete_generated(root: Path) -> None:
    (root / GENERATED).unlink()


def _add_extra(root: Path) -> None:
    text = unasync.HEADER.format("src/flowinvoke/_async/gone.py") + "\nx = 1\n"
    (root / "src/flowinvoke/_sync/gone.py").write_text(text)


@pytest.mark.parametrize(
    ("break_it", "shown"),
    [
        (_change_async, "+def more() -> None:"),
        (_append_line, "-appended = 1"),
        (_delete_generated, "--- /dev/null"),
        (_add_extra, "+++ /dev/null"),
    ],
)
def test_check_fails_when_out_of_date(
    root: Path,
    capsys: pytest.CaptureFixture[str],
    break_it: Callable[[Path], None],
    shown: str,
) -> None:
    assert run(root) == 0
    break_it(root)
    before = generated(root)
    capsys.readouterr()
    assert run(root, "--check") == 1
    out, err = capsys.readouterr()
    assert shown in out.splitlines()
    assert "out of date" in err
    assert generated(root) == before  # --check writes nothing
    assert run(root) == 0
    assert run(root, "--check") == 0


def test_write_deletes_only_stale_generated_files(root: Path) -> None:
    assert run(root) == 0
    (root / "src/flowinvoke/_async/other.py").unlink()
    _add_extra(root)
    handwritten = root / "src/flowinvoke/_sync/handwritten.py"
    handwritten.write_text("x = 1\n")
    assert run(root) == 0
    assert not (root / "src/flowinvoke/_sync/other.py").exists()
    assert not (root / "src/flowinvoke/_sync/gone.py").exists()
    assert handwritten.read_text() == "x = 1\n"


def test_imports_are_sorted_as_the_repo_config_sorts_them(root: Path) -> None:
    (root / "pyproject.toml").write_bytes((REPO / "pyproject.toml").read_bytes())
    (root / "tests/_async/test_x.py").write_text(
        ASYNC_TEST.replace("import pytest\n", "import httpx\nimport pytest\n")
        + "\n\nassert httpx\n"
    )
    assert run(root) == 0
    # `flowinvoke._sync.x` does not exist in the repo before this first run: ruff must
    # still see it as first-party, or the repo's own lint would re-sort the imports.
    text = (root / "tests/_sync/test_x.py").read_text()
    assert "\nimport httpx\n\nfrom flowinvoke._sync.x import Runs\n" in text
    assert text.splitlines()[0].endswith("by hand.")  # 99 characters: no noqa
    assert (root / GENERATED).read_text().splitlines()[0].endswith("by hand.  # noqa: E501")
    lint = subprocess.run(
        [*RUFF_CHECK, "--select", "I,F401,E501,RUF100", "src/flowinvoke/_sync", "tests/_sync"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout
    assert run(root, "--check") == 0


def test_unused_rule_fails(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = [*unasync.RULES, unasync.Rule("NeverSeen", "Seen")]
    assert run(root, rules=rules) == 1
    assert "'NeverSeen' -> 'Seen'" in capsys.readouterr().err
    assert not (root / GENERATED).exists()


def test_rule_limited_to_tests_ignores_src(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = [*unasync.RULES, unasync.Rule("__future__", "__future__", only="tests")]
    assert run(root, "--check", rules=rules) == 1
    assert "'__future__' -> '__future__') matched nothing in tests" in capsys.readouterr().err


def test_untranslated_async_name_fails(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = root / "src/flowinvoke/_async/other.py"
    path.write_text(path.read_text() + "\nAsyncWidget = None\n")
    assert run(root) == 1
    err = capsys.readouterr().err
    assert "src/flowinvoke/_async/other.py:4: no rule translates 'AsyncWidget'" in err


def test_no_sources_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, "--check") == 1
    assert "no async sources" in capsys.readouterr().err


def test_command_line(root: Path) -> None:
    command = [sys.executable, str(SCRIPT), "--root", str(root)]
    first = subprocess.run([*command, "--check"], capture_output=True, text=True, check=False)
    assert first.returncode == 1, first.stderr
    assert subprocess.run(command, capture_output=True, check=False).returncode == 0
    again = subprocess.run([*command, "--check"], capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stdout + again.stderr


@pytest.mark.skipif(
    not any((REPO / "src/flowinvoke/_async").glob("*.py")),
    reason="src/flowinvoke/_async not written yet",
)
def test_repo_is_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
