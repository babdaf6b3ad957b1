"""`python -m flowinvoke.cli`: the same as the `flowinvoke` command."""

from __future__ import annotations

import sys

from . import main

sys.exit(main())
