"""Clocks for the emulator and the client: the real one by default, a fake one for tests.

The emulator reads time through a plain `Callable[[], float]` (seconds, monotonic) and waits
through a pair of sleep functions, one blocking and one async. Swapping all three for a
`FakeClock` makes scripted durations cost no real time, so a test of a "30 second" run takes
microseconds and gives the same answer every time. `FakeClock.install()` puts the client
itself on the same clock (its deadlines, poll and retry sleeps, rate limit and cool-down),
so a test of hundreds of concurrent waits against a slow server runs on fake time too.
"""

from __future__ import annotations

import heapq
import importlib
import itertools
import math
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import anyio
import anyio.lowlevel

from flowinvoke._core.deadline import set_time_source

__all__ = ["AsyncSleep", "Clock", "FakeClock", "Sleep"]

#: Real seconds a loop may take to run a probe before it counts as stopped (see
#: `FakeClock._loops_idle`): far longer than a busy loop takes, short enough to notice.
_PROBE_PATIENCE = 1.0
#: Probe rounds in a row that may find a loop with other work ready before time jumps
#: anyway: a task that yields forever without touching the clock must not stop time.
_BUSY_ROUNDS = 50

Clock = Callable[[], float]
"""Returns the current time in seconds; only differences between readings matter."""

Sleep = Callable[[float], None]
"""Blocks the calling thread for the given number of seconds."""

AsyncSleep = Callable[[float], Awaitable[None]]
"""Suspends the calling task for the given number of seconds (must not block the loop)."""


class _Timer:
    """One sleeper's wake-up: `wake` runs (under the clock's lock) once time reaches `at`;
    the sleeper says when it has woken (`FakeClock._done`), and until then time stands."""

    __slots__ = ("at", "number", "unseen", "wake")

    def __init__(self, at: float, number: int, wake: Callable[[], object] | None) -> None:
        self.at = at
        self.number = number
        self.wake = wake  # None once fired or cancelled
        self.unseen = False  # fired, and the sleeper has not run since

    def __lt__(self, other: _Timer) -> bool:
        return (self.at, self.number) < (other.at, other.number)


