"""mypy sees what `output_type=` promises: `WorkflowRun[T]` whose `.output` is a `T`.

tests/typing/typed_outputs.py states the types with `assert_type` and holds one deliberate
mistake; mypy, with the project's own settings (strict, the pydantic plugin), must report
that mistake and nothing else.
"""

from __future__ import annotations

from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[1]


def test_typed_outputs_type_check(tmp_path: Path) -> None:
    snippet = ROOT / "tests" / "typing" / "typed_outputs.py"
    out, err, status = api.run(
        [
            str(snippet),
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            "--no-incremental",
            "--warn-unused-ignores",
        ]
    )
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert len(errors) == 1, out + err
    assert "typed_outputs.py:41: error: Incompatible return value type" in errors[0], out
    assert '(got "Answer", expected "int")' in errors[0], out
    assert status == 1
