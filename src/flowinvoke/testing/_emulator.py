"""The `Emulator`: one deterministic state machine behind every way of serving it.

It routes a request by path (any host or base path works), applies an injected fault if one
matches, lets the provider's wire module answer, and hands back either a response or a
connection failure. Waiting is expressed as delays yielded to whichever adapter serves it (a
blocking sleep for sync clients, `anyio.sleep` for async ones and ASGI), so the core does no
I/O and never blocks an event loop.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

import anyio

from flowinvoke import AsyncClient, Client
from flowinvoke._transport import http as _http

from ._callbacks import CallbackFaults, CallbackSender
from ._clock import AsyncSleep, Clock, FakeClock, Sleep
from ._fault_replies import TRANSPORT_FAILURES, fault_reply
from ._faults import Fault, FaultPlan, RandomFaults
from ._routes import ProviderWire, Route, WireOptions, not_found
from ._state import Counters, EmulatorState, RunRecord
from ._stats import STATS_PATH, emulator_stats
from ._wire import (
    Handling,
    WireReply,
    WireRequest,
    WireStream,
    dropped_after_first_chunk,
    immediately,
    json_response,
)
from ._wire_aitutor import AitutorWire
from ._wire_coze import CozeWire
from ._wire_dify import DifyWire
from ._wire_gptbots import GPTBotsWire
from ._workflows import AitutorStyle, Workflow

if TYPE_CHECKING:
    from ._asgi import EmulatorASGIApp
    from ._transport import EmulatorTransport

__all__ = ["EMULATOR_BASE_URL", "FAKE_EPOCH", "Emulator"]

EMULATOR_BASE_URL = "http://emulator.localhost"  # RFC 6761: a loopback name, so plain http is fine
"""A base URL for in-process use; the emulator ignores the host, so any URL works."""

FAKE_EPOCH = 1_700_000_000.0
"""The Unix time a `FakeClock`-driven emulator starts at, unless `epoch` is given."""

#: The providers' wire formats, in the order they are asked to route a request.
WIRES: tuple[type[ProviderWire], ...] = (GPTBotsWire, AitutorWire, DifyWire, CozeWire)


class Emulator:
    """An in-memory GPTBots / AltaBots / aitutor-api / Dify / Coze server for tests, demos
    and benchmarks.

    Register scripted `Workflow`s, then talk to it through `transport()` (an httpx
    `MockTransport` for `httpx.Client` and `httpx.AsyncClient`) or `asgi_app()` (plain ASGI,
    for `httpx.ASGITransport` or uvicorn). Both serve the same state, so a run started through
    one can be queried through the other.

    Args:
        workflows: Workflows to register at once (see `add_workflow`).
        clock: Monotonic seconds; defaults to `time.monotonic`. A `FakeClock` also supplies
            `sleep` and `async_sleep` (and a fixed `FAKE_EPOCH`) unless they are given.
        sleep: Blocking sleep used when a sync client must wait; defaults to `time.sleep`.
        async_sleep: Async sleep for async clients and ASGI; defaults to `anyio.sleep`.
        epoch: Unix time (seconds) of the clock's first reading, for `startTime`/`endTime`;
            defaults to `time.time()` (or `FAKE_EPOCH` with a `FakeClock`).
        seed: Seed of the generator behind run-id suffixes (ids also carry a counter).
        errors_in_http_200: Send error bodies inside HTTP 200 by default (workflows may
            override); applies to errors found before a workflow is known, like a bad key.
        aitutor_style: aitutor error shape used before a workflow is known.
        faults: Scripted faults to queue at once (see `inject`).
        random_faults: A random fault source (see `set_random_faults`).
        callback_faults: How run-end callbacks are misdelivered (see `set_callback_faults`).

    An async GPTBots/AltaBots run with webhook targets on loopback hosts has them called
    when it ends (real seconds from its start, from a background thread), with the run's
    query answer as the body; targets elsewhere are never called. `callbacks` counts them.
    Only duration-scripted runs send callbacks: a `polls=` run ends only when queried.
    """

    def __init__(
        self,
        workflows: Iterable[Workflow] = (),
        *,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        async_sleep: AsyncSleep | None = None,
        epoch: float | None = None,
        seed: int = 0,
        errors_in_http_200: bool = False,
        aitutor_style: AitutorStyle = "seed",
        faults: Iterable[Fault] = (),
        random_faults: RandomFaults | None = None,
        callback_faults: CallbackFaults | None = None,
    ) -> None:
        fake = clock if isinstance(clock, FakeClock) else None
        self.clock: Clock = clock if clock is not None else time.monotonic
        self.sleep: Sleep = sleep or (fake.sleep if fake else time.sleep)
        self.async_sleep: AsyncSleep = async_sleep or (fake.async_sleep if fake else anyio.sleep)
        if epoch is None:
            epoch = FAKE_EPOCH if fake else time.time()
        self._lock = threading.Lock()
        self._state = EmulatorState(clock=self.clock, epoch=epoch, seed=seed)
        self._faults = FaultPlan()
        self._callbacks = CallbackSender(callback_faults)
        options = WireOptions(
            errors_in_http_200=errors_in_http_200,
            aitutor_style=aitutor_style,
            on_webhook_run=self._callbacks.schedule,
        )
        self._wires = tuple(wire(self._state, self._lock, options) for wire in WIRES)
        for workflow in workflows:
            self.add_workflow(workflow)
        self.inject(*faults)
        self.set_random_faults(random_faults)

    def __repr__(self) -> str:
        with self._lock:
            ids = sorted(self._state.workflows)
            runs = len(self._state.runs)
        return f"Emulator(workflows={ids!r}, runs={runs})"

    # -- configuration -----------------------------------------------------------------------

    def add_workflow(self, workflow: Workflow) -> Workflow:
        """Register a workflow and return it.

        Raises:
            ValueError: The id is taken, or (GPTBots/AltaBots) another workflow has the key.
        """
        with self._lock:
            self._state.add_workflow(workflow)
        return workflow

    def workflow(self, workflow_id: str) -> Workflow:
        """The registered workflow with this id (`KeyError` if none)."""
        with self._lock:
            return self._state.workflows[workflow_id]

    def inject(self, *faults: Fault) -> None:
        """Queue scripted faults; each strikes the first later request it matches, once."""
        self._faults.add(faults)

    def set_random_faults(self, config: RandomFaults | None) -> None:
        """Install a seeded random fault source (replacing any), or remove it with `None`."""
        self._faults.set_random(config)

    def set_callback_faults(self, faults: CallbackFaults | None) -> None:
        """Misdeliver the callbacks of runs started from now on (None: deliver them well)."""
        self._callbacks.faults = faults or CallbackFaults()

    def pending_faults(self) -> tuple[Fault, ...]:
        """Scripted faults not consumed yet, in order."""
        return self._faults.pending()

    def clear_faults(self) -> None:
        """Forget every scripted fault and the random source."""
        self._faults.clear()

    # -- inspection --------------------------------------------------------------------------

    @property
    def counters(self) -> Counters:
        """Live counters of requests, runs started, queries and faults."""
        return self._state.counters

    @property
    def callbacks(self) -> Counter[str]:
        """Run-end callbacks per outcome: "sent", "dropped", "skipped" (not loopback),
        "failed" (no connection) or "answered <status>" (a non-2xx answer)."""
        return self._callbacks.counts

    def stats(self) -> dict[str, Any]:
        """What this emulator has seen, as JSON-ready numbers (served at `STATS_PATH`).

        `runs_started` (and per workflow), `queries`, `queries_per_run` (None before any
        run), `most_queries_of_a_run`, `requests` (and per operation), `faults` and
        `callbacks` (per outcome).
        """
        with self._lock:
            return emulator_stats(self._state.counters, self._callbacks.counts)

    def runs(self) -> tuple[RunRecord, ...]:
        """Snapshots of every run, oldest first."""
        with self._lock:
            now = self._state.now()
            return tuple(run.record(now) for run in self._state.runs.values())

    def run(self, run_id: str) -> RunRecord:
        """A snapshot of one run (`KeyError` if unknown)."""
        with self._lock:
            return self._state.runs[run_id].record(self._state.now())

    # -- serving -----------------------------------------------------------------------------

    def handle(self, request: WireRequest) -> Handling:
        """Handle one request: a generator yielding seconds to wait, returning the reply.

        Adapters drive it (`respond_sync`, `respond_async`); tests rarely need it directly.
        """
        if request.path.rstrip("/") == STATS_PATH:
            return (yield from immediately(json_response(200, self.stats())))
        with self._lock:
            counters = self._state.counters
            counters.requests += 1
            operation, workflow, wire, handler = self._route(request)
            counters.requests_by_operation[operation] += 1
            fault = self._faults.take(operation, workflow.id if workflow else None)
            if fault is not None:
                counters.faults[fault.kind] += 1
        if fault is None:
            return (yield from handler(request))
        if not fault.processed:
            if fault.delay > 0 and fault.kind in ("slow", "timeout"):
                yield fault.delay
            if fault.kind == "slow":
                return (yield from handler(request))
            return fault_reply(fault, wire, workflow, None)
        reply = yield from handler(request)
        if isinstance(reply, WireStream) and fault.kind in TRANSPORT_FAILURES:
            # An event stream breaks once the run has started (its first chunk is sent).
            return dropped_after_first_chunk(reply, TRANSPORT_FAILURES[fault.kind][0])
        if fault.delay > 0 and fault.kind in ("slow", "timeout"):
            yield fault.delay
        if fault.kind == "slow":
            return reply
        return fault_reply(fault, wire, workflow, reply)

    def respond_sync(self, request: WireRequest) -> WireReply:
        """Handle a request to the end, waiting with the blocking `sleep`."""
        handling = self.handle(request)
        try:
            delay = next(handling)
            while True:
                if delay > 0:
                    self.sleep(delay)
                delay = handling.send(None)
        except StopIteration as stop:
            return cast("WireReply", stop.value)

    async def respond_async(self, request: WireRequest) -> WireReply:
        """Handle a request to the end, waiting with `async_sleep` (never blocks the loop)."""
        handling = self.handle(request)
        try:
            delay = next(handling)
            while True:
                if delay > 0:
                    await self.async_sleep(delay)
                delay = handling.send(None)
        except StopIteration as stop:
            return cast("WireReply", stop.value)

    def transport(self) -> EmulatorTransport:
        """An httpx `MockTransport` serving this emulator to sync and async httpx clients.

        Sync clients wait with `sleep`, async clients with `async_sleep`.
        """
        from ._transport import EmulatorTransport

        return EmulatorTransport(self)

    def asgi_app(self) -> EmulatorASGIApp:
        """A plain ASGI 3 application serving this emulator (httpx.ASGITransport, uvicorn)."""
        from ._asgi import EmulatorASGIApp

        return EmulatorASGIApp(self)

    def http_client(self, **kwargs: Any) -> _http.Client:
        """A raw `httpx.Client` on `EMULATOR_BASE_URL` using `transport()`; kwargs pass through.

        For tests of the wire format itself; to test code that uses flowinvoke, see `client`.
        """
        kwargs.setdefault("base_url", EMULATOR_BASE_URL)
        return _http.Client(transport=self.transport(), **kwargs)

    def async_http_client(self, **kwargs: Any) -> _http.AsyncClient:
        """A raw `httpx.AsyncClient` on `EMULATOR_BASE_URL` using `transport()`."""
        kwargs.setdefault("base_url", EMULATOR_BASE_URL)
        return _http.AsyncClient(transport=self.transport(), **kwargs)

    def client_options(self, workflow_id: str) -> dict[str, Any]:
        """Keyword arguments that bind a flowinvoke client to one of this emulator's workflows.

        `provider`, `api_key` and `base_url` (`EMULATOR_BASE_URL`), `workflow_id` for
        aitutor, and `transport=self.transport()`; so `AsyncClient(**emulator.client_options(
        "wf-1"), retry=...)` is what `async_client("wf-1", retry=...)` builds. Useful where
        code chooses the client class itself.

        Raises:
            KeyError: no workflow has this id.
        """
        workflow = self.workflow(workflow_id)
        options: dict[str, Any] = {
            "provider": workflow.provider,
            "api_key": workflow.api_key,
            "base_url": EMULATOR_BASE_URL,
            "transport": self.transport(),
        }
        if not workflow.key_names_workflow:
            options["workflow_id"] = workflow.id
        return options

    def client(self, workflow_id: str, **options: Any) -> Client:
        """A `flowinvoke.Client` bound to this workflow, served in-process.

        The client has the workflow's provider and key, `base_url=EMULATOR_BASE_URL` and this
        emulator's transport, so no socket is opened. `options` (`retry=`, `poll=`,
        `timeout=`, ...) pass through and override those defaults; passing `http_client=`
        drops the transport. Close it (or use `with`) like any client.

        Raises:
            KeyError: no workflow has this id.
        """
        return Client(**_merge(self.client_options(workflow_id), options))

    def async_client(self, workflow_id: str, **options: Any) -> AsyncClient:
        """A `flowinvoke.AsyncClient` bound to this workflow, served in-process.

        Like `client`; the emulator's waits use `async_sleep` (asyncio and trio).

        Raises:
            KeyError: no workflow has this id.
        """
        return AsyncClient(**_merge(self.client_options(workflow_id), options))

    # -- internals ---------------------------------------------------------------------------

    def _route(self, request: WireRequest) -> Route:
        """The route of a request (lock held): the first wire that knows its path."""
        for wire in self._wires:
            route = wire.route(request)
            if route is not None:
                return route
        return Route("other", None, self._wires[0], not_found)


def _merge(defaults: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """Client arguments: `options` win; an `http_client` replaces the emulator transport."""
    if options.get("http_client") is not None:
        defaults.pop("transport")
    return {**defaults, **options}