class FakeClock:
    """A manual clock: time moves when a test advances it, or when everything that runs on
    it is asleep, straight to the earliest wake-up.

    Any number of tasks (asyncio or trio) and threads may sleep on it at once: each sleeper
    wakes in order of its wake-up time, as on a real clock, and time jumps only once nothing
    has touched the clock (read it, slept, advanced it) for `idle` real seconds, every
    sleeper woken so far has run and no event loop on it has other work ready, that is
    once every task and thread waits on it. Hundreds
    of concurrent waits, a rate-limit window or a server slower than a deadline then take
    milliseconds of real time, in the order they would happen in minutes of real time.

    Pass it as the emulator's `clock`; the emulator then also uses `sleep` and `async_sleep`
    from it. `install()` puts the client on it as well.

    Example:
        >>> clock = FakeClock()
        >>> clock.advance(2.5)
        >>> clock()
        2.5
        >>> clock.sleep(1.5)  # returns as soon as nothing else runs on the clock
        >>> clock()
        4.0
    """

    def __init__(self, start: float = 0.0, *, idle: float = 0.001) -> None:
        """
        Args:
            start: The first reading, in seconds.
            idle: Real seconds with nothing touching the clock after which time jumps to
                the earliest sleeper's wake-up. Longer is safer on a loaded machine (a
                task busy for longer without reading the clock might see time jump under
                it); each jump costs this much real time.
        """
        if not idle > 0:
            msg = "idle must be a positive number of real seconds"
            raise ValueError(msg)
        self._now = float(start)
        self._idle = idle
        self._lock = threading.Condition(threading.Lock())
        self._timers: list[_Timer] = []
        self._numbers = itertools.count()
        self._touched = 0  # bumped on every use: a change means something still runs
        self._unseen = 0  # sleepers woken that have not run yet: time stands until they do
        # The event loops with tasks on this clock (each one's thread-safe call): before a
        # jump, each must have run everything it had ready (see `_loops_idle`).
        self._loops: dict[int, Callable[..., object]] = {}
        self._probing: set[int] = set()  # the loops sent a probe that have not run it yet
        self._busy = False  # a probe of this round found its loop with other work ready
        self._busy_rounds = 0  # rounds in a row that did
        self._driver: threading.Thread | None = None

    def __call__(self) -> float:
        """Return the current fake time in seconds."""
        with self._lock:
            self._touched += 1
            return self._now

    def __repr__(self) -> str:
        return f"FakeClock(now={self():.6f})"

    def advance(self, seconds: float) -> None:
        """Move the time forward by `seconds` (negative values are rejected), waking every
        sleeper whose time has come."""
        if seconds < 0:
            msg = "a FakeClock cannot go backwards"
            raise ValueError(msg)
        with self._lock:
            self._touched += 1
            self._move_to(self._now + seconds)

    def sleep(self, seconds: float) -> None:
        """Block the calling thread until the fake time has moved on by `seconds`."""
        if not seconds > 0:
            return
        woken = threading.Event()
        with self._lock:
            timer = self._schedule(self._now + seconds, woken.set)
            while not woken.is_set():
                self._lock.wait()
            self._seen(timer)

    async def async_sleep(self, seconds: float) -> None:
        """Suspend the calling task until the fake time has moved on by `seconds`."""
        if not seconds > 0:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        call = self._loop_caller()
        with self._lock:
            timer = self._schedule(self._now + seconds, lambda: call(event.set))
        try:
            await event.wait()
        finally:
            self._cancel(timer)

    def cancel_after(self, seconds: float | None) -> _FakeCancelScope:
        """`anyio.move_on_after(seconds)` on this clock: the block is cancelled once the fake
        time has moved on by `seconds` (never when None)."""
        return _FakeCancelScope(self, math.inf if seconds is None else self() + seconds)

    @contextmanager
    def install(self) -> Iterator[FakeClock]:
        """Run flowinvoke's clients on this clock inside the block: their deadlines, poll
        and retry sleeps, deadline scopes, rate limits and cool-downs read and wait on it.

        Process-wide (threads included), so one test at a time: the previous clock comes
        back when the block ends.

        Example:
            >>> clock = FakeClock()
            >>> with clock.install():
            ...     pass  # a client made or used here sleeps and times out on `clock`
        """
        previous = set_time_source(self)
        try:
            yield self
        finally:
            set_time_source(previous)

    # The scheduler. `_schedule`, `_seen`, `_move_to` and `_fire` run with `self._lock`
    # held; the other methods take it themselves.

    def _schedule(self, at: float, wake: Callable[[], object]) -> _Timer:
        self._touched += 1
        timer = _Timer(at, next(self._numbers), wake)
        if at <= self._now:
            self._fire(timer)
            return timer
        heapq.heappush(self._timers, timer)
        if self._driver is None:
            self._driver = threading.Thread(target=self._drive, name="FakeClock", daemon=True)
            self._driver.start()
        return timer

    def _cancel(self, timer: _Timer) -> None:
        """The sleeper is done with `timer`: woken and running, or no longer waiting."""
        with self._lock:
            self._touched += 1
            timer.wake = None  # left in the heap; skipped when its time comes
            self._seen(timer)

    def _seen(self, timer: _Timer) -> None:
        if timer.unseen:
            timer.unseen = False
            self._unseen -= 1

    def _move_to(self, at: float) -> None:
        self._now = max(self._now, at)
        while self._timers and self._timers[0].at <= self._now:
            self._fire(heapq.heappop(self._timers))

    def _fire(self, timer: _Timer) -> None:
        wake, timer.wake = timer.wake, None
        if wake is not None:
            timer.unseen = True
            self._unseen += 1
            try:
                wake()
            except RuntimeError:  # the sleeper's event loop has ended: no one to wait for
                self._seen(timer)
            self._lock.notify_all()  # the blocking sleepers look whether it was theirs

    def _drive(self) -> None:
        """Jump to the next wake-up whenever nothing touched the clock for `idle` seconds
        and every event loop on it is idle; end once no one sleeps (the next sleeper starts
        a new driver)."""
        with self._lock:
            while any(timer.wake is not None for timer in self._timers):
                touched, quiet_from = self._touched, time.monotonic()
                while (left := quiet_from + self._idle - time.monotonic()) > 0:
                    self._lock.wait(left)
                if touched != self._touched or self._unseen or not self._loops_idle():
                    continue
                while self._timers and self._timers[0].wake is None:
                    heapq.heappop(self._timers)
                if self._timers:
                    self._move_to(self._timers[0].at)
            self._timers.clear()
            self._driver = None

    def _loops_idle(self) -> bool:
        """Send each event loop a probe and wait until all have run it: a loop runs a probe
        only after the tasks that were ready, so if none of them touched the clock, every
        task waits. A loop starved of CPU runs its probe late, rather than seeing the time
        jump while its tasks still had work to do."""
        touched = self._touched
        self._busy = False
        for key, call in list(self._loops.items()):
            try:
                call(partial(self._probe, key, getattr(call, "__self__", None)))
            except RuntimeError:  # that loop has ended
                del self._loops[key]
            else:
                self._probing.add(key)
        given_up = time.monotonic() + _PROBE_PATIENCE
        while self._probing and (left := given_up - time.monotonic()) > 0:
            self._lock.wait(left)
        if self._probing:  # a loop that stopped without closing: forget it until it sleeps
            for key in self._probing:
                self._loops.pop(key, None)
            self._probing.clear()
            return False
        if self._busy and self._busy_rounds < _BUSY_ROUNDS:
            self._busy_rounds += 1
            return False
        self._busy_rounds = 0
        return touched == self._touched

    def _probe(self, key: int, owner: object) -> None:  # in an event loop
        """Report whether this loop has other work ready. `owner` is what the loop's call
        belongs to: an asyncio loop, or trio's token. trio runs the tasks of a batch in
        random order, so work still ready beside the probe cannot be seen from it: there a
        system task reports once trio itself says every task waits."""
        if hasattr(owner, "call_soon"):
            # The probe came through the loop's self-pipe, whose reader may be queued behind
            # it: the ready queue is read one turn later, when only work left ready is in
            # it. A task woken meanwhile (a request slot handed on, a checkpoint passed) is
            # there: a chain of such steps that never reads the clock is not idle, and on a
            # starved CPU it can outlast `idle`. A loop without `_ready` (uvloop) is idle.
            owner.call_soon(self._probe_ready_queue, key, owner)
        elif "trio" in sys.modules:
            sys.modules["trio"].lowlevel.spawn_system_task(self._probe_when_all_wait, key)
        else:
            self._probed(key, busy=False)

    def _probe_ready_queue(self, key: int, loop: Any) -> None:  # in an asyncio loop
        self._probed(key, busy=bool(getattr(loop, "_ready", ())))

    async def _probe_when_all_wait(self, key: int) -> None:  # a trio system task
        testing: Any = importlib.import_module("trio.testing")  # trio is an optional extra
        await testing.wait_all_tasks_blocked()
        self._probed(key, busy=False)

    def _probed(self, key: int, *, busy: bool) -> None:
        with self._lock:
            self._probing.discard(key)
            self._busy = self._busy or busy
            self._lock.notify_all()

    def _loop_caller(self) -> Callable[..., object]:
        """The running event loop's thread-safe `call(function)`, remembered for probes:
        the clock fires from its driver thread or a test's, and each task must be woken in
        its own loop."""
        from flowinvoke._waiting.wakeup import loop_caller

        call = loop_caller()
        key = id(getattr(call, "__self__", call))  # the loop, or trio's token
        with self._lock:  # always: a new loop may have the id of an ended one
            self._loops[key] = call
        return call


