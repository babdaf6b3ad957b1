"""Exit codes, and turning flowinvoke's exceptions into one clear message and a code.

| code | meaning |
|---|---|
| 0 | the run succeeded (or, for `get` and `run --no-wait`, has not failed) |
| 1 | the run ended FAILED, CANCELLED or with an unknown status |
| 2 | usage or configuration error: bad flags or input, no key, unknown provider |
| 3 | API error: the provider refused the request or could not be reached |
| 4 | the wait deadline passed; the run may still finish (resume with `flowinvoke wait`) |
| 130 | interrupted (Ctrl-C) |
| 143 | terminated (SIGTERM, as a container runtime sends): handled like Ctrl-C |
"""

from __future__ import annotations

import enum
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

import click

from flowinvoke import (
    APIConnectionError,
    APIError,
    ConfigurationError,
    FlowInvokeError,
    UnsupportedOperationError,
    WaitTimeoutError,
    WorkflowFailedError,
    WorkflowRun,
)

from ._render import error_line, note_line
from ._safe import forget_key, hide_key_of

if TYPE_CHECKING:
    from flowinvoke import Client

    from ._live import RunProgress
    from ._settings import Settings

__all__ = [
    "ExitCode",
    "Job",
    "Terminated",
    "exit_with",
    "flag_words",
    "handle_errors",
    "interrupted_code",
    "status_exit_code",
]


class ExitCode(enum.IntEnum):
    """The `flowinvoke` command's exit codes."""

    OK = 0
    RUN_FAILED = 1
    USAGE = 2
    API_ERROR = 3
    WAIT_TIMEOUT = 4
    INTERRUPTED = 130
    TERMINATED = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: every command stops as on Ctrl-C, then exits with 143."""


def interrupted_code(error: KeyboardInterrupt) -> ExitCode:
    """143 for SIGTERM, 130 for Ctrl-C."""
    return ExitCode.TERMINATED if isinstance(error, Terminated) else ExitCode.INTERRUPTED


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into `Terminated` in the main thread while the command runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


#: The library's words for its arguments, and the flags a command-line user knows them by.
_FLAGS = (
    ("pass api_key=... or set", "pass --api-key or set"),
    ("allow_insecure_http=True", "--allow-insecure-http"),
    ("Pass allow_non_loopback=True", "Pass --allow-non-loopback"),
    ("needs a workflow_id (on the client or on the call)", "needs --workflow-id"),
    ("workflow_id", "--workflow-id"),
    ("auth_scheme", "--auth-scheme"),
    ("base_url", "--base-url"),
)


def flag_words(message: str) -> str:
    """A library message with its Python argument names replaced by the command's flags."""
    for python, flag in _FLAGS:
        message = message.replace(python, flag)
    return message


@dataclass
class Job:
    """What an error message may name: the settings, the provider and the run being followed."""

    settings: Settings
    progress: RunProgress | None = None
    provider: str | None = None
    run_id: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        forget_key()  # a key from an earlier command (in the same process) is not this one's

    def known_run_id(self, error: BaseException | None = None) -> str | None:
        """The run id from the error, the progress tracker, or the command line."""
        from_error = error.run_id if isinstance(error, FlowInvokeError) else None
        from_progress = self.progress.run_id if self.progress is not None else None
        return from_error or from_progress or self.run_id

    def bind(self, client: Client) -> None:
        """Note what the command's client talks to, and mask its key in all output."""
        self.provider = client.provider.name
        self.url = client.base_url
        hide_key_of(client)

    def resume_command(self, run_id: str) -> str:
        """The command that resumes waiting for `run_id` (the key left out)."""
        return self.settings.resume_command(run_id, self.provider)


def exit_with(code: ExitCode) -> NoReturn:
    """End the command with `code` (click turns this into the process's exit status)."""
    raise click.exceptions.Exit(int(code))


def status_exit_code(run: WorkflowRun, *, finished: bool = True) -> ExitCode:
    """0 for a successful run, 1 for one that ended otherwise.

    With `finished=False` (`get`, `run --no-wait`), a run still PENDING/RUNNING gives 0 too.
    """
    if run.succeeded or (not finished and not run.done):
        return ExitCode.OK
    return ExitCode.RUN_FAILED


def _configuration_message(error: ConfigurationError) -> str:
    if error.message.startswith("no API key"):
        return (
            "no API key: pass --api-key or set FLOWINVOKE_API_KEY "
            "(flowinvoke demo and flowinvoke emulator serve need none)"
        )
    return flag_words(str(error))


@contextmanager
def handle_errors(job: Job) -> Iterator[None]:
    """Turn an exception raised inside into one message on standard error and an exit code.

    Tracebacks are never shown for flowinvoke's own errors, bad input or Ctrl-C. SIGTERM
    is handled as Ctrl-C is (exit code 143).
    """
    try:
        with _sigterm_as_interrupt():
            yield
    except WaitTimeoutError as error:
        run_id = job.known_run_id(error)
        last = error.last_run
        seen = f" (last status {last.status.value})" if last is not None else ""
        error_line(
            f"gave up waiting for run {run_id}{seen}; the run may still finish"
            if run_id
            else f"gave up waiting{seen}"
        )
        if run_id:
            note_line(f"resume with: {job.resume_command(run_id)}")
        exit_with(ExitCode.WAIT_TIMEOUT)
    except WorkflowFailedError as error:
        error_line(str(error))
        exit_with(ExitCode.RUN_FAILED)
    except APIError as error:
        tried = f" (tried {job.url})" if isinstance(error, APIConnectionError) and job.url else ""
        error_line(f"{type(error).__name__}: {error}{tried}")
        exit_with(ExitCode.API_ERROR)
    except ConfigurationError as error:
        error_line(_configuration_message(error))
        exit_with(ExitCode.USAGE)
    except UnsupportedOperationError as error:
        error_line(flag_words(str(error)))
        exit_with(ExitCode.USAGE)
    except FlowInvokeError as error:  # pragma: no cover - every subclass is handled above
        error_line(str(error))
        exit_with(ExitCode.API_ERROR)
    except (TypeError, ValueError) as error:
        error_line(f"invalid input: {error}")
        exit_with(ExitCode.USAGE)
    except KeyboardInterrupt as interrupt:
        word = "terminated" if isinstance(interrupt, Terminated) else "interrupted"
        run_id = job.known_run_id()
        if run_id:
            error_line(
                f"{word}; run {run_id} may still be running on the server; "
                f"resume with: {job.resume_command(run_id)}"
            )
        else:
            error_line(word)
        exit_with(interrupted_code(interrupt))
