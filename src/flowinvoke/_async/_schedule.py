"""The client-wide waiter: every wait of a client and event loop is an entry in one schedule.

An entry is one run id being followed (its poll schedule, learned timer, latest state,
next due time); each wait on it is a subscriber. One heap holds the entries' due times and
the subscribers' deadlines, and one timer sleeps until the earliest.

There is no task of the waiter's own: under structured concurrency (trio, anyio task
groups) a library cannot start a task that outlives its caller. The waits do the work
themselves. A parked subscriber holds little more than a future (an asyncio future, or an
`anyio.Event` on trio); one of them at a
time keeps the clock (sleeps until the next due time, woken early when an earlier entry
arrives), hands each due entry, in due order and no more than there are request slots, to
one of that entry's waiting subscribers, and wakes each subscriber whose deadline passed.
The chosen subscriber sends the query in its own task (so its deadline, context variables
and tracing span apply) and publishes the answer to every subscriber of the run. When the
clock keeper leaves the clock (a signal of its own, done, cancelled) it hands it to another
waiting subscriber. See docs/architecture.md.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from functools import partial
from typing import Any

import anyio
import anyio.lowlevel

from .._compat import async_call_maybe, async_sleep
from .._core.deadline import Deadline, now
from .._core.errors import APIError, FlowInvokeError
from .._core.log import logger
from .._core.models import WorkflowRun
from .._core.operation import Operation
from .._observe.observers import Observers
from .._transport.retry import is_retryable, retry_hint
from .._waiting.ending import Ending, WaitEnd, log_end
from .._waiting.learning import RunTimer, WorkflowKey
from .._waiting.policy import PollPolicy
from .._waiting.wakeup import AsyncWakeup
from ..providers import Provider
from ._poller import log_fields, query_target, timed_out, warn_unknown
from ._requester import AsyncRequester

__all__ = ["AsyncWaiter"]

_AWAKE = -1.0  # `_Schedule.park`: the wait has something to do
_GONE = -2  # an entry's `seq` once it is dropped; -1 while it is not in the heap
_COMPACT_AT = 256  # stale heap items tolerated before the heap is rebuilt without them
#: A workflow's waits re-plan when its shortest learned runs shrink below this share of
#: what they last planned for (and when it is first learned): rarely, as each costs a pass
#: over the schedule's entries.
_REPLAN_BELOW = 0.95


class AsyncWaiter:
    """Every wait of one client, each event loop's in a schedule of its own.

    A client may be used from several event loops (threads, successive `anyio.run`s):
    each gets its own schedule, dropped once its last wait ends.
    """

    __slots__ = ("_limit", "_requester", "_schedules")

    def __init__(self, requester: AsyncRequester, limit: int | None = None) -> None:
        self._requester = requester
        self._limit = limit  # queries in flight at once: the client's request slots
        self._schedules: dict[int, _Schedule] = {}

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
        """Yield each new state of a run, ending after the terminal one.

        The contract of `_poller.poll_states`: a `WorkflowRun` given as `start` is yielded
        first, a bare id is queried at once (or, when another wait follows the same run
        already, given its latest state); transient failures never end the wait, one that
        retrying cannot mend is raised with the run id; `WaitTimeoutError` carries the id
        and the last state. Waits on the same run id share one entry: one query stream,
        the poll schedule of the first, each with its own deadline.
        """
        return _states(self, provider, start, policy, deadline, workflow_id, wakeup, timer, end)

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
        """The run's final state, each new state observed and handed to `on_update` first:
        `async_follow` over `states`, in one coroutine. A `wait()` parks in this frame alone
        (no generator, no `async for`): with 100,000 waits, every frame and object each
        one holds counts, and so does every frame a cancellation's traceback keeps."""
        last = start if isinstance(start, WorkflowRun) else None
        try:
            if last is not None:
                await _tell(observers, on_update, last)
            joined = self._subscribe(provider, start, policy, deadline, workflow_id, None, timer)
            del start
            if joined is None:  # a given run that is over, or one no query can follow
                assert last is not None
                return last
            schedule, sub = joined
            del joined
            try:
                while True:
                    state = schedule.step(sub)
                    if state is None:
                        # Parked on a bare future in this frame: no `advance` coroutine
                        # held per wait (nor kept in a cancellation's traceback).
                        future = schedule.parked(sub)
                        if future is None:
                            await schedule.advance(sub)
                            continue
                        try:
                            await future
                        finally:
                            schedule.unpark(sub)
                        continue
                    last = state
                    await _tell(observers, on_update, state)
                    if state.done:
                        schedule.ended(sub, state, None)
                        return state
            finally:
                schedule.leave(sub)
        except FlowInvokeError as error:
            error.run_id = error.run_id or (last.id if last else None)
            raise
        except BaseException:
            # Cancelled: the task keeps its error until the caller drops the task, and the
            # error's traceback this frame; not the states and timer the frame held.
            last = state = future = timer = None
            raise

    def _subscribe(
        self,
        provider: Provider,
        start: WorkflowRun | str,
        policy: PollPolicy,
        deadline: Deadline,
        workflow_id: str | None,
        wakeup: AsyncWakeup | None,
        timer: RunTimer | None,
    ) -> tuple[_Schedule, _Sub] | None:
        """A new wait on `start`'s run in this loop's schedule (None: nothing to follow)."""
        current = start if isinstance(start, WorkflowRun) else None
        warned = current is not None and warn_unknown(provider, current)
        run_id, workflow_id = query_target(provider, start, workflow_id)
        if run_id is None:
            return None
        schedule = self._here()
        sub = schedule.join(provider, run_id, workflow_id, policy, deadline, current, warned, timer)
        if wakeup is not None:
            schedule.listen(sub, wakeup)
        return schedule, sub

    def _here(self) -> _Schedule:
        token = anyio.lowlevel.current_token().native_token
        schedule = self._schedules.get(id(token))
        if schedule is None or schedule.token is not token:
            schedule = self._schedules[id(token)] = _Schedule(self._requester, self._limit)
            schedule.token, schedule.forget = token, partial(self._forget, id(token))
            # asyncio's token is its loop: a bare future is the lightest thing to park on
            # (an anyio.Event holds an asyncio.Event and its deque). Trio's has none.
            schedule.create_future = getattr(token, "create_future", None)
        return schedule

    def _forget(self, key: int) -> None:
        self._schedules.pop(key, None)


