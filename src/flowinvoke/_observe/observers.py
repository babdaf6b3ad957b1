"""Watching a client work: user hooks and OpenTelemetry spans, fed from one place.

The client tells its `Observers` when a public call begins and ends, when each HTTP
request goes out and comes back, when a request is retried and when a run's state changes.
Hooks get plain event objects; the tracer (only when `opentelemetry-api` is installed and
tracing is on) turns the same moments into spans and span events. With neither, every call
here is a constant-time no-op, and nothing of OpenTelemetry is imported.

Never recorded: the API key, webhook secrets, headers, and the run's inputs (unless the
client was built with `trace_inputs=True`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from .._core.errors import ConfigurationError
from .events import (
    Hooks,
    RequestEvent,
    RequestOutcome,
    ResponseEvent,
    RetryEvent,
    TracerProvider,
)
from .otel import current_traceparent, end_request_span, records_spans, tracer_for, url_parts

if TYPE_CHECKING:
    from .._core.models import WorkflowRun
    from ..providers import RequestSpec

__all__ = ["CallSpan", "Observers", "current_call"]


class CallSpan:
    """One public call (`invoke`, `run`, `wait`, ...) as observers see it.

    A do-nothing instance stands in when nobody observes, so callers never test for it.
    """

    __slots__ = ("_observers", "_queries", "_span", "_token")

    def __init__(self, observers: Observers | None, span: Any) -> None:
        self._observers = observers
        self._span = span
        self._queries = 0
        self._token: Any = None

    def __enter__(self) -> CallSpan:
        if self._observers is not None:
            self._activate()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: Any
    ) -> None:
        if self._observers is None:
            return
        self._deactivate()
        self.end(error)

    @contextmanager
    def active(self) -> Iterator[None]:
        """Make this the current call (and span) inside the block only: for generators,
        which must not leave their span current across a `yield`."""
        if self._observers is None:
            yield
            return
        self._activate()
        try:
            yield
        finally:
            self._deactivate()

    def end(self, error: BaseException | None = None) -> None:
        """Close the span, recording `error` as its failure."""
        span = self._span
        if span is None:
            return
        self._span = None
        if self._queries:
            span.set_attribute("flowinvoke.queries", self._queries)
        if error is not None:
            from opentelemetry.trace import Status, StatusCode

            span.set_attribute("error.type", type(error).__qualname__)
            run_id = getattr(error, "run_id", None)
            if run_id:
                span.set_attribute("flowinvoke.run_id", run_id)
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__qualname__))
        span.end()

    def run_id(self, run_id: str | None) -> None:
        """The run's id, as soon as the server named it."""
        if self._span is not None and run_id:
            self._span.set_attribute("flowinvoke.run_id", run_id)

    def finished(self, run: WorkflowRun) -> None:
        """The run's final state, as the call returns it."""
        if self._span is not None:
            self.run_id(run.id)
            self._span.set_attribute("flowinvoke.status", run.status.value)
            if run.workflow_id:
                self._span.set_attribute("flowinvoke.workflow_id", run.workflow_id)

    def event(self, name: str, attributes: Mapping[str, Any]) -> None:
        """A moment inside the call (a retry, a state change)."""
        if self._span is not None:
            self._span.add_event(name, {k: v for k, v in attributes.items() if v is not None})

    def counted_query(self) -> None:
        self._queries += 1

    def _activate(self) -> None:
        if self._span is not None:
            from opentelemetry import context, trace

            self._token = (
                _CURRENT.set(self),
                context.attach(trace.set_span_in_context(self._span)),
            )
        else:
            self._token = (_CURRENT.set(self), None)

    def _deactivate(self) -> None:
        current, otel = self._token
        self._token = None
        _CURRENT.reset(current)
        if otel is not None:
            from opentelemetry import context

            context.detach(otel)


_NO_CALL = CallSpan(None, None)
_CURRENT: ContextVar[CallSpan] = ContextVar("flowinvoke_call", default=_NO_CALL)


def current_call() -> CallSpan:
    """The public call the current task is inside (a do-nothing one outside any)."""
    return _CURRENT.get()


