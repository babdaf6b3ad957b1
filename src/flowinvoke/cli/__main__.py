"""`python -m flowinvoke.cli`: the same as the `flowinvoke` command."""

from __future__ import annotations

from . import run

run()