async def _states(
    waiter: AsyncWaiter,
    provider: Provider,
    start: WorkflowRun | str,
    policy: PollPolicy,
    deadline: Deadline,
    workflow_id: str | None,
    wakeup: AsyncWakeup | None,
    timer: RunTimer | None,
    end: WaitEnd | None,
) -> AsyncGenerator[WorkflowRun, None]:
    if isinstance(start, WorkflowRun):
        yield start
    joined = waiter._subscribe(provider, start, policy, deadline, workflow_id, wakeup, timer)
    del start  # a wait holds its latest state only
    if joined is None:
        return  # a given run that is over, or one no query can follow
    schedule, sub = joined
    try:
        while True:
            state = schedule.step(sub)
            if state is None:
                await schedule.advance(sub)
                continue
            yield state
            if state.done:
                schedule.ended(sub, state, end)
                return
    finally:
        schedule.leave(sub)


async def _tell(
    observers: Observers, on_update: Callable[[WorkflowRun], object] | None, state: WorkflowRun
) -> None:
    observers.state(state)
    if on_update is not None:
        await async_call_maybe(on_update, state)


_Key = str | tuple[str, str]


def _key(run_id: str, workflow_id: str | None) -> _Key:
    """An entry's key in its schedule: the bare run id unless a workflow names the run too
    (no tuple per entry where none is needed)."""
    return run_id if workflow_id is None else (run_id, workflow_id)


class _Entry:
    """One run followed: its query and schedule, its latest state, its subscribers."""

    __slots__ = (
        "delays",
        "due",
        "hint",
        "how",
        "parked",
        "policy",
        "provider",
        "queries",
        "querying",
        "run_id",
        "seq",
        "state",
        "subs",
        "timer",
        "wake_pending",
        "wakeups",
        "warned",
        "woken",
        "workflow_id",
    )

    def __init__(
        self,
        run_id: str,
        workflow_id: str | None,
        provider: Provider,
        policy: PollPolicy,
        timer: RunTimer | None,
        warned: bool,
    ) -> None:
        self.run_id = run_id
        self.workflow_id = workflow_id
        self.provider = provider
        self.policy = policy
        self.timer = timer
        self.delays: Iterator[float] = policy.delays() if timer is None else timer.delays(policy)
        self.warned = warned  # its unknown status word was logged
        self.hint: float | None = None
        self.state: WorkflowRun | None = None
        self.subs: list[_Sub] = []
        self.seq = -1  # the heap item that is this entry's, when it is in the heap
        self.due = 0.0  # its heap item's time, while it has one
        self.parked = False  # due, but every subscriber was busy (in `on_update`, say)
        self.querying = False
        self.queries = 0
        self.woken = False  # the next query was brought forward by a wake-up
        self.wake_pending = False  # a wake-up came while a query was in flight
        self.wakeups: list[AsyncWakeup] | None = None  # made for the first callback
        self.how: Ending = "poll"

    @property
    def key(self) -> _Key:
        return _key(self.run_id, self.workflow_id)


