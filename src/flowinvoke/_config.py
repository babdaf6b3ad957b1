"""Resolving a client's settings from arguments and `FLOWINVOKE_*` environment variables.

Everything is checked here, when the client is built, so that a wrong setting fails with a
`ConfigurationError` before any request is sent.
"""

from __future__ import annotations

import enum
import inspect
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from ._core.deadline import positive_seconds
from ._core.errors import ConfigurationError
from ._core.secret import APIKey, Redactor
from ._core.text import has_control_character
from ._transport import http as _http
from ._transport.retry import RetryPolicy
from ._transport.urls import check_base_url
from ._version import __version__
from ._waiting.policy import PollPolicy
from .providers import AuthScheme, Provider, get_provider

__all__ = [
    "CONFIG_ARGUMENTS",
    "ENV_PREFIX",
    "KEEP",
    "ClientConfig",
    "check_max_connections",
    "env_flag",
    "resolve_config",
]

T = TypeVar("T")


class Keep(enum.Enum):
    """`with_options`' default where None is a value of its own ("no receiver")."""

    KEEP = "keep"


KEEP = Keep.KEEP

ENV_PREFIX = "FLOWINVOKE_"
_CONNECT_TIMEOUT = 10.0
_WRITE_TIMEOUT = 30.0
_USER_AGENT = f"flowinvoke/{__version__}"


@dataclass(frozen=True)
class ClientConfig:
    """A client's settings, resolved and checked: the one list of them.

    `resolve_config` (the checks) takes exactly these names, `arguments()` gives them back
    for `with_options`, and `AsyncClient.__init__` hands its matching arguments over by
    name: a new setting is a field here, its check in `resolve_config`, and its keyword
    (with its docstring line) on the client.
    """

    provider: Provider
    api_key: APIKey = field(repr=False)
    base_url: str
    region: str | None
    workflow_id: str | None
    timeout: _http.Timeout
    retry: RetryPolicy
    poll: PollPolicy
    auth_scheme: AuthScheme
    allow_insecure_http: bool
    default_headers: Mapping[str, str] = field(repr=False)
    max_response_bytes: int

    def request_headers(self) -> dict[str, str]:
        """Every header a request carries: ours, the caller's, then the auth header."""
        return {
            "User-Agent": _USER_AGENT,
            "Content-Type": "application/json",
            **self.default_headers,
            **self.provider.auth_headers(self.api_key.reveal(), self.auth_scheme),
        }

    def redactor(self) -> Redactor:
        """A redactor that masks this config's key in server text."""
        return Redactor(self.api_key.reveal())

    def arguments(self) -> dict[str, Any]:
        """The settings as keyword arguments of `resolve_config` (for `with_options`)."""
        return {setting.name: getattr(self, setting.name) for setting in fields(self)}


def resolve_config(
    *,
    provider: str | Provider | None,
    api_key: str | APIKey | None,
    base_url: str | None,
    region: str | None,
    workflow_id: str | None,
    timeout: float | _http.Timeout | None,
    retry: RetryPolicy | None,
    poll: PollPolicy | None,
    auth_scheme: AuthScheme,
    allow_insecure_http: bool,
    default_headers: Mapping[str, str] | None,
    max_response_bytes: int,
    environ: Mapping[str, str] | None = None,
) -> ClientConfig:
    """Check every setting, filling gaps from the environment, and return the config."""
    env = os.environ if environ is None else environ
    chosen = get_provider(provider or env.get(f"{ENV_PREFIX}PROVIDER") or "gptbots")
    key = _api_key(api_key if api_key is not None else env.get(f"{ENV_PREFIX}API_KEY"))
    if auth_scheme not in ("bearer", "raw"):
        raise ConfigurationError(f"auth_scheme must be 'bearer' or 'raw', not {auth_scheme!r}")
    chosen.auth_headers("-", auth_scheme)  # raises if the provider refuses the scheme
    if region is None and chosen.regions:  # a global region must not break region-less ones
        region = env.get(f"{ENV_PREFIX}REGION") or None
    if base_url is None:  # an empty FLOWINVOKE_BASE_URL means unset, like the other variables
        base_url = env.get(f"{ENV_PREFIX}BASE_URL") or None
    url = chosen.base_url(region) if base_url is None else base_url
    url = check_base_url(url, allow_insecure_http=allow_insecure_http)
    workflow = workflow_id if workflow_id is not None else env.get(f"{ENV_PREFIX}WORKFLOW_ID")
    if workflow is not None and not isinstance(workflow, str):
        raise ConfigurationError(f"workflow_id must be a str, not {type(workflow).__name__}")
    return ClientConfig(
        provider=chosen,
        api_key=key,
        base_url=url,
        region=region,
        workflow_id=workflow or None,
        timeout=_timeout(timeout, chosen),
        retry=_typed(retry, RetryPolicy, "retry") or RetryPolicy(),
        poll=_typed(poll, PollPolicy, "poll") or PollPolicy(),
        auth_scheme=auth_scheme,
        allow_insecure_http=allow_insecure_http,
        default_headers=_check_headers(default_headers),
        max_response_bytes=_positive_int(max_response_bytes, "max_response_bytes"),
    )


