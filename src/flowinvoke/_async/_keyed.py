"""Starts that happen once per key: a client's keyed runs over its ledger.

The intent is written before the start is sent (`Ledger.claim`: one caller wins a key,
across processes), the run id as soon as a state carries it, and the last state when the
run ends. A caller that finds the key taken waits on the recorded run (or returns its
recorded end at once); one that finds an intent without a run id waits for the id while
its writer is alive and starting, and otherwise meets an ambiguous start, which is never
sent again unless the caller says so (`on_ambiguous="restart"`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .._compat import async_call_maybe, async_sleep
from .._core.deadline import Deadline
from .._core.errors import APIError, FlowInvokeError
from .._core.models import WaitTimeoutError, WorkflowRun
from ..ledger._calls import async_ledger_call
from ..ledger._errors import (
    AmbiguousStartError,
    KeyConflictError,
    LedgerError,
    LedgerUnavailableError,
    LedgerWriteError,
)
from ..ledger._owner import START_GRACE, owner_is_gone, this_owner
from ..ledger._record import Intent, LedgerState, RunRecord

if TYPE_CHECKING:
    from ..ledger._protocol import Ledger

__all__ = ["AsyncKeyedRuns", "OnAmbiguous", "abandoned", "result_json"]

#: What a keyed call does with an ambiguous start: raise `AmbiguousStartError` (the
#: default, which never pays twice) or send the start again.
OnAmbiguous = Literal["raise", "restart"]
ON_AMBIGUOUS = ("raise", "restart")

#: How often a caller re-reads a key whose winner has not recorded a run id yet.
_ID_POLL_FIRST, _ID_POLL_MAX = 0.01, 0.5

OnUpdate = Callable[[WorkflowRun], object]


class Start(Protocol):
    """Send the start and follow the run, handing each state to `on_update`."""

    async def __call__(self, on_update: OnUpdate, /) -> WorkflowRun: ...


class Wait(Protocol):
    """Follow a recorded run by its id until it ends or the deadline passes."""

    async def __call__(self, run_id: str, deadline: Deadline, /) -> WorkflowRun: ...


# (id of the ledger, key) of the starts this process is sending right now.
_starting: set[tuple[int, str]] = set()


@dataclass(frozen=True)
class AsyncKeyedRuns:
    """The keyed runs of one client (and those derived from it) over `ledger`."""

    ledger: Ledger
    store_inputs: bool

    async def once(
        self,
        intent: Intent,
        deadline: Deadline,
        on_ambiguous: OnAmbiguous,
        on_update: OnUpdate | None,
        start: Start,
        wait: Wait,
    ) -> WorkflowRun:
        """The run of `intent.key`: started here if no caller started it, else waited for
        (or its recorded end, with no request)."""
        record = await self._claim(intent, deadline, on_ambiguous)
        if record is None:
            return await self._start(intent.key, on_update, start)
        run = record.run
        if record.done and run is not None:
            if on_update is not None:
                await async_call_maybe(on_update, run)
            return run
        assert record.run_id is not None  # _claim returns a row with an id or an end
        run = await wait(record.run_id, deadline)
        if run.done:
            await self.finish(intent.key, run)
        return run

    async def finish(self, key: str, run: WorkflowRun) -> None:
        """Record a run's end; a failure keeps the run id (and the run) on the error."""
        error = None
        if not run.succeeded:
            error = json.dumps({"type": "WorkflowFailedError", "message": run.error})
        try:
            await self._write(
                self.ledger.finished,
                key,
                run.id,
                run.status.value,
                result_json(run, store_inputs=self.store_inputs),
                error,
            )
        except LedgerError as exc:
            raise LedgerWriteError(
                f"the run ended but recording its end failed: {exc.message}", run_id=run.id, run=run
            ) from exc

    async def _claim(
        self, intent: Intent, deadline: Deadline, on_ambiguous: OnAmbiguous
    ) -> RunRecord | None:
        """None when this caller is to send the start; else the key's row, with a run id
        or a recorded end."""
        won, record = await self._first_claim(intent)
        delay = _ID_POLL_FIRST
        while True:
            if won:
                _starting.add((id(self.ledger), intent.key))
                return None
            _check_same_request(record, intent)
            if record.done or record.run_id is not None:
                return record
            if record.state is LedgerState.AMBIGUOUS or abandoned(self.ledger, record):
                if on_ambiguous == "raise":
                    raise AmbiguousStartError(intent.key, record.attempts)
                won = await async_ledger_call(
                    self.ledger.take_over, intent.key, record.attempts, intent.owner
                )
                if won:
                    continue
            elif deadline.expired:
                raise WaitTimeoutError(
                    f"the run of key {intent.key!r} got no run id before the deadline "
                    "(another caller is starting it)",
                    run_id=None,
                )
            else:
                await async_sleep(deadline.cap(delay))
                delay = min(delay * 2, _ID_POLL_MAX)
            latest = await async_ledger_call(self.ledger.get, intent.key)
            if latest is None:  # its start surely failed and was released: claim it anew
                won, record = await async_ledger_call(self.ledger.claim, intent)
            else:
                record = latest

    async def _first_claim(self, intent: Intent) -> tuple[bool, RunRecord]:
        """`claim`, tried again once on a new connection. An intent of this process that
        no call of it is starting is the first attempt's, which landed before the cut."""
        try:
            return await async_ledger_call(self.ledger.claim, intent)
        except LedgerUnavailableError:
            pass
        try:
            won, record = await async_ledger_call(self.ledger.claim, intent)
        except LedgerUnavailableError:
            # Nothing was sent; take back an intent that may have been written, so that a
            # retry of this call starts cleanly.
            with suppress(LedgerError):
                await async_ledger_call(self.ledger.release, intent.key, intent.owner)
            raise
        ours = record.owner == intent.owner and record.state is LedgerState.STARTING
        if not won and ours and record.run_id is None:
            won = (id(self.ledger), intent.key) not in _starting
        return won, record

    async def _start(self, key: str, on_update: OnUpdate | None, start: Start) -> WorkflowRun:
        recorded: str | None = None

        async def record_id(state: WorkflowRun) -> None:
            nonlocal recorded
            if state.id is not None and recorded is None:
                recorded = state.id
                try:
                    await self._write(self.ledger.started, key, state.id)
                except LedgerError as exc:
                    raise LedgerWriteError(
                        f"the run started but recording its id failed: {exc.message}",
                        run_id=state.id,
                    ) from exc
            if on_update is not None:
                await async_call_maybe(on_update, state)

        try:
            run = await start(record_id)
        except LedgerWriteError:
            raise
        except FlowInvokeError as error:
            if recorded is None and error.run_id is None:
                await self._forget_start(key, error)
            raise
        finally:
            _starting.discard((id(self.ledger), key))
        if run.done:
            await self.finish(key, run)
        elif recorded is None and run.id is not None:
            await record_id(run)
        return run

    async def _write(self, write: Callable[..., None], *args: Any) -> None:
        """A write after the start, tried twice: a backend opens a lost connection again on
        the next call, and these writes may be repeated (they set, never add)."""
        try:
            await async_ledger_call(write, *args)
        except LedgerUnavailableError:
            await async_ledger_call(write, *args)

    async def _forget_start(self, key: str, error: FlowInvokeError) -> None:
        """After a start that gave no run id: release the key if surely nothing started,
        else mark the start ambiguous (never sent again silently)."""
        try:
            if isinstance(error, APIError) and error.may_have_started:
                details = json.dumps({"type": type(error).__name__, "message": error.message})
                await async_ledger_call(self.ledger.ambiguous, key, details)
            else:
                await async_ledger_call(self.ledger.release, key, this_owner())
        except LedgerError:
            pass  # the start's own error says more; the row stays ambiguous after START_GRACE


def abandoned(ledger: Ledger, record: RunRecord) -> bool:
    """True when an intent without a run id has no live start behind it."""
    if record.owner == this_owner():
        return (id(ledger), record.key) not in _starting
    return owner_is_gone(record.owner) or time.time() - record.updated_at > START_GRACE


def result_json(run: WorkflowRun, *, store_inputs: bool) -> str:
    """The run as the ledger keeps it: without its inputs (and the raw body, which may
    echo them) unless the client stores inputs."""
    exclude = None if store_inputs else {"input", "raw"}
    try:
        return run.model_dump_json(exclude=exclude)
    except ValueError:  # text UTF-8 cannot hold (a lone surrogate a server sent): escape it
        return json.dumps(run.model_dump(mode="json", exclude=exclude), ensure_ascii=True)


def _check_same_request(record: RunRecord, intent: Intent) -> None:
    for field in ("inputs_digest", "workflow", "provider", "host", "account"):
        if getattr(record, field) != getattr(intent, field):
            name = "inputs" if field == "inputs_digest" else field
            raise KeyConflictError(intent.key, name, run_id=record.run_id)