class _Sub:
    """One wait on an entry: its deadline, what it has been told, and how to wake it."""

    __slots__ = (
        "armed",
        "asleep",
        "cause",
        "deadline",
        "entry",
        "error",
        "event",
        "pending",
        "query",
        "scope",
        "seen",
        "timed_out",
    )

    def __init__(self, deadline: Deadline, seen: WorkflowRun | None) -> None:
        self.deadline = deadline
        self.seen = seen  # the last state handed to this wait
        self.entry: _Entry | None = None
        # What a parked wait awaits: an asyncio future (on asyncio) or an anyio.Event.
        self.event: Any = None
        self.scope: anyio.CancelScope | None = None  # the clock keeper's sleep
        self.pending: list[WorkflowRun] | None = None
        self.query = False  # told to send the entry's next query
        self.timed_out = False
        self.cause: BaseException | None = None
        self.error: APIError | None = None
        self.armed = False  # its deadline is in the heap
        # Asleep in the schedule (a flag, not a set of the schedule's: 100,000 waits).
        self.asleep = False

    def take(self) -> WorkflowRun:
        """The oldest state not yet handed to this wait."""
        assert self.pending
        state = self.pending.pop(0)
        if not self.pending:
            self.pending = None
        return state

    def signalled(self) -> bool:
        return bool(self.pending) or self.query or self.timed_out or self.error is not None

    def poke(self) -> None:
        event, self.event = self.event, None
        if isinstance(event, anyio.Event):
            event.set()
        elif event is not None and not event.done():
            event.set_result(None)
        if self.scope is not None:  # the clock keeper's sleep
            self.scope.cancel()


_Item = tuple[float, int, "_Entry | _Sub"]


