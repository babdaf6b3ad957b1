"""Resolving a client's settings from arguments and `FLOWINVOKE_*` environment variables.

Everything is checked here, when the client is built, so that a wrong setting fails with a
`ConfigurationError` before any request is sent.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import _http
from ._deadline import positive_seconds
from ._errors import ConfigurationError
from ._polling import PollPolicy
from ._retry import RetryPolicy
from ._secret import APIKey, Redactor
from ._version import __version__
from .providers import AuthScheme, Provider, get_provider

__all__ = ["ENV_PREFIX", "ClientConfig", "env_flag", "resolve_config"]

T = TypeVar("T")

ENV_PREFIX = "FLOWINVOKE_"
_CONNECT_TIMEOUT = 10.0
_WRITE_TIMEOUT = 30.0
_USER_AGENT = f"flowinvoke/{__version__}"


@dataclass(frozen=True)
class ClientConfig:
    """A client's settings, resolved and checked."""

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
        return {
            "provider": self.provider,
            "api_key": self.api_key,
            "base_url": self.base_url,
            "region": self.region,
            "workflow_id": self.workflow_id,
            "timeout": self.timeout,
            "retry": self.retry,
            "poll": self.poll,
            "auth_scheme": self.auth_scheme,
            "allow_insecure_http": self.allow_insecure_http,
            "default_headers": self.default_headers,
        }


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
    url = base_url or env.get(f"{ENV_PREFIX}BASE_URL") or chosen.base_url(region)
    url = _check_base_url(url, allow_insecure_http=allow_insecure_http)
    workflow = workflow_id if workflow_id is not None else env.get(f"{ENV_PREFIX}WORKFLOW_ID")
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
        default_headers=dict(default_headers or {}),
    )


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


def _api_key(value: str | APIKey | None) -> APIKey:
    if isinstance(value, APIKey):
        return value
    if value is None or not value.strip():
        raise ConfigurationError(
            f"no API key: pass api_key=... or set {ENV_PREFIX}API_KEY "
            "(to try flowinvoke without one, use the bundled emulator: flowinvoke.testing)"
        )
    if value != value.strip() or any(ch in value for ch in "\r\n"):
        raise ConfigurationError("the API key has surrounding white space or a line break")
    return APIKey(value)


def _check_base_url(
    url: str, *, allow_insecure_http: bool, name: str = "base_url", carries: str = "the API key"
) -> str:
    """An absolute http(s) URL without query or fragment, https unless loopback or allowed.

    Also checks a webhook receiver's public URL (`name`), which carries run secrets.
    """
    try:
        parsed = _http.URL(url)
    except Exception as exc:  # httpx raises InvalidURL or TypeError
        raise ConfigurationError(f"{name} {url!r} is not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(f"{name} {url!r} must be an absolute http(s) URL")
    if parsed.query or parsed.fragment:
        raise ConfigurationError(f"{name} {url!r} must not have a query or fragment")
    if parsed.scheme == "http" and not allow_insecure_http and not _is_loopback(parsed.host):
        raise ConfigurationError(
            f"{name} {url!r} would send {carries} unencrypted over the network; use "
            "https, or pass allow_insecure_http=True if the network is trusted"
        )
    return str(parsed).rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):  # RFC 6761: always loopback
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
