"""Reading a run's input from `--input key=value` and `--input-json` flags.

`--input key=value`: the value is read as JSON when it is valid JSON (`n=3` gives the number
3, `ok=true` a boolean, `tags=["a","b"]` a list, `s="42"` the string "42"), and as a plain
string otherwise (`name=Ada` gives "Ada"). NaN and Infinity are not JSON and stay strings.
`--input-json` takes a JSON object, `@path` to read one from a file, or `@-` for standard
input; `--input` pairs are applied on top of it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

__all__ = ["build_input", "parse_pair", "parse_pairs"]


def _reject_constant(word: str) -> Any:
    raise ValueError(f"{word} is not valid JSON")


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


def parse_pair(text: str) -> tuple[str, Any]:
    """Split `key=value`, reading the value as JSON when it is valid JSON, else as a string.

    Raises:
        click.BadParameter: no `=`, or an empty key.
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise click.BadParameter(f"expected key=value, got {text!r}")
    try:
        return key.strip(), _loads(value)
    except ValueError:
        return key.strip(), value


def parse_pairs(
    ctx: click.Context, param: click.Parameter, values: Sequence[str]
) -> list[tuple[str, Any]]:
    """Click callback of `--input`: every `key=value` parsed."""
    return [parse_pair(value) for value in values]


def _read_json_argument(value: str) -> str:
    if not value.startswith("@"):
        return value
    source = value[1:]
    if source == "-":
        return sys.stdin.read()
    try:
        return Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise click.BadParameter(
            f"cannot read {source!r}: {exc.strerror or exc}", param_hint="'--input-json'"
        ) from None


def build_input(json_argument: str | None, pairs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """The run input: the `--input-json` object (if any) updated with the `--input` pairs.

    Raises:
        click.BadParameter: the JSON is invalid, unreadable or not an object.
    """
    data: dict[str, Any] = {}
    if json_argument is not None:
        text = _read_json_argument(json_argument)
        try:
            loaded = _loads(text)
        except ValueError as exc:
            raise click.BadParameter(
                f"not valid JSON: {exc}", param_hint="'--input-json'"
            ) from None
        if not isinstance(loaded, dict):
            raise click.BadParameter(
                f"expected a JSON object, got {type(loaded).__name__}",
                param_hint="'--input-json'",
            )
        data.update(loaded)
    data.update(pairs)
    return data
