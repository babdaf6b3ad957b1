"""Running many inputs: each run to its end, a bounded number at once, none lost.

`AsyncClient.run_many` and `as_completed` hand their inputs here, as waits are handed to
`_poller`. One input's failure, whatever it is, becomes that input's `BatchItem` error and
the batch goes on; inputs are drawn only as run slots free up.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from contextlib import aclosing
from functools import partial
from typing import Any, Protocol

from .._compat import async_call_maybe, async_map_unordered
from .._core.batch import BatchItem, BatchProgress, BatchTally
from .._core.deadline import positive_seconds
from .._core.errors import FlowInvokeError
from .._core.models import (
    OutputValidationError,
    WaitTimeoutError,
    WorkflowFailedError,
    WorkflowRun,
)
from .._waiting.policy import PollPolicy

__all__ = [
    "AsyncBatch",
    "OnProgress",
    "OnStart",
    "async_wait_items",
]

#: Called with the tally after each input of a batch finishes (awaited if async).
OnProgress = Callable[[BatchProgress], object]
#: Called with `(index, run)` as soon as each run's start returns (awaited if async).
OnStart = Callable[[int, WorkflowRun], object]


class RunOne(Protocol):
    """The client's `run`, as a batch calls it for each input."""

    async def __call__(
        self,
        input: Mapping[str, Any],
        *,
        user_id: str | None = ...,
        timeout: float | None = ...,
        poll: PollPolicy | None = ...,
        raise_on_failure: bool = ...,
        on_update: Callable[[WorkflowRun], object] | None = ...,
    ) -> WorkflowRun: ...


class WaitOne(Protocol):
    """The client's `wait`, as `wait_many` calls it for each run id."""

    async def __call__(
        self,
        run_or_id: WorkflowRun | str,
        *,
        timeout: float | None = ...,
        poll: PollPolicy | None = ...,
    ) -> WorkflowRun: ...


class AsyncBatch:
    """One batch's settings, checked before anything is sent, and its tally."""

    __slots__ = ("_concurrency", "_on_start", "_poll", "_run", "_timeout", "_user_id", "tally")

    def __init__(
        self,
        run: RunOne,
        *,
        concurrency: int,
        user_id: str | None,
        timeout: float | None,
        poll: PollPolicy | None,
        on_start: OnStart | None,
    ) -> None:
        check_batch_settings(concurrency, timeout)
        self._run = run
        self._concurrency = concurrency
        self._user_id = user_id
        self._timeout = timeout
        self._poll = poll
        self._on_start = on_start
        self.tally = BatchTally()

    async def items(self, inputs: Iterable[Mapping[str, Any]]) -> AsyncGenerator[BatchItem, None]:
        """Each input's `BatchItem`, in completion order. Closing this early stops the runs
        still in flight (iterate it to the end or close it with `aclosing`)."""
        results = async_map_unordered(self._one, enumerate(inputs), self._concurrency)
        async with aclosing(results):
            async for item in results:
                yield item

    async def collect(
        self, inputs: Iterable[Mapping[str, Any]], on_progress: OnProgress | None
    ) -> list[BatchItem]:
        """Every input's `BatchItem`, in input order, reporting progress after each."""
        items: list[BatchItem] = []
        batch = self.items(inputs)
        async with aclosing(batch):
            async for item in batch:
                items.append(item)
                if on_progress is not None:
                    await async_call_maybe(on_progress, self.tally.finished(item))
        items.sort(key=lambda item: item.index)
        return items

    async def _one(self, job: tuple[int, Mapping[str, Any]]) -> BatchItem:
        index, input = job
        self.tally.started()
        try:
            run = await self._run(
                input,
                user_id=self._user_id,
                timeout=self._timeout,
                poll=self._poll,
                raise_on_failure=False,
                on_update=_first_state_to(self._on_start, index),
            )
        except WaitTimeoutError as error:
            return BatchItem(index, input, error.last_run, error)
        except OutputValidationError as error:  # the run succeeded: keep it
            return BatchItem(index, input, error.run, error)
        except Exception as error:  # whatever one input meets is its own error: the batch goes on
            return BatchItem(index, input, None, error)
        return BatchItem(index, input, run, None if run.succeeded else WorkflowFailedError(run))


def _first_state_to(on_start: OnStart | None, index: int) -> Callable[[WorkflowRun], Any] | None:
    """An `on_update` that hands the first state (the started run) to `on_start`."""
    if on_start is None:
        return None
    told = False

    async def on_update(run: WorkflowRun) -> None:
        nonlocal told
        if not told:
            told = True
            await async_call_maybe(partial(on_start, index), run)

    return on_update


async def async_wait_items(
    wait: WaitOne,
    run_ids: Iterable[str],
    *,
    concurrency: int,
    timeout: float | None,
    poll: PollPolicy | None,
) -> AsyncGenerator[BatchItem, None]:
    """Each run id's `BatchItem` (its `input` is the id), in completion order; at most
    `concurrency` waits at once. Closing it early stops the waits still in flight."""
    check_batch_settings(concurrency, timeout)

    async def one(job: tuple[int, str]) -> BatchItem:
        index, run_id = job
        try:
            run = await wait(run_id, timeout=timeout, poll=poll)
        except WaitTimeoutError as error:
            return BatchItem(index, run_id, error.last_run, error)
        except Exception as error:  # one id's trouble is its own: the others go on waiting
            if isinstance(error, FlowInvokeError) and error.run_id is None:
                error.run_id = run_id
            return BatchItem(index, run_id, None, error)
        return BatchItem(index, run_id, run, None if run.succeeded else WorkflowFailedError(run))

    results = async_map_unordered(one, enumerate(run_ids), concurrency)
    async with aclosing(results):
        async for item in results:
            yield item


def check_batch_settings(concurrency: int, timeout: float | None) -> None:
    """Raise before anything is sent if a batch's concurrency or timeout is unusable."""
    if type(concurrency) is not int or concurrency < 1:
        raise ValueError(f"concurrency must be a positive int, not {concurrency!r}")
    if timeout is not None:
        positive_seconds(timeout, "timeout")
