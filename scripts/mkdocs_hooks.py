"""mkdocs hooks (mkdocs.yml `hooks:`): fail the strict docs build on a list glued to a
paragraph; let long paths in table cells wrap at their slashes.

Python-Markdown needs a blank line before a list: a `- item` line directly under a paragraph
line renders as part of that paragraph, one run-on sentence, and `mkdocs build --strict`
says nothing. This hook warns for each such line (so the strict build fails), and
tests/test_docs_lists.py runs the same check on docs/*.md without mkdocs.
"""

from __future__ import annotations

import logging
import re
from typing import Any

__all__ = ["glued_list_lines", "on_page_content", "paths_wrap_at_slashes"]

_ITEM = re.compile(r"( *)(?:[-*+] |\d+\. )")
_NOT_PARAGRAPH = re.compile(r"\s*(?:[-*+] |\d+\. |\||#|!!!|\?\?\?|```|~~~|>|<)")
_FENCE = re.compile(r"\s*(?:```|~~~)")
_CELL = re.compile(r"<td>.*?</td>", re.DOTALL)
_CODE = re.compile(r"<code>([^<]*)</code>")

log = logging.getLogger("mkdocs.hooks.glued_lists")


def glued_list_lines(markdown: str) -> list[int]:
    """1-based numbers of list lines that directly follow a paragraph line of the same indent."""
    glued: list[int] = []
    fenced = False
    previous = ""
    for number, line in enumerate(markdown.splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
        item = _ITEM.match(line)
        if (
            not fenced
            and item is not None
            and previous.strip()
            and len(previous) - len(previous.lstrip(" ")) == len(item[1])
            and not _NOT_PARAGRAPH.match(previous)
        ):
            glued.append(number)
        previous = line
    return glued


def on_page_markdown(markdown: str, *, page: Any, **_: Any) -> str:
    """Warn (an error under --strict) for each list glued to the paragraph above it."""
    for number in glued_list_lines(markdown):
        log.warning(
            "%s:%d: a list needs a blank line before it (it renders as part of the paragraph)",
            page.file.src_uri,
            number,
        )
    return markdown


def paths_wrap_at_slashes(html: str) -> str:
    """Inline code in table cells may break after a `/` (`<wbr>`), never inside a word.

    The site's CSS keeps identifiers whole (docs/stylesheets/extra.css), so a long API path
    such as `/v1/workflows/{workflow_id}/run_histories/{execute_id}` would widen its table
    past the page; a break opportunity after each slash lets it wrap where a reader
    expects. Copying the code copies no `<wbr>`.
    """

    def code(match: re.Match[str]) -> str:
        text = match[1]
        head, rest = text[:1], text[1:]  # no break right after a leading slash
        return f"<code>{head}{rest.replace('/', '/<wbr>')}</code>"

    return _CELL.sub(lambda cell: _CODE.sub(code, cell[0]), html)


def on_page_content(html: str, **_: Any) -> str:
    """Let long paths in table cells wrap at their slashes (see paths_wrap_at_slashes)."""
    return paths_wrap_at_slashes(html)