class _FakeCancelScope:
    """An anyio cancel scope whose deadline is on a `FakeClock` (see `cancel_after`)."""

    def __init__(self, clock: FakeClock, at: float) -> None:
        self._clock = clock
        self._at = at
        self._scope = anyio.CancelScope()
        self._timer: _Timer | None = None
        self._call: Callable[..., object] | None = None  # set inside the block

    @property
    def deadline(self) -> float:
        """When the block is cancelled, on the fake clock; may be moved inside the block."""
        return self._at

    @deadline.setter
    def deadline(self, at: float) -> None:
        self._at = at
        if self._call is not None:  # inside the block
            self._arm()

    @property
    def cancelled_caught(self) -> bool:
        """True if the deadline cut the block short."""
        return self._scope.cancelled_caught

    def __enter__(self) -> _FakeCancelScope:
        self._scope.__enter__()
        self._call = self._clock._loop_caller()
        self._arm()
        return self

    def __exit__(self, *exc_info: Any) -> bool:
        if self._timer is not None:
            self._clock._cancel(self._timer)
        self._call = None
        return bool(self._scope.__exit__(*exc_info))

    def _arm(self) -> None:
        if self._timer is not None:
            self._clock._cancel(self._timer)
            self._timer = None
        if self._at != math.inf and self._call is not None:
            call, clock, scope = self._call, self._clock, self._scope
            timer: _Timer | None = None

            def cancel() -> None:  # in the scope's event loop
                scope.cancel()
                if timer is not None:
                    clock._cancel(timer)

            with clock._lock:
                self._timer = timer = clock._schedule(self._at, lambda: call(cancel))
