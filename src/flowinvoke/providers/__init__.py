"""Providers: one module per platform, translating its wire format to flowinvoke's model.

Built-in providers are registered by name. Add your own platform by subclassing `Provider`
and calling `register_provider`; clients then accept its name as `provider=`.

A built-in provider's module is imported when its name is first asked for (a GPTBots client
never loads the Dify, Coze or event-stream code), and so are the provider classes here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._core.errors import ConfigurationError
from .._core.lazy import lazy_dir, lazy_getattr
from ._base import (
    AuthScheme,
    ErrorInfo,
    ErrorKind,
    Operation,
    Provider,
    RequestSpec,
    StreamError,
)

if TYPE_CHECKING:
    from ._sse import ServerSentEvent
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

_HOMES = {
    "AitutorProvider": ".aitutor",
    "AltaBotsProvider": ".gptbots",
    "CozeProvider": ".coze",
    "CozeStudioProvider": ".coze",
    "DifyProvider": ".dify",
    "GPTBotsProvider": ".gptbots",
    "ServerSentEvent": "._sse",
}

_load = lazy_getattr(__name__, _HOMES, globals())
if not TYPE_CHECKING:  # mypy reads the imports above; a visible __getattr__ would hide typos
    __getattr__ = _load
__dir__ = lazy_dir(globals(), __all__)

#: The built-in providers by name, and their classes, made and registered on first use.
_BUILTIN = {
    "gptbots": "GPTBotsProvider",
    "altabots": "AltaBotsProvider",
    "aitutor": "AitutorProvider",
    "dify": "DifyProvider",
    "coze": "CozeProvider",
    "coze-studio": "CozeStudioProvider",
}

_REGISTRY: dict[str, Provider] = {}


def register_provider(provider: Provider, *, replace: bool = False) -> None:
    """Make `provider` available by its `name`.

    Raises:
        ValueError: another provider has that name and `replace` is False.
    """
    if not isinstance(provider, Provider):
        raise TypeError(f"expected a Provider instance, got {type(provider).__name__}")
    if (provider.name in _REGISTRY or provider.name in _BUILTIN) and not replace:
        raise ValueError(f"a provider named {provider.name!r} is already registered")
    _REGISTRY[provider.name] = provider


def get_provider(name: str | Provider) -> Provider:
    """The registered provider called `name` (a `Provider` instance is returned as is).

    Raises:
        ConfigurationError: no provider has that name; the message lists those that do.
    """
    if isinstance(name, Provider):
        return name
    key = name.strip().lower()
    provider = _REGISTRY.get(key)
    if provider is None:
        if key not in _BUILTIN:
            raise ConfigurationError(
                f"unknown provider {name!r}; choose one of: {', '.join(available_providers())}"
            )
        # setdefault: two threads asking at once still share one instance.
        provider = _REGISTRY.setdefault(key, _load(_BUILTIN[key])())
    return provider


def available_providers() -> list[str]:
    """The names of every registered provider, sorted."""
    return sorted({*_REGISTRY, *_BUILTIN})