class _Schedule:
    """The entries of one event loop, their due times and their subscribers' deadlines."""

    __slots__ = (
        "counter",
        "create_future",
        "entries",
        "forget",
        "heap",
        "in_flight",
        "keeper",
        "limit",
        "planned",
        "requester",
        "stale",
        "token",
    )

    def __init__(self, requester: AsyncRequester, limit: int | None) -> None:
        self.requester = requester
        self.limit = limit
        self.token: object = None
        self.create_future: Callable[[], Any] | None = None
        self.forget: partial[None] | None = None
        self.entries: dict[_Key, _Entry] = {}
        self.heap: list[_Item] = []
        self.counter = itertools.count()
        self.keeper: _Sub | None = None
        self.in_flight = 0
        self.stale = 0
        # Per workflow: the shortest learned duration its waits were last re-planned for.
        self.planned: dict[WorkflowKey, float] = {}

    # -- joining and leaving -------------------------------------------------------------

    def join(
        self,
        provider: Provider,
        run_id: str,
        workflow_id: str | None,
        policy: PollPolicy,
        deadline: Deadline,
        current: WorkflowRun | None,
        warned: bool,
        timer: RunTimer | None,
    ) -> _Sub:
        sub = _Sub(deadline, current)
        key = _key(run_id, workflow_id)
        entry = self.entries.get(key)
        if entry is None:
            provider.query_for(run_id, workflow_id=workflow_id)  # a bad target raises here
            entry = _Entry(run_id, workflow_id, provider, policy, timer, warned)
            entry.state = current
            self.entries[key] = entry
            sub.entry = entry
            entry.subs.append(sub)
            delay = 0.0 if current is None else policy.next_delay(next(entry.delays), None)
            # Its only wait's deadline needs no heap item of its own: the entry is never
            # due past it, and times the wait out when it is (`_expire`).
            self._due(entry, self._capped(entry, now() + delay))
            return sub
        for each in (*entry.subs, sub):  # each wait's own deadline now: they differ
            self._arm(each)
        sub.entry = entry
        entry.subs.append(sub)
        if entry.state is not None and entry.state != current:
            sub.seen = entry.state
            sub.pending = [entry.state]
        return sub

    def listen(self, sub: _Sub, wakeup: AsyncWakeup) -> None:
        """Let a callback's wake-up bring the entry's next query forward."""
        entry = sub.entry
        if entry is not None:
            if entry.wakeups is None:
                entry.wakeups = []
            entry.wakeups.append(wakeup)
            wakeup.listen(partial(self._woken, entry))

    def leave(self, sub: _Sub) -> None:
        entry = sub.entry
        if entry is None:
            return
        # Gone: a cancelled wait's traceback may keep `sub`, not the states it was told.
        sub.entry = sub.seen = sub.pending = sub.event = sub.cause = sub.error = None
        if sub.armed:
            sub.armed = False
            self.stale += 1
        if sub.query:  # told to query, and gone before it could: another wait takes it
            sub.query = False
            self._answered(entry)
            if entry.seq != _GONE:
                self._due(entry, now())
        entry.subs.remove(sub)
        if not entry.subs:
            self._drop(entry)
        if not self.entries and self.forget is not None:
            self.forget()
        elif self.stale > _COMPACT_AT and 2 * self.stale > len(self.heap):
            self._compact()

    # -- a wait's own loop ---------------------------------------------------------------

    def step(self, sub: _Sub) -> WorkflowRun | None:
        """The next state for this wait, if one came (raising its error or timeout)."""
        if sub.pending:
            return sub.take()
        entry = sub.entry
        assert entry is not None
        if sub.error is not None:
            raise sub.error
        if sub.timed_out:
            raise timed_out(entry.provider, entry.run_id, entry.state) from sub.cause
        return None

    async def advance(self, sub: _Sub) -> None:
        """Send the query this wait was told to send, or park until poked (the clock
        keeper sleeps to the next due item instead, on the clock seam)."""
        entry = sub.entry
        assert entry is not None
        if sub.query:
            await self.query(sub, entry)
            return
        try:
            while (delay := self.park(sub, entry)) != _AWAKE:
                if delay is None:
                    await self.parking(sub)
                else:  # a sleep that a poke cancels
                    with anyio.CancelScope() as sub.scope:
                        await async_sleep(delay)
        finally:
            self.unpark(sub)

    def ended(self, sub: _Sub, state: WorkflowRun, end: WaitEnd | None) -> None:
        """Log (at DEBUG, and in `end`) how the wait for `state`, the final one, ended."""
        entry = sub.entry
        if entry is not None:
            log_end(end, entry.how, entry.queries, entry.provider.name, state)

    def park(self, sub: _Sub, entry: _Entry) -> float | None:
        """What a wait with nothing to do awaits next: `_AWAKE` (something for it came),
        None (a poke), or seconds (it keeps the clock: a sleep to the next due item)."""
        if not sub.asleep:
            sub.asleep = True
            if entry.parked:  # its due time passed while every subscriber was busy
                entry.parked = False
                self._due(entry, now())
        sub.scope = None
        if sub.signalled():
            return _AWAKE
        if self.keeper is None:
            self.keeper = sub
        if self.keeper is not sub:
            return None
        delay = self._dispatch(now())
        return _AWAKE if sub.signalled() else delay

    def parked(self, sub: _Sub) -> Awaitable[Any] | None:
        """The bare future a wait with nothing to do parks on (asyncio, not the clock
        keeper), its `unpark` after; else None: `advance` does the rest."""
        entry = sub.entry
        if sub.query or self.create_future is None or entry is None:
            return None
        delay = self.park(sub, entry)
        if delay is None:
            return self.parking(sub)
        if delay == _AWAKE:  # something came for it already
            self.unpark(sub)
        return None  # it keeps the clock: `advance` sleeps on it, still parked

    def parking(self, sub: _Sub) -> Awaitable[Any]:
        """What a parked wait awaits: a bare future on asyncio (no coroutine frame, no
        asyncio.Event and its deque), an anyio.Event elsewhere; `poke` sets it."""
        if self.create_future is not None:
            future: Awaitable[Any] = self.create_future()
            sub.event = future
            return future
        event = sub.event = anyio.Event()
        return event.wait()

    def unpark(self, sub: _Sub) -> None:
        sub.event = sub.scope = None
        sub.asleep = False
        if self.keeper is sub:
            self.keeper = None
            self._hand_clock()

    # -- the clock -----------------------------------------------------------------------

    def _dispatch(self, at: float) -> float | None:
        """Hand out what is due at `at`; the seconds until the next item (None: none, or
        no request slot is free until a query in flight answers)."""
        heap = self.heap
        while heap:
            due, seq, item = heap[0]
            if due > at:
                return due - at
            if isinstance(item, _Sub):
                heapq.heappop(heap)
                if not item.armed:
                    self.stale -= 1
                    continue
                item.armed = False
                item.timed_out = True
                item.poke()
                continue
            if item.seq != seq:
                heapq.heappop(heap)
                self.stale -= 1
                continue
            if self.limit is not None and self.in_flight >= self.limit:
                return None  # no slot: nothing holds one while only waiting its turn
            heapq.heappop(heap)
            item.seq = -1
            self._expire(item, at)
            sender = self._sender(item)
            if sender is None:
                item.parked = True
                continue
            self.in_flight += 1
            item.querying = True
            sender.query = True
            sender.poke()
        return None

    def _arm(self, sub: _Sub) -> None:
        """Put the wait's deadline in the heap, once (an entry's only wait needs none)."""
        if not sub.armed and sub.deadline.finite:
            sub.armed = True
            self._push(sub.deadline.at, sub)

    @staticmethod
    def _expire(entry: _Entry, at: float) -> None:
        """Time out the waits whose deadline the entry's item stood for, passed by `at`
        (a due time equal to it included: they time out first and no query goes)."""
        for sub in entry.subs:
            if not sub.armed and not sub.timed_out and sub.deadline.at <= at:
                sub.timed_out = True
                sub.poke()

    def _push(self, at: float, item: _Entry | _Sub) -> int:
        seq = next(self.counter)
        heapq.heappush(self.heap, (at, seq, item))
        if self.heap[0][1] == seq:  # earlier than what the keeper sleeps for
            self._wake_clock()
        return seq

    def _due(self, entry: _Entry, at: float) -> None:
        if entry.seq >= 0:
            self.stale += 1  # its earlier item stays in the heap until popped
        entry.seq = self._push(at, entry)
        entry.due = at

    def _wake_clock(self) -> None:
        """Make the clock look at the heap again: poke its keeper, or have one taken on."""
        if self.keeper is not None:
            self.keeper.poke()
        else:
            self._hand_clock()

    def _hand_clock(self) -> None:
        """Wake a parked subscriber to take the clock over: with none keeping it, a new
        item (a run whose query was cut off, say) would wait for nobody."""
        for entry in self.entries.values():  # oldest first, and most likely asleep
            for sub in entry.subs:
                if sub.asleep and not sub.signalled():
                    sub.poke()
                    return

    def _compact(self) -> None:
        self.heap = [
            item
            for item in self.heap
            if (item[2].armed if isinstance(item[2], _Sub) else item[2].seq == item[1])
        ]
        heapq.heapify(self.heap)
        self.stale = 0

    def _sender(self, entry: _Entry) -> _Sub | None:
        """The parked subscriber to send the entry's query: the one with the most time
        left, so that its deadline cuts the query the least."""
        best: _Sub | None = None
        for sub in entry.subs:
            ready = sub.asleep and not sub.signalled()
            if ready and (best is None or sub.deadline.remaining() > best.deadline.remaining()):
                best = sub
        return best

    # -- queries and their answers -------------------------------------------------------

    async def query(self, sub: _Sub, entry: _Entry) -> None:
        """Send the entry's query (this wait was told to) and publish the answer."""
        sub.query = False
        if entry.timer is not None:
            entry.timer.sending()
        entry.queries += 1
        try:
            # Built per query, not kept: thousands of parked waits would each hold one.
            spec = entry.provider.query_for(entry.run_id, workflow_id=entry.workflow_id)
            reply = await self.requester.send(spec, sub.deadline)
        except APIError as error:
            self._answered(entry)
            self._failed(entry, sub, error)
            return
        except BaseException:
            self._answered(entry)
            self._due(entry, now())  # cut short (cancelled): another wait sends it again
            raise
        self._answered(entry)
        entry.hint = reply.retry_after
        run = reply.run
        del reply
        if entry.timer is not None:
            entry.timer.answered(run)
            if run.succeeded:
                self._replan(entry.timer)
        if run != entry.state:
            entry.state = run
            if not entry.warned:
                entry.warned = warn_unknown(entry.provider, run)
            logger.debug(
                "run %s changed: %s",
                entry.run_id,
                run.raw_status or run.status.value,
                extra=log_fields(entry.provider, entry.run_id),
            )
            for each in entry.subs:
                if run != each.seen:
                    each.seen = run
                    each.pending = [*(each.pending or ()), run]
                    each.poke()
        if run.done:
            entry.how = "callback" if entry.woken else "poll"
            self._drop(entry)
        else:
            self._reschedule(entry)

    def _replan(self, timer: RunTimer) -> None:
        """A run of `timer`'s workflow succeeded. If that made its learned durations say
        "earlier" (learned for the first time, or its shortest runs shorter), the workflow's
        other waits plan their queries on the new estimate from their own elapsed time, and
        a next query that the new plan puts earlier is brought forward (never later).

        So the first runs of a batch to end pull in the queries of the others started with
        them, instead of each following the plain schedule it started on.
        """
        estimate = timer.latest()
        if not estimate.warm:
            return
        shortest = estimate.clusters[0][0]
        planned = self.planned.get(timer.key)
        if planned is not None and shortest >= planned * _REPLAN_BELOW:
            return
        self.planned[timer.key] = shortest
        at = now()
        moved: list[_Entry] = []
        for entry in self.entries.values():
            other = entry.timer
            if other is None or other.key != timer.key or entry.seq == _GONE:
                continue
            entry.delays, catch_up = other.replan(entry.policy, estimate)
            if entry.seq >= 0:  # asleep in the heap; else its next query is planned anew
                delay = next(entry.delays) if catch_up is None else catch_up
                due = self._capped(entry, at + entry.policy.next_delay(delay, entry.hint))
                if due < entry.due:
                    entry.due, entry.seq = due, -1  # its item in the heap is stale now
                    moved.append(entry)
        if moved:
            # Stale items dropped before the new ones are made: a re-plan of 100,000
            # waits would otherwise hold both, about 12 MB.
            self._compact()
            for entry in moved:
                entry.seq = self._push(entry.due, entry)

    def _answered(self, entry: _Entry) -> None:
        entry.querying = False
        self.in_flight -= 1
        if self.limit is not None and self.in_flight == self.limit - 1:
            self._wake_clock()  # a slot is free again: the next due entry may go

    def _failed(self, entry: _Entry, sub: _Sub, error: APIError) -> None:
        if not is_retryable(error, Operation.QUERY):
            error.run_id = error.run_id or entry.run_id
            for each in entry.subs:
                each.error = error
                each.poke()
            self._drop(entry)
            return
        if sub.deadline.expired:
            sub.timed_out, sub.cause = True, error
        else:
            logger.warning(
                "query of run %s failed; polling goes on: %s",
                entry.run_id,
                error,
                extra=log_fields(entry.provider, entry.run_id),
            )
        entry.hint = retry_hint(error)
        self._reschedule(entry)

    def _reschedule(self, entry: _Entry) -> None:
        if entry.wake_pending:
            entry.wake_pending, entry.woken = False, True
            delay = 0.0
        else:
            entry.woken = False
            delay = entry.policy.next_delay(next(entry.delays), entry.hint)
        self._due(entry, self._capped(entry, now() + delay))

    def _woken(self, entry: _Entry) -> None:
        """A callback said the run may have changed: query it now (in this loop)."""
        if entry.seq == _GONE:
            return
        if entry.querying:
            entry.wake_pending = True
            return
        entry.woken, entry.parked = True, False
        self._due(entry, now())

    def _drop(self, entry: _Entry) -> None:
        if self.entries.get(entry.key) is entry:
            del self.entries[entry.key]
        if entry.seq >= 0:
            self.stale += 1
        entry.seq, entry.parked = _GONE, False
        for wakeup in entry.wakeups or ():
            wakeup.listen(None)
        entry.wakeups = None

    @staticmethod
    def _capped(entry: _Entry, due: float) -> float:
        """`due`, never past the latest deadline of the entry's waits (due then, the
        waits time out first and no query goes)."""
        return min(due, max(each.deadline.at for each in entry.subs))
