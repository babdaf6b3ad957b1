"""The `flowinvoke` logger. Records name operations, ids and reasons, never keys or headers."""

from __future__ import annotations

import logging

__all__ = ["logger"]

logger = logging.getLogger("flowinvoke")
