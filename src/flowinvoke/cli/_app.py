"""The `flowinvoke` click group: global flags, subcommands, and one-line usage errors."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from flowinvoke import __version__

from ._batch import batch
from ._commands import get, run, wait
from ._demo import demo
from ._exit import ExitCode
from ._render import error_line
from ._runs import runs
from ._serve import emulator
from ._worker import worker

__all__ = ["cli"]


class _Group(click.Group):
    """A click group whose errors are one line on standard error, never a usage dump.

    Click's own usage errors keep their exit code (2); Ctrl-C outside a command exits 130.
    """

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; exit (or, with `standalone_mode=False`, return the code)."""
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = result if isinstance(result, int) else 0
        except click.ClickException as error:
            if type(error).__name__ == "NoArgsIsHelpError":  # click >= 8.2: a bare group
                click.echo(error.format_message(), err=True)
            else:
                error_line(_usage_message(error))
            code = error.exit_code
        except click.Abort:
            error_line("interrupted")
            code = ExitCode.INTERRUPTED
        if standalone_mode:
            sys.exit(code)
        return code


def _usage_message(error: click.ClickException) -> str:
    message = error.format_message()
    if isinstance(error, click.UsageError) and error.ctx is not None:
        return f"{message} (see '{error.ctx.command_path} --help')"
    return message


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="flowinvoke")
@click.option(
    "--verbose", "-v", is_flag=True, help="Log what the client does (retries, polls) to stderr."
)
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Start, query and wait for GPTBots, AltaBots, aitutor-api, Dify and Coze workflow runs.

    \b
    Try it without an account:   flowinvoke demo
    Run a workflow:              FLOWINVOKE_API_KEY=... flowinvoke run -i question=hi
    Run many, resumably:         flowinvoke batch inputs.jsonl --out results.jsonl
    Runs of a ledger:            flowinvoke runs list --ledger runs.db
    Settings come from flags or FLOWINVOKE_API_KEY, FLOWINVOKE_PROVIDER,
    FLOWINVOKE_BASE_URL, FLOWINVOKE_REGION and FLOWINVOKE_WORKFLOW_ID.
    Exit codes: 0 succeeded, 1 run failed, 2 usage, 3 API error, 4 wait timed out,
    130 Ctrl-C, 143 SIGTERM.
    """
    if verbose:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("flowinvoke: %(levelname)s %(message)s"))
        logger = logging.getLogger("flowinvoke")
        level = logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)

        def restore() -> None:
            logger.removeHandler(handler)
            logger.setLevel(level)

        ctx.call_on_close(restore)


for _command in (run, get, wait, batch, runs, demo, emulator, worker):
    cli.add_command(_command)