#: The names `resolve_config` takes: a client passes its arguments of these names on.
CONFIG_ARGUMENTS = tuple(
    name for name in inspect.signature(resolve_config).parameters if name != "environ"
)


def check_max_connections(value: object) -> int:
    """Return `value` if it is an int of at least 1 (not a bool, not a float: NaN would make
    every request wait for a connection forever)."""
    return _positive_int(value, "max_connections")


def _positive_int(value: object, name: str) -> int:
    if type(value) is not int or value < 1:
        raise ConfigurationError(f"{name} must be an int of at least 1, not {value!r}")
    return value


def env_flag(name: str) -> bool | None:
    """A yes/no setting from `FLOWINVOKE_<name>`: None when unset or empty."""
    value = os.environ.get(f"{ENV_PREFIX}{name}", "").strip().lower()
    if not value:
        return None
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{ENV_PREFIX}{name} must be 1 or 0, not {value!r}")


def _api_key(value: object) -> APIKey:
    # No message here may show the key: it is wrong, so it is likely pasted from elsewhere.
    if isinstance(value, APIKey):
        return value
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(f"the API key must be a str, not {type(value).__name__}")
    if value is None or not value.strip():
        raise ConfigurationError(
            f"no API key: pass api_key=... or set {ENV_PREFIX}API_KEY "
            "(to try flowinvoke without one, use the bundled emulator: flowinvoke.testing)"
        )
    if value != value.strip():
        raise ConfigurationError("the API key has surrounding white space")
    if not value.isascii():
        raise ConfigurationError("the API key has a non-ASCII character (a copy-paste slip?)")
    if has_control_character(value):
        raise ConfigurationError("the API key has a control character (a line break, TAB, NUL)")
    return APIKey(value)


def _check_headers(headers: object) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise ConfigurationError(f"default_headers must be a mapping, not {type(headers).__name__}")
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ConfigurationError("default_headers names and values must be str")
        if name.strip().lower() == "authorization":
            # It would go out next to the key's header; the key has its own argument.
            raise ConfigurationError(
                "default_headers must not set Authorization: pass the key as api_key= "
                "(and auth_scheme= for its form)"
            )
        if not name.strip() or has_control_character(name) or has_control_character(value):
            raise ConfigurationError(
                f"default_headers[{name!r}] has an empty name or a control character"
            )
        checked[name] = value
    return checked


def _timeout(value: float | _http.Timeout | None, provider: Provider) -> _http.Timeout:
    if value is None:
        return _http.Timeout(
            connect=_CONNECT_TIMEOUT, read=provider.read_timeout, write=_WRITE_TIMEOUT, pool=None
        )
    if isinstance(value, _http.Timeout):
        return value
    try:
        return _http.Timeout(positive_seconds(value, "timeout"))
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


def _typed(value: object, kind: type[T], name: str) -> T | None:
    if value is None or isinstance(value, kind):
        return value
    raise ConfigurationError(f"{name} must be a {kind.__name__}, not {type(value).__name__}")
