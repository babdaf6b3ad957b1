"""Polling a run until it leaves PENDING/RUNNING: the states a waiter sees."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

from .._compat import async_sleep
from .._core.deadline import Deadline
from .._core.errors import APIError, UnsupportedOperationError
from .._core.inputs import check_run_id
from .._core.log import logger
from .._core.models import RunStatus, WaitTimeoutError, WorkflowRun
from .._core.operation import Operation
from .._observe.observers import Observers
from .._transport.retry import is_retryable, retry_hint
from .._waiting.ending import WaitEnd, log_end
from .._waiting.learning import RunTimer
from .._waiting.policy import PollPolicy
from .._waiting.wakeup import AsyncWakeup
from ..providers import Provider
from ._requester import AsyncRequester
from ._waiter import async_follow

__all__ = [
    "LoopPerWait",
    "UnknownWords",
    "log_fields",
    "poll_states",
    "query_target",
    "timed_out",
    "warn_unknown",
]


class LoopPerWait:
    """A waiter in which each wait polls in a loop of its own: the blocking client's.

    The async client's `AsyncWaiter` (`_schedule.py`) keeps every wait in one schedule;
    a blocking wait holds its caller's thread whatever it does, so it gains nothing from
    one and keeps this simple loop (scripts/unasync.py maps the one name to the other).
    """

    __slots__ = ("_requester",)

    def __init__(self, requester: AsyncRequester, limit: int | None = None) -> None:
        del limit  # the request slots bound a blocking client's queries by themselves
        self._requester = requester

    def states(
        self,
        provider: Provider,
        start: WorkflowRun | str,
        policy: PollPolicy,
        deadline: Deadline,
        workflow_id: str | None = None,
        wakeup: AsyncWakeup | None = None,
        timer: RunTimer | None = None,
        end: WaitEnd | None = None,
    ) -> AsyncGenerator[WorkflowRun, None]:
        """`poll_states` with this waiter's requester."""
        return poll_states(
            self._requester, provider, start, policy, deadline, workflow_id, wakeup, timer, end
        )

    async def follow(
        self,
        provider: Provider,
        start: WorkflowRun | str,
        policy: PollPolicy,
        deadline: Deadline,
        observers: Observers,
        on_update: Callable[[WorkflowRun], object] | None,
        workflow_id: str | None = None,
        timer: RunTimer | None = None,
    ) -> WorkflowRun:
        """The run's final state: `async_follow` over `states`."""
        states = self.states(provider, start, policy, deadline, workflow_id, timer=timer)
        return await async_follow(states, observers, on_update)


async def poll_states(
    requester: AsyncRequester,
    provider: Provider,
    start: WorkflowRun | str,
    policy: PollPolicy,
    deadline: Deadline,
    workflow_id: str | None = None,
    wakeup: AsyncWakeup | None = None,
    timer: RunTimer | None = None,
    end: WaitEnd | None = None,
) -> AsyncGenerator[WorkflowRun, None]:
    """Yield each new state of a run, ending after the terminal one.

    A `WorkflowRun` given as `start` is yielded first; a bare id is queried at once.
    Transient query failures never end the wait (the next poll tries again); a failure that
    retrying cannot mend (401, 403, 404, ...) is raised with the run id on it. When the
    deadline passes, `WaitTimeoutError` carries the id and the last state seen. The query
    names the run's own workflow, else `workflow_id` (platforms whose path needs one). A
    `wakeup` (a webhook callback's) cuts the sleep before a query short. A `timer` (the
    run's start just answered) schedules from learned durations and learns this one.
    How the wait ended (by a callback's wake-up or by polling, and after how many queries)
    is logged at DEBUG and put in `end`.
    """
    unknown = UnknownWords(provider)
    current = start if isinstance(start, WorkflowRun) else None
    if current is not None:
        unknown.check(current)
        yield current
    run_id, workflow_id = query_target(provider, start, workflow_id)
    del start  # a wait holds its latest state only: with 10,000 waiting, a state is 2 KiB
    if run_id is None:
        return  # a given run that is over, or one no query can follow
    spec = provider.query_for(run_id, workflow_id=workflow_id)
    schedule = policy.delays() if timer is None else timer.delays(policy)
    hint: float | None = None
    sleep_first = current is not None
    queries, woken = 0, False  # what the DEBUG line at the end says
    # The requester ends each query at the deadline (slot wait, exchange, retries), so no
    # cancel scope of its own wraps a query here: a queued wait holds one scope, not two.
    while True:
        if sleep_first:
            delay = deadline.cap(policy.next_delay(next(schedule), hint))
            woken = await _sleep(delay, wakeup)
            if deadline.expired:
                raise timed_out(provider, run_id, current)
        sleep_first = True
        try:
            if timer is not None:
                timer.sending()
            queries += 1
            reply = await requester.send(spec, deadline)
        except APIError as error:
            hint = _failed_query_hint(error, provider, run_id, current, deadline)
            continue
        hint = reply.retry_after
        if timer is not None:
            timer.answered(reply.run)
        if reply.run != current:
            current = reply.run
            unknown.check(current)
            logger.debug(
                "run %s changed: %s",
                run_id,
                current.raw_status or current.status.value,
                extra=log_fields(provider, run_id),
            )
            yield current
        del reply  # an answer equal to the state already held is not kept while asleep
        if current.done:
            log_end(end, "callback" if woken else "poll", queries, provider.name, current)
            return


