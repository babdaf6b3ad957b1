"""The ledger's exception tree: each error names the setting to look at."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._core.errors import ConfigurationError, FlowInvokeError

if TYPE_CHECKING:
    from .._core.models import WorkflowRun

__all__ = [
    "AmbiguousStartError",
    "KeyConflictError",
    "LedgerError",
    "LedgerSchemaError",
    "LedgerUnavailableError",
    "LedgerWriteError",
    "MissingLedgerError",
]


class LedgerError(FlowInvokeError):
    """Base class of the errors of the run ledger (`ledger=` / `FLOWINVOKE_LEDGER`)."""


class LedgerUnavailableError(LedgerError):
    """The ledger cannot be opened or read: an unwritable path, a locked or corrupt file,
    a refused or lost database connection. Nothing was started because of a failed read;
    a failure after a start is a `LedgerWriteError` instead."""


class LedgerSchemaError(LedgerError):
    """The ledger was written by a newer flowinvoke (a schema version this one does not
    know): upgrade flowinvoke, or point `ledger=` at another file or database."""


class LedgerWriteError(LedgerError):
    """Recording a run failed after it was started: `run_id` holds its id (and `run` the
    last state seen, once it finished), so it can still be waited for with `wait(run_id)`."""

    def __init__(
        self, message: str, *, run_id: str | None = None, run: WorkflowRun | None = None
    ) -> None:
        super().__init__(message, run_id=run_id)
        self.run = run


class MissingLedgerError(ConfigurationError):
    """`key=` was given to a client without a ledger (`ledger=` or `FLOWINVOKE_LEDGER`)."""


class KeyConflictError(LedgerError, ValueError):
    """The key was already used for a run with other inputs or another workflow, provider,
    host or account (a key names one request, as Stripe's idempotency keys do).

    Attributes:
        key: The idempotency key.
        field: What differs ("inputs", "workflow", "provider", "host" or "account").
    """

    def __init__(self, key: str, field: str, *, run_id: str | None = None) -> None:
        super().__init__(
            f"key {key!r} was already used for a run with another {field}; "
            "use a new key for a different request",
            run_id=run_id,
        )
        self.key = key
        self.field = field


class AmbiguousStartError(LedgerError):
    """The key's start was sent but its answer never recorded (a crash, a cut connection or
    a timeout between the two writes): the run may exist on the platform and be paid for.

    It is never started again silently. Check the platform's run list, then either keep
    the key (and this error) or start again on purpose with `on_ambiguous="restart"`.

    Attributes:
        key: The idempotency key.
        attempts: How many starts were sent for it so far.
    """

    def __init__(self, key: str, attempts: int) -> None:
        super().__init__(
            f"the start of key {key!r} may have happened (sent {attempts} time(s), no run id "
            'recorded); it was not repeated: pass on_ambiguous="restart" to start it again'
        )
        self.key = key
        self.attempts = attempts
