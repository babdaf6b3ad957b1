"""Typed outputs: validating a value into the type a caller asked for, with pydantic.

The check of the type itself (can pydantic validate into it?) happens when the call is
made, before any request, so a wrong `output_type` never costs a run. What a mismatch
means for a run (`OutputValidationError`, carrying it) is the run model's business.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter, ValidationError

from .errors import ConfigurationError

__all__ = ["OutputAdapter", "output_adapter"]

T = TypeVar("T")


class OutputAdapter(Generic[T]):
    """Validates outputs into one type; built (and its type checked) before a call sends."""

    __slots__ = ("_adapter", "name")

    def __init__(self, output_type: type[T]) -> None:
        self.name = getattr(output_type, "__name__", None) or repr(output_type)
        try:
            self._adapter: TypeAdapter[T] = _type_adapter(output_type)
        except Exception as error:  # pydantic's schema errors, TypeError for non-types
            raise ConfigurationError(
                f"output_type={self.name} cannot be validated by pydantic: {error}"
            ) from None

    def validate(self, output: Any) -> T:
        """The output as a `T`; a string holding JSON is decoded first (Coze sends such).

        Raises:
            pydantic.ValidationError: it does not fit.
        """
        if isinstance(output, str):
            try:
                decoded = json.loads(output)
            except ValueError:
                pass
            else:
                try:
                    return self._adapter.validate_python(decoded)
                except ValidationError as decoded_error:
                    try:  # a type that takes the string itself (`str`, a union with it)
                        return self._adapter.validate_python(output)
                    except ValidationError:
                        raise decoded_error from None
        return self._adapter.validate_python(output)


def output_adapter(output_type: type[T]) -> OutputAdapter[T]:
    """The adapter of `output_type`.

    Raises:
        ConfigurationError: pydantic cannot validate into it.
    """
    return OutputAdapter(output_type)


@functools.lru_cache(maxsize=256)
def _cached_type_adapter(output_type: Any) -> TypeAdapter[Any]:
    return TypeAdapter(output_type)


def _type_adapter(output_type: Any) -> TypeAdapter[Any]:
    # Building a TypeAdapter costs far more than validating: one per type, however many
    # runs use it (a type that cannot be hashed gets its own each time).
    try:
        return _cached_type_adapter(output_type)
    except TypeError as error:
        if "unhashable" not in str(error):
            raise
        return TypeAdapter(output_type)
