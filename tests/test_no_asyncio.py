"""The async core must run on trio: nothing in the library may import asyncio."""

from __future__ import annotations

import ast
from pathlib import Path

import flowinvoke

SRC = Path(flowinvoke.__file__).parent


def test_the_library_imports_no_asyncio() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.parent.name == "temporal":  # Temporal runs workflows on its own asyncio loop
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] == "asyncio" for name in names):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert offenders == []
