"""The Python code blocks of README.md and docs/*.md, read for tests/test_docs_examples.py.

Every ```python block is run by the test suite. An HTML comment on the line before a block
(invisible on the site and on GitHub; a blank line between is fine) tells the collector how:

- `<!-- example: fragment -->`: a deliberate fragment (a line out of a larger program, with
  names the reader brings); not run, but counted, so the share of fragments stays visible.
- `<!-- example: env NAME=value ... -->`: the environment the block expects (the docs tell
  the reader to export these first); the test sets them.
- `<!-- example: output -->` before a ```text block right after a Python block: what that
  block prints, compared line by line with what it printed.
- `<!-- example: request METHOD PATH [name=value ...] -->`: the block defines a web app,
  `app`; after the block, the test sends it this request (with its lifespan) and expects
  HTTP 200 with a `run_id`.

A block that defines `test_*` functions is a user's test module: it runs under pytest.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))

_FENCE = re.compile(r"^(?P<indent> *)(?P<ticks>```+|~~~+)(?P<lang>[\w+-]*)")
_MARKER = re.compile(r"^ *<!-- example: (?P<word>\w+)(?P<rest>[^>]*?) *-->\s*$")
MARKERS = ("fragment", "env", "output", "request")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    source: str
    marker: str | None = None
    marker_args: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{shown(self.page)}:{self.line}"


@dataclass
class Example:
    """A Python block, with what the page says it needs and prints."""

    block: Block
    env: dict[str, str] = field(default_factory=dict)
    output: str | None = None

    @property
    def fragment(self) -> bool:
        return self.block.marker == "fragment"

    @property
    def request(self) -> tuple[str, ...] | None:
        return self.block.marker_args if self.block.marker == "request" else None

    @property
    def is_test_module(self) -> bool:
        return re.search(r"^(async )?def test_", self.block.source, re.MULTILINE) is not None


def shown(page: Path) -> str:
    """A page's path as the test ids show it: from the repository root when inside it."""
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else page.name


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a page, in order, each with the marker comment just above it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, ticks = opening["indent"], opening["ticks"]
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(ticks):
            end += 1
        body = [line[len(indent) :] for line in lines[index + 1 : end]]
        marker = _marker_above(lines, index)
        found.append(
            Block(
                page=page,
                line=index + 1,
                lang=opening["lang"],
                source="\n".join(body) + "\n",
                marker=marker["word"] if marker else None,
                marker_args=tuple(shlex.split(marker["rest"])) if marker else (),
            )
        )
        index = end + 1
    return found


def _marker_above(lines: list[str], index: int) -> re.Match[str] | None:
    """The marker comment on the line above a fence, or above one blank line."""
    above = index - 1
    if above >= 0 and not lines[above].strip():
        above -= 1
    return _MARKER.match(lines[above]) if above >= 0 else None


def examples(pages: tuple[Path, ...] = PAGES) -> list[Example]:
    """Every Python block of the pages, with its environment and expected output."""
    found: list[Example] = []
    for page in pages:
        page_blocks = blocks(page)
        for position, block in enumerate(page_blocks):
            if block.lang != "python":
                continue
            example = Example(block)
            if block.marker == "env":
                example.env = dict(arg.split("=", 1) for arg in block.marker_args)
            following = page_blocks[position + 1] if position + 1 < len(page_blocks) else None
            if following is not None and following.marker == "output":
                example.output = following.source
            found.append(example)
    return found


def unknown_markers(pages: tuple[Path, ...] = PAGES) -> list[str]:
    """Marker comments the collector does not understand (a typo would silently skip)."""
    bad = []
    for page in pages:
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            marker = _MARKER.match(line)
            written = line.lstrip().startswith("<!-- example")
            if written and (marker is None or marker["word"] not in MARKERS):
                bad.append(f"{shown(page)}:{number}")
    return bad