async def _sleep(seconds: float, wakeup: AsyncWakeup | None) -> bool:
    """Sleep before a query; True when a webhook callback's wake-up cut the sleep short."""
    if wakeup is None:
        await async_sleep(seconds)
        return False
    return await wakeup.sleep(seconds)


def query_target(
    provider: Provider, start: WorkflowRun | str, workflow_id: str | None
) -> tuple[str | None, str | None]:
    """(run id, workflow id) to query for `start`; no run id if nothing more can be
    learned of it (it is over, or its provider has no query). Raises for a bad id, or an
    unfinished run without one."""
    if not isinstance(start, WorkflowRun):
        return check_run_id(start), workflow_id
    if start.done or (start.id is not None and not provider.supports_query):
        return None, None
    if start.id is None:
        raise UnsupportedOperationError(
            f"an unfinished {provider.name} run without an id cannot be waited for",
            provider=provider.name,
        )
    return start.id, start.workflow_id or workflow_id


def _failed_query_hint(
    error: APIError,
    provider: Provider,
    run_id: str,
    current: WorkflowRun | None,
    deadline: Deadline,
) -> float | None:
    """After a failed query: raise if the wait must end (a failure retrying cannot mend,
    with the run id on it, or the deadline), else log it and return the server's hint."""
    if not is_retryable(error, Operation.QUERY):
        error.run_id = error.run_id or run_id
        raise error
    if deadline.expired:
        raise timed_out(provider, run_id, current) from error
    logger.warning(
        "query of run %s failed; polling goes on: %s",
        run_id,
        error,
        extra=log_fields(provider, run_id),
    )
    return retry_hint(error)


class UnknownWords:
    """Warns once per run about a status word the provider's table does not know."""

    __slots__ = ("_provider", "_warned")

    def __init__(self, provider: Provider) -> None:
        self._provider = provider
        self._warned = False

    def check(self, run: WorkflowRun) -> None:
        if not self._warned:
            self._warned = warn_unknown(self._provider, run)


def warn_unknown(provider: Provider, run: WorkflowRun) -> bool:
    """Warn that `run`'s status word is unknown to `provider`'s table; whether it was (a
    wait warns once: its caller keeps the answer)."""
    if run.status is not RunStatus.UNKNOWN:
        return False
    logger.warning(
        "run %s has the status word %r, unknown to flowinvoke's %s table; it is not "
        "treated as final, so polling goes on until a known final word or the deadline",
        run.id,
        run.raw_status,
        provider.name,
        extra={"provider": provider.name, "operation": "wait", "run_id": run.id},
    )
    return True


def log_fields(provider: Provider, run_id: str) -> dict[str, str]:
    """The structured fields of a wait's log records (built when a record is, not per wait)."""
    return {"provider": provider.name, "operation": "wait", "run_id": run_id}


def timed_out(provider: Provider, run_id: str, last: WorkflowRun | None) -> WaitTimeoutError:
    seen = f"; last status {last.raw_status or last.status.value}" if last else ""
    logger.debug(
        "wait for run %s reached its deadline%s",
        run_id,
        seen,
        extra=log_fields(provider, run_id),
    )
    return WaitTimeoutError(
        f"run {run_id} did not finish before the wait deadline{seen}; "
        "it may still finish: wait again with its id",
        run_id=run_id,
        last_run=last,
    )
