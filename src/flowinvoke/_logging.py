"""The `flowinvoke` logger. Records name operations, ids and reasons, never keys or headers."""

from __future__ import annotations

import logging

__all__ = ["logger"]

logger = logging.getLogger("flowinvoke")
# A library's records go where the application sends them; without a handler of its own,
# Python would print warnings bare to stderr in an application that never set up logging.
logger.addHandler(logging.NullHandler())
