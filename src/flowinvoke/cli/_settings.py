"""Client settings from command-line flags, and the factory that builds the client.

A flag that is absent is passed to `flowinvoke.Client` as None, so the client's own defaults
apply (`FLOWINVOKE_API_KEY`, `FLOWINVOKE_PROVIDER`, ... then built-in ones): the environment
is read in one place only, `flowinvoke._config`. The key is held in a field kept out of reprs
and never printed; `resume_command` leaves it out.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import wraps
from typing import Any, Literal, TypeVar, cast

import click

from flowinvoke import Client, Hooks

__all__ = ["Settings", "client_options", "make_client"]

F = TypeVar("F", bound=Callable[..., Any])
AuthSchemeFlag = Literal["bearer", "raw"]


@dataclasses.dataclass(frozen=True)
class Settings:
    """The client flags of one command; None where the flag was not given."""

    provider: str | None = None
    api_key: str | None = dataclasses.field(default=None, repr=False)
    base_url: str | None = None
    region: str | None = None
    workflow_id: str | None = None
    auth_scheme: AuthSchemeFlag | None = None
    allow_insecure_http: bool = False

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `flowinvoke.Client` (absent flags stay None)."""
        return {
            "provider": self.provider,
            "api_key": self.api_key,
            "base_url": self.base_url,
            "region": self.region,
            "workflow_id": self.workflow_id,
            "auth_scheme": self.auth_scheme or "bearer",
            "allow_insecure_http": self.allow_insecure_http,
        }

    def resume_command(self, run_id: str, provider: str | None = None) -> str:
        """The `flowinvoke wait` command line that resumes waiting for `run_id`.

        It repeats every flag given except the API key, which is never written out.
        """
        words = ["flowinvoke", "wait", run_id]
        for flag, value in (
            ("--provider", provider or self.provider),
            ("--base-url", self.base_url),
            ("--region", self.region),
            ("--auth-scheme", self.auth_scheme),
        ):
            if value is not None:
                words += [flag, value]
        if self.allow_insecure_http:
            words.append("--allow-insecure-http")
        return shlex.join(words)


def client_options(command: F) -> F:
    """Add the client flags to a command, which then receives them as `settings`."""

    @wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        kwargs["settings"] = Settings(
            provider=kwargs.pop("provider"),
            api_key=kwargs.pop("api_key"),
            base_url=kwargs.pop("base_url"),
            region=kwargs.pop("region"),
            workflow_id=kwargs.pop("workflow_id"),
            auth_scheme=kwargs.pop("auth_scheme"),
            allow_insecure_http=kwargs.pop("allow_insecure_http"),
        )
        return command(**kwargs)

    options = (
        click.option(
            "--provider",
            "-p",
            metavar="NAME",
            help="gptbots, altabots, aitutor, dify, coze or coze-studio. "
            "[env FLOWINVOKE_PROVIDER; default gptbots]",
        ),
        click.option(
            "--api-key",
            metavar="KEY",
            show_default=False,
            help="The workflow's API key. Prefer the environment variable, which keeps the "
            "key out of your shell history. [env FLOWINVOKE_API_KEY]",
        ),
        click.option(
            "--base-url",
            metavar="URL",
            help="Send requests here instead of the provider's URL (a proxy, an emulator). "
            "[env FLOWINVOKE_BASE_URL]",
        ),
        click.option(
            "--region",
            metavar="REGION",
            help="GPTBots data centre: sg, jp or th (default sg); Coze site: com or cn. "
            "[env FLOWINVOKE_REGION]",
        ),
        click.option(
            "--workflow-id",
            metavar="ID",
            help="The workflow to run, for providers whose calls name one (aitutor: wf_...; "
            "Coze: its 19-digit id, also needed to query a run). "
            "[env FLOWINVOKE_WORKFLOW_ID]",
        ),
        click.option(
            "--auth-scheme",
            type=click.Choice(["bearer", "raw"]),
            help="'bearer' (Authorization: Bearer KEY, the default) or 'raw' (the key alone, "
            "as older GPTBots pages show).",
        ),
        click.option(
            "--allow-insecure-http",
            is_flag=True,
            help="Allow a plain-http --base-url on a host other than loopback (the key then "
            "crosses the network unencrypted; never through a proxy).",
        ),
    )
    decorated: Callable[..., Any] = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return cast("F", decorated)


def make_client(
    settings: Settings, *, on_request: Callable[[], object] | None = None
) -> AbstractContextManager[Client]:
    """Build the client a command uses, as a context manager that closes it.

    `on_request` is called before each HTTP request (the live status line counts polls with
    it). Tests replace this function to point the commands at an emulator; a bare `Client`
    will do as a return value, since it is its own context manager.

    Raises:
        ConfigurationError: a setting is missing or wrong (no key, unknown provider, ...).
    """
    # The library builds the HTTP client (its timeouts, limits and proxy policy), so no
    # command talks HTTP differently from `flowinvoke.Client`; requests are counted with
    # the library's own hooks.
    hooks = None if on_request is None else Hooks(on_request=lambda _: on_request())
    return Client(**settings.client_kwargs(), hooks=hooks)
