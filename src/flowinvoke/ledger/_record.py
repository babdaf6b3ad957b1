"""What the ledger keeps of a run: its rows as plain values, and the digests that name
inputs and accounts without holding them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .._core.models import WorkflowRun

__all__ = [
    "MAX_KEY_LENGTH",
    "Intent",
    "LedgerState",
    "RunRecord",
    "account_digest",
    "check_key",
    "inputs_digest",
]

#: The longest idempotency key, in characters (Stripe's limit too).
MAX_KEY_LENGTH = 255


class LedgerState(str, Enum):
    """Where a keyed run stands in the ledger."""

    STARTING = "starting"  #: the intent is written; the start is on its way
    STARTED = "started"  #: the platform gave a run id; the run is not known to be done
    AMBIGUOUS = "ambiguous"  #: the start was sent and its answer lost: it may have started
    FINISHED = "finished"  #: the run ended; its last state is recorded


@dataclass(frozen=True)
class Intent:
    """A row about to be claimed: everything known before the start is sent."""

    key: str
    provider: str
    host: str
    workflow: str
    account: str
    inputs_digest: str
    inputs: str | None  # JSON, only when the client opted in
    owner: str
    trace: str | None = None


@dataclass(frozen=True)
class RunRecord:
    """One run of the ledger.

    Attributes:
        key: The caller's idempotency key.
        provider, host, workflow: Where the run was started (the base URL's host; the
            workflow id, or a digest of the key where the key names the workflow).
        account: A digest of the API key (never the key itself).
        inputs_digest: SHA-256 of the inputs' canonical JSON.
        inputs: The inputs as JSON text, only where the client stores them.
        state: Where the run stands (`LedgerState`).
        run_id: The platform's run id, once it gave one.
        status: The run's last status word (`RunStatus` value), once finished.
        created_at, updated_at, finished_at: Unix times.
        attempts: Starts sent for this key (more than one only after an explicit restart).
        owner: Which process wrote the intent (host/pid/token).
        result: The finished run (a `WorkflowRun` as JSON), error: the failure as
            `{"type", "message"}` JSON, trace: a W3C traceparent where tracing was on.
    """

    key: str
    provider: str
    host: str
    workflow: str
    account: str
    inputs_digest: str
    inputs: str | None
    state: LedgerState
    run_id: str | None
    status: str | None
    created_at: float
    updated_at: float
    finished_at: float | None
    attempts: int
    owner: str
    result: str | None
    error: str | None
    trace: str | None

    @property
    def run(self) -> WorkflowRun | None:
        """The recorded final state of the run, or None while it is not finished."""
        if self.result is None:
            return None
        # json.loads, not model_validate_json: a recorded lone surrogate is an escape that
        # only Python's parser reads back.
        return WorkflowRun.model_validate(json.loads(self.result))

    @property
    def done(self) -> bool:
        """True once the run's end is recorded."""
        return self.state is LedgerState.FINISHED

    def summary(self) -> dict[str, Any]:
        """The row as JSON-ready values (the result and error decoded), for display."""
        values = {name: getattr(self, name) for name in COLUMNS}
        values["state"] = self.state.value
        for name in ("result", "error"):
            if values[name] is not None:
                values[name] = json.loads(values[name])
        return values


#: The columns of a row, in `RunRecord` order (the SQL of every backend uses these).
COLUMNS = tuple(RunRecord.__dataclass_fields__)


def check_key(key: object) -> str:
    """The key, checked: a non-empty str of at most `MAX_KEY_LENGTH` characters."""
    if not isinstance(key, str):
        raise TypeError(f"key must be a str, not {type(key).__name__}")
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"key must be 1 to {MAX_KEY_LENGTH} characters long, not {len(key)}")
    if not key.isprintable():
        raise ValueError("key must hold printable characters only")
    return key


def canonical_json(value: Any) -> str:
    """One spelling of a JSON value (sorted keys, no spaces), so equal inputs digest alike."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def inputs_digest(inputs: Mapping[str, Any], user_id: str | None) -> str:
    """SHA-256 of what a start sends besides the key: the inputs and the user id."""
    import hashlib  # on a keyed call only: hashlib costs milliseconds to import

    text = canonical_json({"input": inputs, "user_id": user_id})
    return hashlib.sha256(text.encode()).hexdigest()


def account_digest(api_key: str) -> str:
    """A one-way name of the account behind an API key: equal keys, equal digests."""
    import hashlib
    import hmac

    return hmac.new(b"flowinvoke-ledger-account", api_key.encode(), hashlib.sha256).hexdigest()
