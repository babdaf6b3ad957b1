"""mypy sees what `output_type=` promises: `WorkflowRun[T]` whose `.output` is a `T`.

tests/typing/typed_outputs.py states the types with `assert_type` and holds one deliberate
mistake; mypy, with the project's own settings (strict, the pydantic plugin), must report
that mistake and nothing else.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_typed_outputs_type_check(tmp_path: Path) -> None:
    snippet = ROOT / "tests" / "typing" / "typed_outputs.py"
    # In a process of its own: mypy raises the interpreter's recursion limit for good.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            str(snippet),
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            "--no-incremental",
            "--warn-unused-ignores",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    out, err, status = done.stdout, done.stderr, done.returncode
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert len(errors) == 1, out + err
    assert "typed_outputs.py:41: error: Incompatible return value type" in errors[0], out
    assert '(got "Answer", expected "int")' in errors[0], out
    assert status == 1
