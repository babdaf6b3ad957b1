"""Providers: one module per platform, translating its wire format to flowinvoke's model.

Built-in providers are registered by name. Add your own platform by subclassing `Provider`
and calling `register_provider`; clients then accept its name as `provider=`.
"""

from __future__ import annotations

from .._errors import ConfigurationError
from ._base import (
    AuthScheme,
    ErrorInfo,
    ErrorKind,
    Operation,
    Provider,
    RequestSpec,
    ServerSentEvent,
    StreamError,
)
from .aitutor import AitutorProvider
from .coze import CozeProvider, CozeStudioProvider
from .dify import DifyProvider
from .gptbots import AltaBotsProvider, GPTBotsProvider

__all__ = [
    "AitutorProvider",
    "AltaBotsProvider",
    "AuthScheme",
    "CozeProvider",
    "CozeStudioProvider",
    "DifyProvider",
    "ErrorInfo",
    "ErrorKind",
    "GPTBotsProvider",
    "Operation",
    "Provider",
    "RequestSpec",
    "ServerSentEvent",
    "StreamError",
    "available_providers",
    "get_provider",
    "register_provider",
]

_REGISTRY: dict[str, Provider] = {}


def register_provider(provider: Provider, *, replace: bool = False) -> None:
    """Make `provider` available by its `name`.

    Raises:
        ValueError: another provider has that name and `replace` is False.
    """
    if not isinstance(provider, Provider):
        raise TypeError(f"expected a Provider instance, got {type(provider).__name__}")
    if provider.name in _REGISTRY and not replace:
        raise ValueError(f"a provider named {provider.name!r} is already registered")
    _REGISTRY[provider.name] = provider


def get_provider(name: str | Provider) -> Provider:
    """The registered provider called `name` (a `Provider` instance is returned as is).

    Raises:
        ConfigurationError: no provider has that name; the message lists those that do.
    """
    if isinstance(name, Provider):
        return name
    try:
        return _REGISTRY[name.strip().lower()]
    except KeyError:
        raise ConfigurationError(
            f"unknown provider {name!r}; choose one of: {', '.join(available_providers())}"
        ) from None


def available_providers() -> list[str]:
    """The names of every registered provider, sorted."""
    return sorted(_REGISTRY)


for _builtin in (
    GPTBotsProvider(),
    AltaBotsProvider(),
    AitutorProvider(),
    DifyProvider(),
    CozeProvider(),
    CozeStudioProvider(),
):
    register_provider(_builtin)