class Observers:
    """Everything that watches one client: its hooks and, when on, its tracer."""

    __slots__ = ("_hooks", "_recording", "_trace_inputs", "_tracer")

    def __init__(
        self,
        hooks: Hooks | Sequence[Hooks] | None = None,
        *,
        tracing: bool | TracerProvider | None = None,
        trace_inputs: bool = False,
    ) -> None:
        self._hooks = _hooks_tuple(hooks)
        self._tracer = tracer_for(tracing)
        self._recording = False  # once the tracer records, it always will
        self._trace_inputs = trace_inputs

    @property
    def active(self) -> bool:
        """Whether anything observes at all: when False, the hot path skips every call here."""
        return bool(self._hooks) or self._live_tracer() is not None

    def _live_tracer(self) -> Any:
        """The tracer, unless it is off or its spans could not be recorded (yet)."""
        tracer = self._tracer
        if tracer is None or self._recording:
            return tracer
        self._recording = records_spans(tracer)
        return tracer if self._recording else None

    def traceparent(self) -> str | None:
        """The current trace context as a W3C `traceparent`, when tracing is on."""
        return None if self._tracer is None else current_traceparent()

    def call(
        self,
        name: str,
        provider: str,
        *,
        workflow_id: str | None = None,
        run_id: str | None = None,
        input: Mapping[str, Any] | None = None,
    ) -> CallSpan:
        """A span for the public call `name` ("flowinvoke.run", ...), not yet current."""
        tracer = self._live_tracer()
        if tracer is None and not self._hooks:
            return _NO_CALL
        span = None
        if tracer is not None:
            attributes: dict[str, Any] = {"flowinvoke.provider": provider}
            if workflow_id:
                attributes["flowinvoke.workflow_id"] = workflow_id
            if run_id:
                attributes["flowinvoke.run_id"] = run_id
            if self._trace_inputs and input is not None:
                attributes["flowinvoke.input"] = json.dumps(input, ensure_ascii=False)
            span = tracer.start_span(name, attributes=attributes)
        return CallSpan(self, span)

    def request_event(
        self, provider: str, spec: RequestSpec, url: object, attempt: int
    ) -> RequestEvent:
        """The event that describes one attempt of `spec`."""
        return RequestEvent(
            provider, spec.operation.value, spec.method, str(url), attempt, spec.run_id
        )

    @property
    def tracing(self) -> bool:
        """Whether spans are made (hooks alone make none; nor does OpenTelemetry's API
        before a tracer provider is installed)."""
        return self._live_tracer() is not None

    def request(
        self,
        provider: str,
        spec: RequestSpec,
        url: object,
        attempt: int,
        *,
        span: Callable[[], bool] | bool = True,
    ) -> AbstractContextManager[RequestOutcome]:
        """Observe one HTTP request: hooks before and after, and a client span around it
        unless `span` is (or, called when a span would be made, returns) False: another
        instrumentation traces the request itself.

        The requester fills the outcome in (status, error) before the block ends.
        """
        tracer = self._live_tracer()
        if tracer is None and not self._hooks:
            return _UNOBSERVED
        with_span = tracer is not None and (span() if callable(span) else span)
        return self._observed(self.request_event(provider, spec, url, attempt), with_span)

    @contextmanager
    def _observed(self, event: RequestEvent, with_span: bool) -> Iterator[RequestOutcome]:
        outcome = RequestOutcome()
        if event.operation == "query":
            current_call().counted_query()
        self._notify("on_request", event)
        span = self._request_span(event) if with_span else None
        began = time.monotonic()
        try:
            yield outcome
        finally:
            elapsed = time.monotonic() - began
            if span is not None:
                end_request_span(span, outcome)
            self._notify(
                "on_response", ResponseEvent(event, outcome.status, outcome.error, elapsed)
            )

    def retry(self, event: RetryEvent) -> None:
        """A request will be retried after `event.delay` seconds."""
        current_call().event(
            "flowinvoke.retry",
            {
                "flowinvoke.operation": event.request.operation,
                "flowinvoke.attempt": event.request.attempt + 1,
                "flowinvoke.delay": event.delay,
                "error.type": type(event.error).__qualname__,
            },
        )
        self._notify("on_retry", event)

    def state(self, run: WorkflowRun) -> None:
        """A wait observed a new state of a run."""
        call = current_call()
        call.run_id(run.id)
        call.event("flowinvoke.state", {"flowinvoke.status": run.raw_status or run.status.value})
        self._notify("on_state", run)

    def _request_span(self, event: RequestEvent) -> Any:
        tracer = self._live_tracer()
        if tracer is None:
            return None
        from opentelemetry.trace import SpanKind

        url = url_parts(event.url)
        return tracer.start_span(
            event.method,
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": event.method,
                "server.address": url[0],
                "server.port": url[1],
                "url.full": event.url,
                "flowinvoke.operation": event.operation,
                "http.request.resend_count": event.attempt - 1,
            },
        )

    def _notify(self, name: str, event: Any) -> None:
        for hooks in self._hooks:
            callback = getattr(hooks, name)
            if callback is None:
                continue
            try:
                callback(event)
            except Exception:  # an observer must never break a run
                from .._core.log import logger

                logger.exception("flowinvoke hook %s raised; ignored", name)


# When nobody observes, every request shares this: what the requester writes to its
# outcome is never read.
_UNOBSERVED = nullcontext(RequestOutcome())


def _hooks_tuple(hooks: Hooks | Sequence[Hooks] | None) -> tuple[Hooks, ...]:
    if hooks is None:
        return ()
    chosen = (hooks,) if isinstance(hooks, Hooks) else tuple(hooks)
    for item in chosen:
        if not isinstance(item, Hooks):
            raise ConfigurationError(f"hooks must be Hooks objects, not {type(item).__name__}")
    return chosen
