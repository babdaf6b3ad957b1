"""The docs have no list glued to a paragraph (it would render as run-on text on the site),
and long paths in table cells may wrap at their slashes."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", ROOT / "scripts/mkdocs_hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_check_finds_a_glued_list_and_passes_a_proper_one() -> None:
    check = _hooks().glued_list_lines
    assert check("Some text:\n- one\n- two\n") == [2]
    assert check("Some text:\n\n- one\n- two\n") == []
    assert check("```\ntext\n- not a list\n```\n") == []
    assert check("- one\n  continued\n- two\n") == []
    assert check("Steps:\n1. first\n") == [2]
    assert check("| a | b |\n- x\n") == []


def test_no_docs_page_glues_a_list_to_a_paragraph() -> None:
    check = _hooks().glued_list_lines
    pages = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
    glued = [f"{page.relative_to(ROOT)}:{n}" for page in pages for n in check(page.read_text())]
    assert glued == [], "a list needs a blank line before it: " + ", ".join(glued)


def test_paths_in_table_cells_may_wrap_at_slashes_only() -> None:
    wrap = _hooks().paths_wrap_at_slashes
    cell = "<td>see <code>/v1/runs/{id}</code></td>"
    assert wrap(cell) == "<td>see <code>/v1/<wbr>runs/<wbr>{id}</code></td>"
    prose = "<p><code>/v1/runs</code></p>"
    assert wrap(prose) == prose  # outside tables, code is left as written
    assert wrap("<td><code>flowinvoke.run_id</code></td>") == (
        "<td><code>flowinvoke.run_id</code></td>"
    )
