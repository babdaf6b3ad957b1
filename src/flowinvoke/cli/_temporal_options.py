"""The flags shared by the commands that talk to Temporal (`worker`, `batch --engine`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["temporal_options"]

F = TypeVar("F", bound=Callable[..., Any])


def temporal_options(command: F) -> F:
    """Add --temporal-address, --namespace and --task-queue to a command."""
    for option in reversed(
        (
            click.option(
                "--temporal-address",
                metavar="HOST:PORT",
                help="The Temporal frontend. [env FLOWINVOKE_TEMPORAL_ADDRESS]",
            ),
            click.option(
                "--namespace", default="default", show_default=True, help="The Temporal namespace."
            ),
            click.option(
                "--task-queue",
                default="flowinvoke",
                show_default=True,
                help="The task queue the workers serve.",
            ),
        )
    ):
        command = option(command)
    return command
