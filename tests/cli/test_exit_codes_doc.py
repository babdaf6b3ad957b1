"""The exit codes are written down once in docs/cli.md, and that table matches the code."""

from __future__ import annotations

import re
from pathlib import Path

from flowinvoke.cli._exit import ExitCode

CLI_DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def documented_codes() -> list[int]:
    section = CLI_DOC.read_text("utf-8").split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return [int(code) for code in re.findall(r"^\| (\d+) \|", section, flags=re.MULTILINE)]


def test_the_exit_code_table_lists_exactly_the_enum_values() -> None:
    assert documented_codes() == sorted(code.value for code in ExitCode)
