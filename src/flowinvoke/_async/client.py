"""`AsyncClient`: start workflow runs, query them, and wait for them to finish."""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from contextlib import aclosing
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from .._compat import async_call_maybe, async_map_unordered
from .._config import (
    CONFIG_ARGUMENTS,
    KEEP,
    ClientConfig,
    Keep,
    check_max_connections,
    env_flag,
    resolve_config,
)
from .._core.batch import BatchItem
from .._core.deadline import Deadline, positive_seconds
from .._core.defaults import (
    DEFAULT_BATCH_CONCURRENCY,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_RESPONSE_BYTES,
)
from .._core.errors import (
    ConfigurationError,
    FlowInvokeError,
)
from .._core.inputs import check_input, check_run_id, check_webhooks
from .._core.log import logger
from .._core.models import (
    OutputT,
    WaitTimeoutError,
    Webhook,
    WorkflowFailedError,
    WorkflowRun,
    typed_run,
)
from .._core.outputs import OutputAdapter, output_adapter
from .._observe.events import Hooks, TracerProvider
from .._observe.observers import CallSpan, Observers
from .._transport import build
from .._transport import http as _http
from .._transport.cooldown import CoolDown
from .._transport.proxy import async_proxy_transport
from .._transport.rate import RateLimiter
from .._transport.retry import RetryPolicy
from .._transport.slots import AsyncRequestSlots
from .._transport.templates import own_client
from .._waiting.ending import WaitEnd
from .._waiting.learning import (
    RunDurations,
    RunTimer,
    WorkflowKey,
    key_fingerprint,
    workflow_identity,
)
from .._waiting.policy import PollPolicy
from ..ledger._calls import async_ledger_call
from ..ledger._errors import AmbiguousStartError, LedgerWriteError, MissingLedgerError
from ..ledger._open import ledger_from_env, open_ledger
from ..ledger._owner import this_owner
from ..ledger._record import (
    Intent,
    RunRecord,
    account_digest,
    canonical_json,
    check_key,
    inputs_digest,
)
from ..ledger._resumed import ResumedRun
from ..providers import AuthScheme, Provider, RequestSpec
from ._batch import (
    AsyncBatch,
    OnProgress,
    OnStart,
    async_wait_items,
)
from ._keyed import ON_AMBIGUOUS, AsyncKeyedRuns, OnAmbiguous, abandoned
from ._requester import AsyncRequester
from ._schedule import AsyncWaiter
from ._stream import first_state, run_states
from ._waiter import async_follow, async_told_by_callback

if TYPE_CHECKING:
    from ..ledger._protocol import Ledger
    from ..webhooks import WebhookReceiver

__all__ = [
    "AsyncClient",
]

T = TypeVar("T")
_END: Any = object()  # the end of an iteration (an item can be any value, None included)

#: Called with each new state of a run; the async client also awaits what it returns.
OnUpdate = Callable[[WorkflowRun], object]

#: The idempotency key of each input of a batch (`run_many(..., key=...)`).
KeyOf = Callable[[Mapping[str, Any]], str]


