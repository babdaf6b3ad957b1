"""Starting a run and following it: from the start's answer or event stream, then by polling.

A provider whose start answers with an event stream (Dify) tells the run's id in its first
events and its outcome in a last one. The stream is read here, each read cut by the wait
deadline; when it drops or ends before the outcome (a proxy cutting a long request, a run
outliving the stream), the run is followed by polling its id instead.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import cast

from .._core.deadline import Deadline
from .._core.errors import APIConnectionError
from .._core.log import logger
from .._core.models import WaitTimeoutError, WorkflowRun
from .._core.scopes import async_deadline_scope
from .._transport import http as _http
from .._transport.replies import read_reply, stream_error, transport_error
from .._waiting.ending import WaitEnd, log_end
from .._waiting.learning import RunTimer
from .._waiting.policy import PollPolicy
from .._waiting.wakeup import AsyncWakeup
from ..providers import Provider, RequestSpec, StreamError
from ._requester import AsyncRequester
from ._schedule import AsyncWaiter

__all__ = ["first_state", "run_states", "start_states"]


async def first_state(
    requester: AsyncRequester, provider: Provider, spec: RequestSpec, deadline: Deadline
) -> WorkflowRun:
    """The run a start returns: its answer, or a stream's first state with an id (the
    stream is then closed; the run goes on on the server)."""
    states = start_states(requester, provider, spec, deadline)
    async with aclosing(states):
        async for state in states:
            if state.id is not None or state.done:
                return state
    raise _ended_without_id(provider, spec)


async def run_states(
    requester: AsyncRequester,
    provider: Provider,
    spec: RequestSpec,
    policy: PollPolicy,
    deadline: Deadline,
    wakeup: AsyncWakeup | None = None,
    *,
    waiter: AsyncWaiter,
    timer_for: Callable[[WorkflowRun], RunTimer | None] | None = None,
    end: WaitEnd | None = None,
) -> AsyncGenerator[WorkflowRun, None]:
    """Start a run and yield each new state until the terminal one: those the start tells,
    then those the `waiter` finds (`wakeup`, a webhook callback's, brings its next query
    forward; `timer_for` gives the started run's learning timer, if any; `end` learns how
    the wait ended)."""
    last: WorkflowRun | None = None
    started = start_states(requester, provider, spec, deadline)
    async with aclosing(started):
        async for state in started:
            if state != last:
                last = state
                yield state
    if last is None or (spec.stream and last.id is None and not last.done):
        raise _ended_without_id(provider, spec)
    if last.done:
        log_end(end, "stream" if spec.stream else "start", 0, provider.name, last)
        return
    timer = timer_for(last) if timer_for is not None else None
    polled = waiter.states(provider, last, policy, deadline, wakeup=wakeup, timer=timer, end=end)
    async with aclosing(polled):
        async for state in polled:
            if state is not last:  # the waiter yields its start first
                yield state


async def start_states(
    requester: AsyncRequester, provider: Provider, spec: RequestSpec, deadline: Deadline
) -> AsyncGenerator[WorkflowRun, None]:
    """The states a start tells: one for a plain answer, one per telling event for a stream.

    A stream that drops once the run id is known ends quietly (the caller polls); one that
    drops before raises `APIConnectionError` with `may_have_started=True`.
    """
    if not spec.stream:
        yield (await requester.send(spec, deadline)).run
        return
    async with requester.open_stream(spec, deadline) as response:
        if "text/event-stream" not in response.headers.get("content-type", ""):
            await response.aread()  # a server that answered in one piece after all
            yield read_reply(provider, spec, response, requester.redact).run
            return
        chunks = _chunks(response)
        states = _read_events(chunks, provider, spec, deadline, requester)
        # Closing both at once ends httpx's reader in this task, on every backend.
        async with aclosing(chunks), aclosing(states):
            async for state in states:
                yield state


async def _read_events(
    chunks: AsyncGenerator[bytes, None],
    provider: Provider,
    spec: RequestSpec,
    deadline: Deadline,
    requester: AsyncRequester,
) -> AsyncGenerator[WorkflowRun, None]:
    """The states the events of a stream tell, until its outcome, its end or its drop."""
    from ..providers._sse import SSEDecoder  # here: only streaming providers need it

    decoder = SSEDecoder()
    last: WorkflowRun | None = None
    while True:
        try:
            chunk = await _next_chunk(chunks, deadline, last)
        except _http.TransportError as exc:
            if last is None or last.id is None:
                raise transport_error(provider, spec, exc, requester.redact) from exc
            logger.info("event stream of run %s dropped; polling instead: %s", last.id, exc)
            return
        events = decoder.feed(chunk) if chunk is not None else decoder.close()
        for event in events:
            item = provider.parse_stream_event(event, spec)
            if isinstance(item, StreamError):
                error = stream_error(provider, spec, item, requester.redact)
                error.run_id = error.run_id or (last.id if last else None)
                raise error
            if item is not None:
                last = item
                yield item
                if item.done:
                    return
        if chunk is None:
            return
        if deadline.expired:  # blocking reads cannot be cut: a drip ends here instead
            raise _timed_out(last)


def _chunks(response: _http.Response) -> AsyncGenerator[bytes, None]:
    # httpx types it as an iterator; it is a generator, which aclosing needs.
    return cast("AsyncGenerator[bytes, None]", response.aiter_bytes())


async def _next_chunk(
    chunks: AsyncGenerator[bytes, None], deadline: Deadline, last: WorkflowRun | None
) -> bytes | None:
    """The stream's next bytes (None at its end), cut by the deadline: a stream that
    drips keep-alives never outlives the wait."""
    chunk: bytes | None = None
    with async_deadline_scope(deadline) as scope:
        chunk = await anext(chunks, None)
    if scope.cancelled_caught:
        raise _timed_out(last)
    return chunk


def _timed_out(last: WorkflowRun | None) -> WaitTimeoutError:
    run_id = last.id if last else None
    seen = f"; last status {last.raw_status}" if last else ""
    return WaitTimeoutError(
        f"run {run_id or '(id not yet known)'} did not finish before the wait deadline"
        f"{seen}; it may still finish" + (": wait again with its id" if run_id else ""),
        run_id=run_id,
        last_run=last,
    )


def _ended_without_id(provider: Provider, spec: RequestSpec) -> APIConnectionError:
    return APIConnectionError(
        f"{provider.name} {spec.operation.value} stream ended before it told the run id",
        provider=provider.name,
        may_have_started=True,
    )
