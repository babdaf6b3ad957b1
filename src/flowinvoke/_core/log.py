"""The `flowinvoke` logger. Records name operations, ids and reasons, never keys or headers.

Every record carries the structured fields `run_id`, `provider`, `operation` and
`attempt` (None where they do not apply), so a JSON formatter or a log pipeline can index
them without parsing messages. `FLOWINVOKE_LOG=debug|info` turns on a stderr handler, as
`OPENAI_LOG` does for openai-python.
"""

from __future__ import annotations

import logging
import os

__all__ = ["FIELDS", "logger"]

#: The structured fields every `flowinvoke` record has.
FIELDS = ("run_id", "provider", "operation", "attempt")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}

logger = logging.getLogger("flowinvoke")


class _StructuredFields(logging.Filter):
    """Gives every record the structured fields, None where a record did not set one."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in FIELDS:
            if not hasattr(record, name):
                setattr(record, name, None)
        return True


def _log_from_environment() -> None:
    level = _LEVELS.get(os.environ.get("FLOWINVOKE_LOG", "").strip().lower())
    if level is None:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter(
            "[%(asctime)s %(levelname)s %(name)s] %(message)s "
            "(run_id=%(run_id)s operation=%(operation)s attempt=%(attempt)s)"
        )
    )
    logger.addHandler(handler)
    logger.setLevel(level)


logger.addFilter(_StructuredFields())
# A library's records go where the application sends them; without a handler of its own,
# Python would print warnings bare to stderr in an application that never set up logging.
logger.addHandler(logging.NullHandler())
_log_from_environment()
