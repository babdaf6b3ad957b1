"""`flowinvoke worker`: a Temporal worker running flowinvoke's workflows and activities.

One process, one flowinvoke client (its pool, rate limit and learned durations shared by
every activity), until Ctrl-C or SIGTERM, which finish the activities in progress first.
"""

from __future__ import annotations

import os
import signal

import anyio
import click

from flowinvoke import AsyncClient

from ._exit import Job, handle_errors
from ._render import note_line
from ._safe import hide_key_of
from ._settings import Settings, client_options
from ._temporal_options import temporal_options

__all__ = ["worker"]

_SECRET_VARIABLE = "FLOWINVOKE_CALLBACK_SECRET"  # noqa: S105 - a variable's name


@click.command(short_help="Run a Temporal worker for flowinvoke runs and batches.")
@client_options
@temporal_options
@click.option(
    "--callback-url",
    metavar="URL",
    help="Where your web app mounts flowinvoke.temporal.CallbackReceiver: runs started "
    f"with callback=True are told to call it. Its key comes from {_SECRET_VARIABLE}.",
)
@click.option(
    "--no-sandbox",
    is_flag=True,
    help="Run workflow code outside Temporal's sandbox (less CPU, no determinism checks).",
)
@click.option(
    "--max-cached-workflows",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Workflows kept in memory between their tasks (bounds the worker's memory).",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="The flowinvoke client's connection pool size.",
)
@click.option(
    "--failover-timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="How long a workflow's next task waits for this worker before another takes it.",
)
def worker(
    settings: Settings,
    temporal_address: str | None,
    namespace: str,
    task_queue: str,
    callback_url: str | None,
    no_sandbox: bool,
    max_cached_workflows: int,
    max_connections: int,
    failover_timeout: float,
) -> None:
    """Serve flowinvoke's Temporal workflows and activities until Ctrl-C or SIGTERM.

    \b
    Example:
      FLOWINVOKE_API_KEY=... flowinvoke worker --temporal-address 127.0.0.1:7233
    """
    from flowinvoke.temporal import CallbackTargets, build_worker, connect

    job = Job(settings)
    with handle_errors(job):
        callbacks = None
        if callback_url is not None:
            secret = os.environ.get(_SECRET_VARIABLE)
            if not secret:
                raise click.UsageError(f"--callback-url needs {_SECRET_VARIABLE} set")
            callbacks = CallbackTargets(
                callback_url, secret, allow_insecure_http=settings.allow_insecure_http
            )
        client = AsyncClient(**settings.client_kwargs(), max_connections=max_connections)
        hide_key_of(client)

        async def serve() -> None:
            temporal = await connect(temporal_address, namespace=namespace)
            built = build_worker(
                temporal,
                client,
                task_queue=task_queue,
                callbacks=callbacks,
                sandboxed=not no_sandbox,
                max_cached_workflows=max_cached_workflows,
                failover_timeout=failover_timeout,
            )
            async with client, built:
                note_line(f"worker ready on task queue {task_queue!r} (pid {os.getpid()})")
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for _ in signals:
                        break
            note_line("worker stopped")

        anyio.run(serve)
