"""The `flowinvoke` command: run, query and wait for workflow runs, serve the emulator, demo.

Installed with the `cli` extra (`pip install "flowinvoke[cli]"`, which brings click and rich).
`import flowinvoke` never imports this package, and importing this package imports neither
click nor rich: `main()` does, so that a missing extra gives one line instead of a traceback.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import click

__all__ = ["cli", "main", "run"]

_MISSING_EXTRA = 'flowinvoke: the command line needs click and rich: pip install "flowinvoke[cli]"'


def main(args: list[str] | None = None) -> int:
    """Run the `flowinvoke` command and return its exit code (the console-script entry point).

    Exit codes: 0 the run succeeded, 1 it failed, 2 a usage or configuration error, 3 an API
    error, 4 the wait deadline passed, 130 interrupted (see `docs/cli.md`).
    """
    try:
        import click  # noqa: F401 - the extra may be missing
        import rich  # noqa: F401
    except ImportError:
        print(_MISSING_EXTRA, file=sys.stderr)  # noqa: T201
        return 2
    from ._app import cli as group

    code: int = group.main(args=args, prog_name="flowinvoke", standalone_mode=False)
    return code


def run() -> NoReturn:
    """The console script and `python -m flowinvoke.cli`: `main()`, then end the process.

    A command that used Temporal (`batch --engine temporal`, `worker`) leaves temporalio's
    runtime threads behind, and they can abort the interpreter while it finalizes (SIGABRT,
    "PyGILState_Release"; temporalio/sdk-python#300), turning any exit code into -6. Such a
    process runs its exit handlers (flushing files, coverage, logging), then ends without
    the finalization; any other ends as usual.
    """
    code = main()
    if "temporalio" not in sys.modules:
        sys.exit(code)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def __getattr__(name: str) -> Any:
    if name == "cli":
        from ._app import cli as group

        return group
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    cli: click.Group
