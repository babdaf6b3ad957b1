"""Public names imported on first use (PEP 562), as pydantic's own `__init__` does.

`import flowinvoke` then costs next to nothing, and `flowinvoke.providers` loads only the
provider a client names. Each package keeps one table of where its names live; the real
imports sit under `if TYPE_CHECKING:` beside it, for mypy, IDEs and readers.
"""

from __future__ import annotations

from importlib import import_module

# Not `from typing import TYPE_CHECKING`: typing costs ~7 ms, as much as the rest of `import
# flowinvoke`. Type checkers treat any constant of this name as true (mypy, pyright; PEP 781).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any

__all__ = ["lazy_dir", "lazy_getattr"]


def lazy_getattr(
    package: str, homes: Mapping[str, str], namespace: dict[str, Any]
) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: name `n` comes from module `homes[n]` (relative
    to `package`; a home named after `n` itself is the submodule `n`), imported on first use
    and then kept in `namespace`, so that the next lookup is a plain module attribute."""

    def __getattr__(name: str) -> Any:
        try:
            home = homes[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        module = import_module(home, package)
        value = module if module.__name__ == f"{package}.{name}" else getattr(module, name)
        namespace[name] = value
        return value

    return __getattr__


def lazy_dir(namespace: Mapping[str, Any], names: Iterable[str]) -> Callable[[], list[str]]:
    """A module `__dir__`: what the module holds so far, and every lazy public name."""

    def __dir__() -> list[str]:
        return sorted({*namespace, *names})

    return __dir__
