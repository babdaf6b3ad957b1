"""Following one run to its end: each state observed and handed on, and the webhook wiring
that lets a callback end a sleep early (design decision 8: a poll answer, a callback or a
stream's last event each only tell the waiter the run may have changed; the state returned
is always one the platform answered).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator, Sequence
from contextlib import aclosing, contextmanager
from typing import TYPE_CHECKING, Any

from .._compat import async_call_maybe
from .._core.errors import FlowInvokeError
from .._core.models import Webhook, WorkflowRun
from .._observe.observers import CallSpan, Observers
from .._waiting.policy import PollPolicy
from .._waiting.wakeup import AsyncWakeup

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ..webhooks import WebhookReceiver

__all__ = ["async_follow", "async_told_by_callback"]


async def async_follow(
    states: AsyncGenerator[WorkflowRun, None],
    observers: Observers,
    on_update: Callable[[WorkflowRun], object] | None,
    call: CallSpan | None = None,
) -> WorkflowRun:
    """The last of `states`, each observed and handed to `on_update` first; an error
    raised once the run id is known carries it (and so does `call`, once told)."""
    last: WorkflowRun | None = None
    try:
        async with aclosing(states):
            async for state in states:
                if call is not None and state.id and (last is None or last.id is None):
                    call.run_id(state.id)
                last = state
                observers.state(state)
                if on_update is not None:
                    await async_call_maybe(on_update, state)
    except FlowInvokeError as error:
        error.run_id = error.run_id or (last.id if last else None)
        raise
    if last is None:  # pragma: no cover - the state generators always yield before ending
        raise AssertionError("following the run ended without a state")
    return last


@contextmanager
def async_told_by_callback(
    receiver: WebhookReceiver | None,
    webhooks: Sequence[Webhook | Mapping[str, Any]] | None,
    policy: PollPolicy,
) -> Iterator[tuple[Sequence[Webhook | Mapping[str, Any]] | None, PollPolicy, AsyncWakeup | None]]:
    """A run's (webhooks, poll policy, wake-up): with a receiver, its webhook target is
    added, polling follows the receiver's slow fallback schedule, and the callback wakes
    the wait; without one, all is as given."""
    if receiver is None:
        yield webhooks, policy, None
        return
    wakeup = AsyncWakeup()
    with receiver.expect_callback(wakeup) as hook:
        yield [*(webhooks or ()), hook], receiver.fallback, wakeup
