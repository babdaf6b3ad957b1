"""`flowinvoke emulator serve` and `stats`: the demo workflows on a loopback port, and what
the served emulator has seen."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import click

from ._exit import ExitCode, exit_with, flag_words
from ._render import error_line, out_console

__all__ = ["emulator"]

_INSTALL_HINT = 'serving the emulator needs uvicorn: pip install "flowinvoke[emulator]"'


@click.group()
def emulator() -> None:
    """The bundled emulator of the GPTBots, aitutor, Dify and Coze workflow APIs."""


@emulator.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to bind.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="The port."
)
@click.option(
    "--allow-non-loopback",
    is_flag=True,
    help="Allow a --host other than a loopback address (the demo keys are public).",
)
def serve(host: str, port: int, allow_non_loopback: bool) -> None:
    """Serve the demo workflows over HTTP until Ctrl-C.

    Point flowinvoke (or curl) at the printed URL with one of the demo keys:

    \b
      flowinvoke run --base-url http://127.0.0.1:8000 --api-key demo-key-slow -i topic=tea
    """
    try:
        import uvicorn  # noqa: F401 - the emulator extra may be missing
    except ImportError:
        error_line(_INSTALL_HINT)
        exit_with(ExitCode.USAGE)
    from flowinvoke.testing import DEMO_KEYS, demo_emulator, serve

    url = f"http://{_url_host(host)}:{port}"
    demo = demo_emulator()
    providers: dict[str, str] = {w: demo.workflow(w).provider for w in DEMO_KEYS}
    try:  # the banner is printed once the port is bound, never before a failure to bind
        serve(
            demo,
            host=host,
            port=port,
            allow_non_loopback=allow_non_loopback,
            on_listening=lambda bound: _print_banner(bound, providers),
        )
    except ValueError as error:
        error_line(flag_words(str(error)))
        exit_with(ExitCode.USAGE)
    except OSError as error:  # the port is taken, the address cannot be bound
        error_line(f"cannot serve on {url}: {error.strerror or error}")
        exit_with(ExitCode.USAGE)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _print_banner(url: str, providers: dict[str, str]) -> None:
    from rich.table import Table
    from rich.text import Text

    from flowinvoke.testing import DEMO_KEYS

    console = out_console()
    console.print(
        Text.assemble("flowinvoke emulator serving on ", (url, "bold"), " (Ctrl-C to stop)"),
        soft_wrap=True,
    )
    table = Table(title=None, box=None, padding=(0, 2), show_edge=False)
    table.add_column("workflow", style="bold")
    table.add_column("provider")
    table.add_column("api key")
    for workflow, key in DEMO_KEYS.items():
        table.add_row(workflow, providers.get(workflow, ""), key)
    console.print(table)
    console.print(
        Text(
            f"try: flowinvoke run --base-url {url} --api-key {DEMO_KEYS['demo-slow']} -i topic=tea",
            style="dim",
        ),
        soft_wrap=True,
    )


@emulator.command()
@click.option(
    "--url",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="Where `flowinvoke emulator serve` listens.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON object.")
def stats(url: str, as_json: bool) -> None:
    """Print what a served emulator has seen: runs started, queries per run, requests."""
    from flowinvoke.testing import STATS_PATH

    try:
        counts = _fetch_json(url.rstrip("/") + STATS_PATH)
    except (OSError, ValueError) as error:  # refused, timed out, not an emulator
        error_line(f"cannot read the emulator's stats at {url}: {error}")
        exit_with(ExitCode.API_ERROR)
    if as_json:
        click.echo(json.dumps(counts))
        return
    for line in stats_lines(counts):
        click.echo(line)


def _fetch_json(url: str) -> Any:
    # No proxy: the emulator is on this machine, and a proxy would see nothing of it.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as answer:
        return json.loads(answer.read())


def stats_lines(counts: dict[str, Any]) -> list[str]:
    """The stats as a few lines of text, one subject each."""

    def parts(mapping: dict[str, int]) -> str:
        return ", ".join(f"{name} {count}" for name, count in mapping.items()) or "none"

    per_run = counts["queries_per_run"]
    each = (
        "" if per_run is None else f" ({per_run} a run, at most {counts['most_queries_of_a_run']})"
    )
    return [
        f"runs started  {counts['runs_started']} ({parts(counts['runs_started_by_workflow'])})",
        f"queries       {counts['queries']}{each}",
        f"requests      {counts['requests']} ({parts(counts['requests_by_operation'])})",
        f"faults        {parts(counts['faults'])}",
        f"callbacks     {parts(counts['callbacks'])}",
    ]
