"""The results file of `flowinvoke batch`: read back on `--resume`, appended to safely.

Every line this command writes starts `{"index": N, ` (a resume reads a million of them in a
second); `scan_results` collects the indices already done and cuts off a torn last line (a
crash mid-write); `ResultWriter` appends each line in one write, flushed, and repairs a line
an interruption left half-written. A result that cannot be written as UTF-8 JSON becomes an
error line, so every input gets a line and a batch always makes progress.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

import click

from flowinvoke import BatchItem

from ._exit import flag_words
from ._safe import clean_json

__all__ = [
    "IndexSet",
    "ResultWriter",
    "count_todo",
    "error_result",
    "parse_input",
    "result_line",
    "scan_results",
]


def parse_input(raw: bytes) -> dict[str, Any] | str:
    """The input object of a line, or why it is not one (a message for its error line)."""
    try:
        value = json.loads(raw)
        json.dumps(value)  # the client must be able to send it again
    except RecursionError:
        return "not a usable JSON object: nested too deeply"
    except ValueError as exc:  # UnicodeDecodeError included
        return f"not valid JSON: {exc}"
    if not isinstance(value, dict):
        kind = "an array" if isinstance(value, list) else type(value).__name__
        return f"expected a JSON object, got {kind}"
    return value


def result_line(item: BatchItem, index: int) -> dict[str, Any]:
    """The output line of one finished input (before `json.dumps`)."""
    run = item.run
    error: dict[str, str] | None = None
    if item.error is not None:
        error = {"type": type(item.error).__name__, "message": flag_words(str(item.error))}
    elif not item.ok:  # pragma: no cover - a batch item without success carries an error
        error = {"type": "Unknown", "message": "the run did not succeed"}
    return {
        "index": index,
        "run_id": item.run_id,
        "status": None if run is None else run.status.value,
        "output": None if run is None else run.output,
        "error": error,
    }


def error_result(index: int, kind: str, message: str, **known: Any) -> dict[str, Any]:
    """The output line of an input that has no run result (a bad line, an unwritable one)."""
    return {
        "index": index,
        "run_id": known.get("run_id"),
        "status": known.get("status"),
        "output": None,
        "error": {"type": kind, "message": message},
    }


def _encode(line: dict[str, Any]) -> bytes:
    """One result line as UTF-8 JSON (key masked, control characters escaped).

    A result that cannot be written so (an output holding a lone surrogate, or nested too
    deeply to encode) becomes an error line of type `UnwritableResult` with its run id and
    status, so that its input is done and a resume never starts it again.
    """
    try:
        return (clean_json(json.dumps(line, ensure_ascii=False, default=str)) + "\n").encode()
    except (ValueError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
        reason = f"the result cannot be written as UTF-8 JSON: {type(exc).__name__}: {exc}"
        known = {name: line.get(name) for name in ("run_id", "status")}
        fallback = error_result(line["index"], "UnwritableResult", reason, **known)
        return (clean_json(json.dumps(fallback, default=str)) + "\n").encode()


class IndexSet:
    """A set of non-negative ints as a bitmap: a million indices take 125 kB."""

    __slots__ = ("_bits", "count")

    def __init__(self) -> None:
        self._bits = bytearray()
        self.count = 0

    def add(self, index: int) -> bool:
        """Add `index`; False if it was there already."""
        byte, bit = divmod(index, 8)
        if byte >= len(self._bits):
            self._bits.extend(bytes(max(byte + 1 - len(self._bits), len(self._bits))))
        if self._bits[byte] >> bit & 1:
            return False
        self._bits[byte] |= 1 << bit
        self.count += 1
        return True

    def __contains__(self, index: int) -> bool:
        byte, bit = divmod(index, 8)
        return byte < len(self._bits) and bool(self._bits[byte] >> bit & 1)


#: The start of every line this command writes: a resume reads a million of them in a second.
_INDEX_PREFIX = re.compile(rb'\{"index": (\d+), ')


def _index_of(line: bytes) -> int | None:
    """The `index` of a result line, or None if it is not one."""
    match = _INDEX_PREFIX.match(line)
    if match is not None and line.rstrip().endswith(b"}"):
        return int(match[1])
    try:  # written by hand, or by another tool: read it properly
        index = json.loads(line)["index"]
    except (ValueError, TypeError, KeyError):
        return None
    return index if type(index) is int and index >= 0 else None


def scan_results(path: Path) -> IndexSet:
    """The indices already in a results file; a torn last line is truncated away.

    Raises:
        click.UsageError: a complete line is not a result line of this command.
    """
    done = IndexSet()
    good = 0  # the end of the last complete line
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            if not raw.endswith(b"\n"):
                break  # torn: written by a process that died mid-line
            good += len(raw)
            if not raw.strip():
                continue
            index = _index_of(raw)
            if index is None:
                raise click.UsageError(
                    f"line {number} of {path} is not a result line of 'flowinvoke batch'; "
                    "choose another --out"
                )
            done.add(index)
    if good < path.stat().st_size:
        with path.open("r+b") as file:
            file.truncate(good)
    return done


class ResultWriter:
    """Appends result lines, each in one write and flushed; never leaves a torn line."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self._good = file.seek(0, os.SEEK_END)
        self.written = 0

    def write(self, line: dict[str, Any]) -> None:
        data = _encode(line)
        self._file.write(data)
        self._file.flush()
        self._good += len(data)
        self.written += 1

    def repair(self) -> None:
        """Cut off a line an interruption left half-written (a signal during `write`)."""
        with suppress(OSError, ValueError):  # best effort, on the way out
            self._file.truncate(self._good)


def count_todo(path: Path, done: IndexSet) -> int:
    """Non-blank lines not done yet: a quick pass that gives the progress bar its total."""
    with path.open("rb") as file:
        return sum(1 for number, raw in enumerate(file) if raw.strip() and number not in done)
