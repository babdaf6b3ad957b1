"""Typed outputs: a finished run's output validated into the type the caller asked for.

The check of the type itself (can pydantic validate into it?) happens when the call is
made, before any request, so a wrong `output_type` never costs a run. A mismatch found
after the run raises `OutputValidationError`, which carries the run as received: the
result the caller paid for is never lost to a validation error.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Generic, TypeVar, cast

from pydantic import TypeAdapter, ValidationError

from .errors import ConfigurationError, OutputValidationError
from .models import WorkflowRun

__all__ = ["OutputAdapter", "output_adapter", "typed_run", "validated"]

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
        """The output as a `T`; a string holding JSON is decoded first (Coze sends such)."""
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


def validated(run: WorkflowRun, adapter: OutputAdapter[T]) -> WorkflowRun[T]:
    """A copy of `run` whose output is validated.

    Raises:
        OutputValidationError: the output does not fit; it carries `run` as it was.
    """
    try:
        output = adapter.validate(run.output)
    except ValidationError as error:
        problems = error.errors(include_url=False, include_context=False, include_input=False)
        raise OutputValidationError(run, output_type=adapter.name, errors=problems) from None
    return cast("WorkflowRun[T]", run.model_copy(update={"output": output}))


def typed_run(run: WorkflowRun, adapter: OutputAdapter[T] | None) -> WorkflowRun[T]:
    """`run` validated by `adapter` when there is one and the run succeeded; else as it is.

    A run that has not succeeded (pending, running, failed) has no output to promise: it
    keeps what the server sent.
    """
    if adapter is None or not run.succeeded:
        return cast("WorkflowRun[T]", run)
    return validated(run, adapter)


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