class AsyncClient:
    """Start workflow runs on one provider, query them, and wait for them to finish.

    One instance serves a whole program: the blocking client may be shared across threads,
    the async one by every task of its event loop (asyncio or trio). Close it with
    `aclose()`, or use it as `async with AsyncClient(...) as client:`, to release its
    connections.

    Args:
        provider: A registered provider name ("gptbots", "altabots", "aitutor", "dify",
            "coze", "coze-studio") or a `Provider` instance. Default:
            `FLOWINVOKE_PROVIDER`, else "gptbots".
        api_key: The workflow's API key. Default: `FLOWINVOKE_API_KEY`.
        base_url: Override the provider's URL (an emulator, a proxy). Default:
            `FLOWINVOKE_BASE_URL`, else the provider's URL for `region`.
        region: GPTBots data centre ("sg", "jp", "th"; default "sg"); Coze site ("com",
            "cn"; default "com").
        workflow_id: The workflow to run where the provider needs one in the call
            (aitutor, Coze; Dify: a published version). Default: `FLOWINVOKE_WORKFLOW_ID`.
        timeout: The HTTP timeout, in seconds or as an `httpx.Timeout`. A number bounds
            each request as a whole (slot wait, connect, send, the whole answer); an
            `httpx.Timeout` bounds each phase, and the whole request by the largest.
            Default: 10 s to connect, 30 s to write, and a read timeout longer than the
            provider's slowest synchronous answer (which also bounds the whole request).
        retry: How one request is retried after a transient failure.
        poll: How `wait`, `watch` and `run` poll, and their default deadline.
        http_client: Your own `httpx.AsyncClient` to send with; flowinvoke never closes it
            (nor renews it after `os.fork()`, as it does its own pool: build it in the child).
        transport: An httpx transport for the client flowinvoke builds (an emulator's,
            say); not together with `http_client`.
        auth_scheme: "bearer" (`Authorization: Bearer <key>`) or "raw" (the key alone, as
            older GPTBots pages show).
        allow_insecure_http: Allow a plain-http `base_url` on a non-loopback host, which
            would send the key in clear text.
        max_connections: The connection pool size of the client flowinvoke builds: the
            most requests in flight at once (runs waiting between polls hold none).
        fast_transport: Send with httpx over aiohttp (the `fast` extra, asyncio only),
            which costs several times less CPU per request, but which respx cannot mock
            and httpx instrumentation cannot see. None (default): `FLOWINVOKE_FAST_TRANSPORT`
            if set (1/0), else httpx's own transport. The blocking client always uses
            httpx's own transport.
        rate_limit: The most requests per second this client sends, all calls together
            (a token bucket allowing bursts of `rate_burst`). None: no limit.
        rate_burst: How many requests may go at once after an idle spell.
        default_headers: Extra headers for every request.
        hooks: `Hooks` (one or a list) called for each request, response, retry and run
            state, on every transport: see the Observability page.
        tracing: OpenTelemetry spans for each call and request. None (default): on when
            `opentelemetry-api` is installed (the `otel` extra), with the global tracer
            provider; True: insist; False: off; a `TracerProvider`: trace with that one.
        trace_inputs: Record each run's input on its span (off by default: inputs may
            hold personal data).
        webhook_receiver: Finish `run()` by callback (GPTBots/AltaBots): each run gets a
            webhook target on this receiver, its wait ends when the callback comes (checked
            with one query) and polls only on the receiver's slow fallback schedule.
        run_durations: What the default poll policy has learned of run durations: a
            `RunDurations` (to share one between clients) or an `export()` of one (so that
            a new process starts warm). Default: a new, empty one.
        max_response_bytes: The most bytes of (decoded) body read from one answer; a
            larger answer fails with `APIConnectionError` as soon as it passes the cap, so
            a hostile or broken server cannot fill memory (a gzip bomb included).

        ledger: The run ledger that makes `key=` calls start once per key and lets
            `resume()` wait again after a restart: a SQLite file path, a
            `postgresql://` URL, or a `Ledger` (see the Durable runs page). Default:
            `FLOWINVOKE_LEDGER`, else none. A ledger opened here is closed with the client.
        store_inputs: Keep each keyed run's inputs (and its raw answers) in the ledger;
            by default only a digest of the inputs is kept, since they may hold personal
            data.
    Raises:
        ConfigurationError: a setting is missing or wrong; nothing has been sent.
        LedgerUnavailableError, LedgerSchemaError: the ledger cannot be opened.
    """

    def __init__(
        self,
        *,
        provider: str | Provider | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        region: str | None = None,
        workflow_id: str | None = None,
        timeout: float | _http.Timeout | None = None,
        retry: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        http_client: _http.AsyncClient | None = None,
        transport: _http.AsyncBaseTransport | None = None,
        auth_scheme: AuthScheme = "bearer",
        allow_insecure_http: bool = False,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        fast_transport: bool | None = None,
        rate_limit: float | None = None,
        rate_burst: int = 1,
        default_headers: Mapping[str, str] | None = None,
        hooks: Hooks | Sequence[Hooks] | None = None,
        tracing: bool | TracerProvider | None = None,
        trace_inputs: bool = False,
        webhook_receiver: WebhookReceiver | None = None,
        run_durations: RunDurations | Mapping[str, Any] | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        ledger: str | os.PathLike[str] | Ledger | None = None,
        store_inputs: bool = False,
    ) -> None:
        self._webhook_receiver = webhook_receiver
        given = locals()
        config = resolve_config(**{name: given[name] for name in CONFIG_ARGUMENTS})
        if http_client is not None and transport is not None:
            raise ConfigurationError("pass http_client or transport, not both")
        check_max_connections(max_connections)
        try:
            limiter = None if rate_limit is None else RateLimiter(rate_limit, rate_burst)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        owns_http = http_client is None
        # Requests wait for a slot here rather than in the pool (see AsyncRequestSlots); a
        # caller's own http_client keeps its own limits.
        slots = AsyncRequestSlots(max_connections if owns_http else None)
        if not isinstance(run_durations, RunDurations):
            run_durations = RunDurations(seed=run_durations)
        if http_client is None:
            http_client = _own_http_client(config, transport, fast_transport, max_connections)
        cooldown = CoolDown(config.retry.max_retry_after)
        observers = Observers(hooks, tracing=tracing, trace_inputs=trace_inputs)
        opened = ledger_from_env() if ledger is None else open_ledger(ledger)
        self._owns_ledger = opened is not None and opened is not ledger
        self._keyed = None if opened is None else AsyncKeyedRuns(opened, store_inputs)
        self._bind(
            config,
            http_client,
            slots,
            limiter,
            cooldown,
            observers,
            run_durations,
            owns_http=owns_http,
            query_limit=max_connections if owns_http else None,
        )

    def _bind(
        self,
        config: ClientConfig,
        http: _http.AsyncClient,
        slots: AsyncRequestSlots,
        limiter: RateLimiter | None,
        cooldown: CoolDown,
        observers: Observers,
        durations: RunDurations,
        *,
        owns_http: bool,
        query_limit: int | None,
    ) -> None:
        self._config = config
        self._durations = durations
        self._fingerprint: str | None = None
        self._account_digest: str | None = None
        self._last_key: WorkflowKey | None = None
        self._http = http
        self._slots = slots
        self._limiter = limiter
        self._cooldown = cooldown
        self._observers = observers
        self._owns_http = owns_http
        self._warned_no_callback = False
        self._requester = AsyncRequester(
            http,
            provider=config.provider,
            base_url=config.base_url,
            headers=config.request_headers(),
            timeout=config.timeout,
            retry=config.retry,
            redact=config.redactor(),
            slots=slots,
            limiter=limiter,
            cooldown=cooldown,
            observers=observers,
            auth_scheme=config.auth_scheme,
            max_response_bytes=config.max_response_bytes,
        )
        # What follows this client's waits (docs/architecture.md#the-waiter): async, one
        # schedule per event loop sending at most `query_limit` queries at once (the
        # request slots; None with a caller's http_client); blocking, a loop per wait.
        self._query_limit = query_limit
        self._waiter = AsyncWaiter(self._requester, query_limit)

    @property
    def provider(self) -> Provider:
        """The provider this client speaks to."""
        return self._config.provider

    @property
    def base_url(self) -> str:
        """The URL requests go to."""
        return self._config.base_url

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy of each request."""
        return self._config.retry

    @property
    def poll(self) -> PollPolicy:
        """The default poll policy of `wait`, `watch` and `run`."""
        return self._config.poll

    @property
    def ledger(self) -> Ledger | None:
        """The run ledger of `key=` calls, if any (shared with `with_options`)."""
        return None if self._keyed is None else self._keyed.ledger

    @property
    def run_durations(self) -> RunDurations:
        """The run durations the default poll policy learned (shared with `with_options`)."""
        return self._durations

    def with_options(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        region: str | None = None,
        workflow_id: str | None = None,
        timeout: float | _http.Timeout | None = None,
        retry: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        auth_scheme: AuthScheme | None = None,
        default_headers: Mapping[str, str] | None = None,
        max_response_bytes: int | None = None,
        webhook_receiver: WebhookReceiver | Keep | None = KEEP,
    ) -> AsyncClient:
        """A client with some settings changed that shares this one's connection pool.

        It also shares the rate limit, if any, the cool-down after rate-limited answers,
        and the hooks and tracing. Closing the new client leaves the pool open; closing
        this one closes it for both. A setting left out (or None) keeps this client's
        value, except `webhook_receiver`: None turns callbacks off for the new client
        (its runs are followed by polling), another receiver replaces this one's.
        """
        changes = {name: value for name, value in locals().items() if name in CONFIG_ARGUMENTS}
        arguments = self._config.arguments()
        arguments.update({name: value for name, value in changes.items() if value is not None})
        if region is not None:  # a new region means its URL, unless one is given too
            arguments.update(base_url=base_url)
        derived = object.__new__(type(self))
        # Derive from this client's settings alone: the environment was read once already.
        config = resolve_config(**arguments, environ={})
        derived._bind(
            config,
            self._http,
            self._slots,
            self._limiter,
            self._cooldown,
            self._observers,
            self._durations,
            owns_http=False,
            query_limit=self._query_limit,
        )
        derived._webhook_receiver = (
            self._webhook_receiver if isinstance(webhook_receiver, Keep) else webhook_receiver
        )
        derived._keyed, derived._owns_ledger = self._keyed, False
        return derived

    async def invoke(
        self,
        input: Mapping[str, Any],
        *,
        user_id: str | None = None,
        workflow_id: str | None = None,
        async_mode: bool = False,
        webhooks: Sequence[Webhook | Mapping[str, Any]] | None = None,
        output_type: type[OutputT] | None = None,
        key: str | None = None,
        on_ambiguous: OnAmbiguous = "raise",
    ) -> WorkflowRun[OutputT]:
        """Start a run and return what the server said of it.

        A synchronous start (the default) returns the finished run; with `async_mode=True`
        (GPTBots/AltaBots `isAsync`) the server answers at once and the run comes back
        PENDING or RUNNING: follow it with `wait`. A start is retried only where no run can
        have started; after an ambiguous failure the error's `may_have_started` is True.

        Args:
            input: The workflow's Start-node parameters, a mapping of str to JSON values.
            user_id: Tags the caller on platforms that record it (GPTBots' `userId`).
            workflow_id: The workflow to run, overriding the client's (aitutor).
            async_mode: Return at once with an unfinished run (GPTBots/AltaBots).
            webhooks: Up to 5 targets the platform calls when an async run ends.
            output_type: Validate a succeeded run's output into this type (see `run`).
            key: An idempotency key (needs a ledger): the run starts once per key, here
                or in any process sharing the ledger; a repeated call returns the recorded
                run (finished: with no request; else waited for, or with `async_mode`
                queried once). The same key with other inputs raises `KeyConflictError`.
            on_ambiguous: What a keyed call does when the key's start was sent but never
                answered (the run may exist): "raise" `AmbiguousStartError` (default,
                never pays twice) or "restart" (send it again, on purpose).

        Raises:
            TypeError, ValueError: `input` is not a mapping of str to JSON values.
            ConfigurationError, UnsupportedOperationError: the call cannot be made here.
            APIError: the request failed (see the errors reference).
            OutputValidationError: the output does not fit `output_type`.
            LedgerError: with `key`, see the Durable runs page.
        """
        adapter = _adapter(output_type)
        spec = self._invoke_spec(input, user_id, workflow_id, async_mode, webhooks)
        if key is None:
            return await self._invoke_once(spec, workflow_id, input, adapter)
        intent = self._intent(key, on_ambiguous, input, user_id, workflow_id)
        policy = self._config.poll

        async def start(on_update: OnUpdate) -> WorkflowRun:
            run = await self._invoke_once(spec, workflow_id, input, None)
            await async_call_maybe(on_update, run)
            return run

        async def recorded(run_id: str, deadline: Deadline) -> WorkflowRun:
            if async_mode:
                return await self.get_run(run_id, workflow_id=workflow_id)
            return await self._wait_within(run_id, deadline, policy, workflow_id, None)

        keyed = self._keyed_runs()
        deadline = _deadline(None, policy)
        run = await keyed.once(intent, deadline, on_ambiguous, None, start, recorded)
        return typed_run(run, adapter)

    async def _invoke_once(
        self,
        spec: RequestSpec,
        workflow_id: str | None,
        input: Mapping[str, Any],
        adapter: OutputAdapter[OutputT] | None,
    ) -> WorkflowRun[OutputT]:
        with self._call("flowinvoke.invoke", workflow_id, input=input) as call:
            run = await first_state(self._requester, self._config.provider, spec, Deadline(None))
            call.finished(run)
            return typed_run(run, adapter)

    async def get_run(
        self,
        run_id: str,
        *,
        workflow_id: str | None = None,
        output_type: type[OutputT] | None = None,
    ) -> WorkflowRun[OutputT]:
        """Query a run's current state once.

        `workflow_id` names the run's workflow where the query path needs it (Coze);
        default: the client's. `output_type` validates a succeeded run's output (see `run`).

        Raises:
            UnsupportedOperationError: the provider has no query endpoint (aitutor).
            NotFoundError: there is no such run.
            APIError: the request failed.
            OutputValidationError: the output does not fit `output_type`.
        """
        adapter = _adapter(output_type)
        spec = self._query_spec(run_id, workflow_id)
        with self._call("flowinvoke.get_run", run_id=run_id) as call:
            run = (await self._requester.send(spec)).run
            call.finished(run)
            return typed_run(run, adapter)

    async def wait(
        self,
        run_or_id: WorkflowRun | str,
        *,
        timeout: float | None = None,
        poll: PollPolicy | None = None,
        on_update: OnUpdate | None = None,
        workflow_id: str | None = None,
        output_type: type[OutputT] | None = None,
    ) -> WorkflowRun[OutputT]:
        """Poll a run until it leaves PENDING/RUNNING, and return its terminal state.

        Takes a `WorkflowRun` or a bare run id, so a restarted process can resume a wait
        with nothing but the id. The terminal run is returned whatever its status; call
        `raise_for_status()` on it to turn failure into an exception.

        Args:
            run_or_id: The run, or its id.
            timeout: The wait deadline in seconds (default: the poll policy's timeout).
            poll: The poll schedule (default: the client's).
            on_update: Called (or awaited) with each new state; what it raises propagates.
            workflow_id: The run's workflow, for a bare id on a platform whose query names
                it (Coze); default: the client's. A `WorkflowRun` carries its own.
            output_type: Validate a succeeded run's output into this type (see `run`).

        Raises:
            WaitTimeoutError: the deadline passed; it carries the run id and the last state.
            UnsupportedOperationError: a bare id on a provider without a query endpoint.
            APIError: a failure retrying cannot mend (401, 403, 404, ...), with the run id.
            OutputValidationError: the output does not fit `output_type`.
        """
        adapter = _adapter(output_type)
        policy = poll or self._config.poll
        deadline = _deadline(timeout, policy)
        run_id = _id_of(run_or_id)
        workflow = workflow_id or self._config.workflow_id
        timer = self._timer(run_or_id, policy)
        # Handed over, not kept here: the waiter holds the run until a newer one replaces it.
        start = [run_or_id]
        del run_or_id
        with self._call("flowinvoke.wait", run_id=run_id) as call:
            run = await self._waiter.follow(
                self._config.provider,
                start.pop(),
                policy,
                deadline,
                self._observers,
                on_update,
                workflow,
                timer,
            )
            call.finished(run)
            return typed_run(run, adapter)

    async def _wait_within(
        self,
        run_id: str,
        deadline: Deadline,
        policy: PollPolicy,
        workflow_id: str | None,
        on_update: OnUpdate | None,
    ) -> WorkflowRun:
        """`wait` for a recorded run id, within a deadline already running."""
        states = self._poll_states(run_id, policy, deadline, workflow_id)
        return await self._follow_wait(states, run_id, on_update, None)

    async def _follow_wait(
        self,
        states: AsyncGenerator[WorkflowRun, None],
        run_id: str | None,
        on_update: OnUpdate | None,
        adapter: OutputAdapter[OutputT] | None,
    ) -> WorkflowRun[OutputT]:
        with self._call("flowinvoke.wait", run_id=run_id) as call:
            run = await async_follow(states, self._observers, on_update)
            call.finished(run)
            return typed_run(run, adapter)

    async def watch(
        self,
        run_or_id: WorkflowRun | str,
        *,
        timeout: float | None = None,
        poll: PollPolicy | None = None,
        workflow_id: str | None = None,
    ) -> AsyncGenerator[WorkflowRun, None]:
        """Yield the run each time its observed state changes, ending after the terminal one.

        The deadline starts at the first iteration. Arguments and errors are those of `wait`.
        Close it when leaving early (`async with aclosing(client.watch(...))`) so the wait
        ends at once rather than when the generator is collected.
        """
        policy = poll or self._config.poll
        deadline = _deadline(timeout, policy)
        states = self._poll_states(run_or_id, policy, deadline, workflow_id)
        call = self._call("flowinvoke.wait", run_id=_id_of(run_or_id))

        def seen(state: WorkflowRun) -> None:
            self._observers.state(state)
            if state.done:
                call.finished(state)

        async with aclosing(_traced(call, states, seen)) as traced:
            async for state in traced:
                yield state

    async def run(
        self,
        input: Mapping[str, Any],
        *,
        user_id: str | None = None,
        workflow_id: str | None = None,
        webhooks: Sequence[Webhook | Mapping[str, Any]] | None = None,
        timeout: float | None = None,
        poll: PollPolicy | None = None,
        on_update: OnUpdate | None = None,
        raise_on_failure: bool = True,
        output_type: type[OutputT] | None = None,
        key: str | None = None,
        on_ambiguous: OnAmbiguous = "raise",
    ) -> WorkflowRun[OutputT]:
        """Start a run and wait for it to finish.

        Where the provider can start a run asynchronously (GPTBots/AltaBots, Coze), `run`
        does, so a long workflow never meets a gateway's request timeout; where its start
        streams events (Dify), `run` reads the outcome from the stream and polls the run
        if the stream drops. `on_update` first
        receives the started run (with its id) before any waiting, and every error raised
        after the start carries the run id. The deadline covers the start and the wait.

        `output_type` (a pydantic model, a dataclass, a TypedDict, `list[str]`, any type
        pydantic's `TypeAdapter` takes) validates the succeeded run's output into that type
        and types the result for mypy as `WorkflowRun[output_type]`; an output that arrives
        as a JSON-encoded string (Coze) is decoded first. The type is checked before the
        start. A run that did not succeed keeps its output as the server sent it.

        With `key` (and a ledger) the run starts once per key: a repeated call, in this
        process or another sharing the ledger, waits on the recorded run or returns its
        recorded end with no request; `key` and `on_ambiguous` are as for `invoke`.

        Raises:
            WorkflowFailedError: the run ended without success (unless
                `raise_on_failure=False`, which returns it instead).
            OutputValidationError: the output does not fit `output_type`; it carries the
                run and the raw output.
            WaitTimeoutError, APIError: as for `invoke` and `wait`.
            LedgerError: with `key`, see the Durable runs page.
        """
        adapter = _adapter(output_type)
        policy = poll or self._config.poll
        deadline = _deadline(timeout, policy)
        start = partial(self._run_once, input, user_id, workflow_id, webhooks, policy, deadline)
        if key is None:  # a failure is raised inside the call's span, which records it
            return await start(on_update, raise_on_failure=raise_on_failure, adapter=adapter)
        intent = self._intent(key, on_ambiguous, input, user_id, workflow_id)
        recorded = partial(
            self._wait_within, policy=policy, workflow_id=workflow_id, on_update=on_update
        )
        keyed = self._keyed_runs()
        finished = await keyed.once(intent, deadline, on_ambiguous, on_update, start, recorded)
        if raise_on_failure:
            finished.raise_for_status()
        return typed_run(finished, adapter)

    async def _run_once(
        self,
        input: Mapping[str, Any],
        user_id: str | None,
        workflow_id: str | None,
        webhooks: Sequence[Webhook | Mapping[str, Any]] | None,
        policy: PollPolicy,
        deadline: Deadline,
        on_update: OnUpdate | None,
        *,
        raise_on_failure: bool = False,
        adapter: OutputAdapter[OutputT] | None = None,
    ) -> WorkflowRun[OutputT]:
        provider = self._config.provider
        async_mode = provider.supports_async_invoke
        # A run is told of its end by webhook only where the platform calls webhooks.
        receiver = self._webhook_receiver if async_mode and provider.supports_webhooks else None
        with (
            self._call("flowinvoke.run", workflow_id, input=input) as call,
            async_told_by_callback(receiver, webhooks, policy) as (targets, schedule, wakeup),
        ):
            spec = self._invoke_spec(input, user_id, workflow_id, async_mode, targets)
            # Learning times polls; a run told of its end by webhook polls only as a safety net.
            timer = None if receiver is not None else partial(self._timer, policy=schedule)
            end = WaitEnd() if receiver is not None else None
            states = run_states(
                self._requester,
                provider,
                spec,
                schedule,
                deadline,
                wakeup,
                waiter=self._waiter,
                timer_for=timer,
                end=end,
            )
            finished = await async_follow(states, self._observers, on_update, call)
            call.finished(finished)
            if receiver is not None and end is not None and end.how == "poll":
                self._no_callback(finished, receiver, end)
            if raise_on_failure:
                finished.raise_for_status()
            return typed_run(finished, adapter)

    async def run_many(
        self,
        inputs: Iterable[Mapping[str, Any]],
        *,
        concurrency: int = DEFAULT_BATCH_CONCURRENCY,
        user_id: str | None = None,
        timeout: float | None = None,
        poll: PollPolicy | None = None,
        on_progress: OnProgress | None = None,
        on_start: OnStart | None = None,
        output_type: type[OutputT] | None = None,
        key: KeyOf | None = None,
        on_ambiguous: OnAmbiguous = "raise",
    ) -> list[BatchItem[OutputT]]:
        """Run every input to the end, at most `concurrency` at once; return items in order.

        One failure never stops the others and no finished result is dropped: each
        `BatchItem` holds its input's index, the run (if one started) and the error (if it
        did not succeed). Inputs are drawn only as run slots free up. Each run has its own
        deadline (`timeout`, else the poll policy's), which starts when it takes its slot
        and includes any wait for a connection or for the rate limit.

        Args:
            inputs: The workflow inputs, each a mapping of str to JSON values.
            concurrency: The most runs in flight at once (not requests: those are bounded
                by the connection pool).
            user_id: Tags every run's caller (GPTBots' `userId`).
            timeout: Each run's wait deadline in seconds.
            poll: The poll schedule (default: the client's).
            on_progress: Called (or awaited) with a `BatchProgress` after each input.
            on_start: Called (or awaited) with `(index, run)` as soon as each run's start
                returns, before its wait: `run.id` is the id to persist so that a crashed
                batch can wait for its runs (`wait(run_id)`) instead of starting them again.
            output_type: Validate each succeeded run's output into this type (see `run`);
                an output that does not fit is its item's `OutputValidationError`, and the
                item keeps the run.
            key: A function of an input giving its idempotency key (needs a ledger): each
                input is then run as `run(input, key=key(input))`, so a batch run again
                after a crash starts no input twice (see the Durable runs page).
            on_ambiguous: As for `run`, for every keyed input.

        Raises:
            ValueError: `concurrency` is not a positive integer; nothing was sent.
            ConfigurationError: pydantic cannot validate into `output_type`.
            MissingLedgerError: `key` without a ledger; nothing was sent.
        """
        batch = AsyncBatch(
            self._validating(self._keyed_by(key, on_ambiguous), output_type),
            concurrency=concurrency,
            user_id=user_id,
            timeout=timeout,
            poll=poll,
            on_start=on_start,
        )
        with self._call("flowinvoke.run_many"):
            return await batch.collect(inputs, on_progress)

    async def as_completed(
        self,
        inputs: Iterable[Mapping[str, Any]],
        *,
        concurrency: int = DEFAULT_BATCH_CONCURRENCY,
        user_id: str | None = None,
        timeout: float | None = None,
        poll: PollPolicy | None = None,
        on_start: OnStart | None = None,
        output_type: type[OutputT] | None = None,
        key: KeyOf | None = None,
        on_ambiguous: OnAmbiguous = "raise",
    ) -> AsyncGenerator[BatchItem[OutputT], None]:
        """Like `run_many`, but yield each `BatchItem` as soon as its run finishes.

        Items come in completion order (use `item.index` to match them to inputs), so
        results can be written out while the batch goes on. Breaking out of the loop, or
        cancelling the task, stops every run still in flight. `on_start`, `output_type`,
        `key` and `on_ambiguous` are as for `run_many`.
        """
        batch = AsyncBatch(
            self._validating(self._keyed_by(key, on_ambiguous), output_type),
            concurrency=concurrency,
            user_id=user_id,
            timeout=timeout,
            poll=poll,
            on_start=on_start,
        ).items(inputs)
        call = self._call("flowinvoke.run_many")
        async with aclosing(_traced(call, batch)) as traced:
            async for item in traced:
                yield item

    async def wait_many(
        self,
        run_ids: Iterable[str],
        *,
        concurrency: int = DEFAULT_BATCH_CONCURRENCY,
        timeout: float | None = None,
        poll: PollPolicy | None = None,
        output_type: type[OutputT] | None = None,
    ) -> AsyncGenerator[BatchItem, None]:
        """Wait for many runs already started, yielding each `BatchItem` as its run ends.

        For runs started elsewhere or before a restart, known by their ids only: at most
        `concurrency` waits at once, each with its own deadline (`timeout`, default the
        poll policy's). An item's `input` is its run id and `index` its position in
        `run_ids`; one id's failure (a timeout, a 404) is that item's error and the others
        go on. Breaking out of the loop, or cancelling the task, stops the waits in flight.
        `output_type` validates each succeeded run's output (see `run`).
        """
        wait = self._validating(self.wait, output_type)
        items = async_wait_items(wait, run_ids, concurrency=concurrency, timeout=timeout, poll=poll)
        call = self._call("flowinvoke.wait_many")
        async with aclosing(_traced(call, items)) as traced:
            async for item in traced:
                yield item

    async def pending(
        self,
        *,
        provider: str | None = None,
        workflow: str | None = None,
        older_than: float | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        """The unfinished runs of the ledger, oldest first (every client's, by default).

        Args:
            provider: Only this provider's runs ("gptbots", ...).
            workflow: Only this workflow's runs.
            older_than: Only runs whose intent was written more than this many seconds ago.
            limit: At most this many rows.

        Raises:
            MissingLedgerError: the client has no ledger.
            LedgerUnavailableError: the ledger cannot be read.
        """
        ledger = self._keyed_runs().ledger
        return await async_ledger_call(
            ledger.pending, provider=provider, workflow=workflow, older_than=older_than, limit=limit
        )

    async def resume(
        self,
        *,
        concurrency: int = DEFAULT_BATCH_CONCURRENCY,
        timeout: float | None = None,
        poll: PollPolicy | None = None,
        workflow: str | None = None,
    ) -> AsyncGenerator[ResumedRun, None]:
        """Wait again for the unfinished runs of this client's ledger (after a restart,
        say), at most `concurrency` at once; yield each as it ends, its end recorded.

        Only runs this client can wait for are taken: its provider's, on its host, started
        with its API key. A run whose start has no recorded id and no live process behind
        it is yielded at once with `AmbiguousStartError` (nothing to wait for: it is left
        as it is); a start another process is sending right now is left to that process.
        Each wait has its own deadline (`timeout`, else the poll policy's).

        Raises:
            MissingLedgerError: the client has no ledger.
            LedgerUnavailableError: the ledger cannot be read.
        """
        keyed = self._keyed_runs()
        policy = poll or self._config.poll
        if type(concurrency) is not int or concurrency < 1:
            raise ValueError(f"concurrency must be a positive int, not {concurrency!r}")
        rows = await async_ledger_call(
            keyed.ledger.pending, provider=self._config.provider.name, workflow=workflow
        )
        host, account = self._host(), self._account()
        mine = [
            row
            for row in rows
            if row.host == host
            and row.account == account
            and (row.run_id is not None or abandoned(keyed.ledger, row))
        ]

        async def resumed(record: RunRecord) -> ResumedRun:
            if record.run_id is None:
                return ResumedRun(record, None, AmbiguousStartError(record.key, record.attempts))
            workflow_id = None if record.workflow.startswith("key:") else record.workflow
            deadline = _deadline(timeout, policy)
            try:
                run = await self._wait_within(record.run_id, deadline, policy, workflow_id, None)
                if run.done:
                    await keyed.finish(record.key, run)
            except WaitTimeoutError as error:
                return ResumedRun(record, error.last_run, error)
            except LedgerWriteError as error:
                return ResumedRun(record, error.run, error)
            except FlowInvokeError as error:
                return ResumedRun(record, None, error)
            return ResumedRun(record, run, None if run.succeeded else WorkflowFailedError(run))

        async with aclosing(async_map_unordered(resumed, mine, concurrency)) as results:
            async for item in results:
                yield item

    async def aclose(self) -> None:
        """Close the connection pool, unless it was passed in or is shared from another,
        and the ledger, if the client opened it."""
        if self._owns_ledger and self._keyed is not None:
            self._keyed.ledger.close()
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(provider={self._config.provider.name!r}, "
            f"base_url={self._config.base_url!r})"
        )

    def _no_callback(self, run: WorkflowRun, receiver: WebhookReceiver, end: WaitEnd) -> None:
        """Warn, once per client, that a run expecting a callback finished by polling."""
        if self._warned_no_callback:
            return
        self._warned_no_callback = True
        logger.warning(
            "run %s expected a webhook callback but finished by the receiver's fallback "
            "polling (%d queries): the platform most likely cannot reach public_url %s "
            "(is it public, and routed to the receiver?). Said once per client; each wait's "
            "ending is logged at DEBUG",
            run.id,
            end.queries,
            receiver.public_url,
            extra={"provider": run.provider, "operation": "run", "run_id": run.id},
        )

    def _validating(
        self, method: Callable[..., Any], output_type: type[Any] | None
    ) -> Callable[..., Any]:
        """What a batch calls for each input or id (`run`, `wait`), validating into
        `output_type` if any."""
        if output_type is None:
            return method
        _adapter(output_type)  # a type pydantic cannot take fails before the first request
        return partial(method, output_type=output_type)

    def _keyed_runs(self) -> AsyncKeyedRuns:
        if self._keyed is None:
            raise MissingLedgerError(
                "key= needs a run ledger: pass ledger= to the client (a SQLite file path "
                "or a postgresql:// URL) or set FLOWINVOKE_LEDGER"
            )
        return self._keyed

    def _keyed_by(self, key: KeyOf | None, on_ambiguous: OnAmbiguous) -> Callable[..., Any]:
        """The run function of a batch: `run`, or `run` with each input's key."""
        if key is None:
            return self.run
        self._keyed_runs()
        if not callable(key):
            raise TypeError(f"key must be a function of an input, not {type(key).__name__}")

        async def run(input: Mapping[str, Any], **options: Any) -> WorkflowRun:
            return await self.run(input, key=key(input), on_ambiguous=on_ambiguous, **options)

        return run

    def _intent(
        self,
        key: str,
        on_ambiguous: str,
        input: Mapping[str, Any],
        user_id: str | None,
        workflow_id: str | None,
    ) -> Intent:
        """The row a keyed call claims, every argument checked before anything is sent."""
        keyed = self._keyed_runs()
        try:
            check_key(key)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"key= {exc}") from None
        if on_ambiguous not in ON_AMBIGUOUS:
            raise ConfigurationError(
                f"on_ambiguous= must be 'raise' or 'restart', not {on_ambiguous!r}"
            )
        checked = check_input(input)
        if self._fingerprint is None:
            self._fingerprint = key_fingerprint(self._config.api_key.reveal())
        return Intent(
            key=key,
            provider=self._config.provider.name,
            host=self._host(),
            workflow=workflow_identity(self._fingerprint, workflow_id, self._config.workflow_id),
            account=self._account(),
            inputs_digest=inputs_digest(checked, user_id),
            inputs=canonical_json(checked) if keyed.store_inputs else None,
            owner=this_owner(),
            trace=self._observers.traceparent(),
        )

    def _host(self) -> str:
        parts = urlsplit(self._config.base_url)
        return parts.netloc.rpartition("@")[2]

    def _account(self) -> str:
        if self._account_digest is None:
            self._account_digest = account_digest(self._config.api_key.reveal())
        return self._account_digest

    def _poll_states(
        self,
        run_or_id: WorkflowRun | str,
        policy: PollPolicy,
        deadline: Deadline,
        workflow_id: str | None,
    ) -> AsyncGenerator[WorkflowRun, None]:
        provider, workflow = self._config.provider, workflow_id or self._config.workflow_id
        return self._waiter.states(
            provider,
            run_or_id,
            policy,
            deadline,
            workflow_id=workflow,
            timer=self._timer(run_or_id, policy),
        )

    def _timer(self, run_or_id: WorkflowRun | str, policy: PollPolicy) -> RunTimer | None:
        """A learning timer for a wait that starts from a run's start answer.

        A bare id says nothing of when its run started, so its wait neither uses nor feeds
        the learned durations.
        """
        if not (policy.adaptive and isinstance(run_or_id, WorkflowRun)) or run_or_id.done:
            return None
        if self._fingerprint is None:
            self._fingerprint = key_fingerprint(self._config.api_key.reveal())
        identity = workflow_identity(
            self._fingerprint, run_or_id.workflow_id, self._config.workflow_id
        )
        key = self._last_key
        if key is None or key.workflow != identity:  # one key object for a batch's waits
            key = WorkflowKey(self._config.provider.name, self._config.base_url, identity)
            self._last_key = key
        return self._durations.timer(key)

    def _invoke_spec(
        self,
        input: Mapping[str, Any],
        user_id: str | None,
        workflow_id: str | None,
        async_mode: bool,
        webhooks: Sequence[Webhook | Mapping[str, Any]] | None,
    ) -> RequestSpec:
        if user_id is not None and not isinstance(user_id, str):
            raise TypeError(f"user_id must be a str, not {type(user_id).__name__}")
        return self._config.provider.build_invoke(
            check_input(input),
            user_id=user_id,
            workflow_id=workflow_id or self._config.workflow_id,
            async_mode=async_mode,
            webhooks=check_webhooks(webhooks),
        )

    def _query_spec(self, run_id: str, workflow_id: str | None) -> RequestSpec:
        workflow = workflow_id or self._config.workflow_id
        return self._config.provider.query_for(check_run_id(run_id), workflow_id=workflow)

    def _call(
        self,
        name: str,
        workflow_id: str | None = None,
        *,
        run_id: str | None = None,
        input: Mapping[str, Any] | None = None,
    ) -> CallSpan:
        return self._observers.call(
            name,
            self._config.provider.name,
            workflow_id=workflow_id or self._config.workflow_id,
            run_id=run_id,
            input=input,
        )


def _own_http_client(
    config: ClientConfig,
    transport: _http.AsyncBaseTransport | None,
    fast_transport: bool | None,
    max_connections: int,
) -> _http.AsyncClient:
    """The httpx client a flowinvoke client builds (and owns) when it is given none.

    Its transport is httpx's own unless the aiohttp one is asked for (respx and httpx
    instrumentation see only httpx's own), and is made anew in a forked child.
    """
    if transport is None:  # through a proxy, when the policy picks one (_transport.proxy)
        transport = async_proxy_transport(config.base_url, max_connections)
    if transport is None:
        limits = _http.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        if fast_transport is None:
            fast_transport = env_flag("FAST_TRANSPORT")
        try:
            transport = build.async_default_transport(limits, fast=bool(fast_transport))
        except ImportError as exc:
            raise ConfigurationError(str(exc)) from None
    client = _http.AsyncClient(
        transport=transport,
        timeout=config.timeout,
        headers=config.request_headers(),  # as defaults: cheaper than merging per request
        follow_redirects=False,
    )
    return own_client(client)  # no caller holds it: its requests may come from templates


async def _traced(
    call: CallSpan,
    items: AsyncGenerator[T, None],
    seen: Callable[[T], object] | None = None,
) -> AsyncGenerator[T, None]:
    """`items`, with `call` current while each is produced (so the spans of its requests
    and runs become children) but never across a `yield`, which would leak it into the
    consumer; `seen` is told of each item first. The call's span ends with the iteration,
    recording what ended it."""
    failure: BaseException | None = None
    try:
        async with aclosing(items):
            while True:
                with call.active():
                    item = await anext(items, _END)
                    if item is not _END and seen is not None:
                        seen(item)
                if item is _END:
                    break
                yield item
    except BaseException as error:
        failure = error
        raise
    finally:
        call.end(failure)


def _adapter(output_type: type[OutputT] | None) -> OutputAdapter[OutputT] | None:
    """The output type's adapter, or None; a type pydantic cannot take fails here, unsent."""
    return None if output_type is None else output_adapter(output_type)


def _id_of(run_or_id: WorkflowRun | str) -> str | None:
    return run_or_id.id if isinstance(run_or_id, WorkflowRun) else run_or_id


def _deadline(timeout: float | None, policy: PollPolicy) -> Deadline:
    if timeout is None:
        return Deadline(policy.timeout)
    return Deadline(positive_seconds(timeout, "timeout"))
