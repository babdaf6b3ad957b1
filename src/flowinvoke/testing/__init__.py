"""flowinvoke.testing: a deterministic in-memory emulator of the providers' workflow APIs.

It speaks the exact wire formats of GPTBots / AltaBots (invoke, async invoke, query) and
aitutor-api (run, in its "seed" and "live" answer shapes), with scripted workflows, a fake
clock, fault injection (scripted or seeded-random) and counters — so the client, the demo,
the benchmarks and users' own tests can exercise every path without a network or an account.

Example:
    >>> from flowinvoke.testing import Emulator, Workflow
    >>> emulator = Emulator([Workflow(id="wf-1", api_key="key-1", polls=2)])
    >>> with emulator.client() as http:
    ...     answer = http.post(
    ...         "/v1/workflow/invoke",
    ...         headers={"Authorization": "Bearer key-1"},
    ...         json={"input": {"q": "hi"}},
    ...     )
    >>> answer.json()["status"]
    'SUCCEED'

Served two ways from one state: `Emulator.transport()` (an httpx `MockTransport`, sync and
async) and `Emulator.asgi_app()` (plain ASGI, for `httpx.ASGITransport` or uvicorn).
"""

from __future__ import annotations

from ._asgi import EmulatorASGIApp
from ._clock import AsyncSleep, Clock, FakeClock, Sleep
from ._emulator import EMULATOR_BASE_URL, FAKE_EPOCH, Emulator
from ._faults import Fault, FaultKind, Operation, RandomFaults
from ._state import Counters, RunRecord, RunStatus
from ._transport import EmulatorTransport
from ._wire import WireDisconnect, WireRequest, WireResponse
from ._workflows import AitutorStyle, FinalStatus, OutputScript, Provider, SyncAnswer, Workflow

__all__ = [
    "EMULATOR_BASE_URL",
    "FAKE_EPOCH",
    "AitutorStyle",
    "AsyncSleep",
    "Clock",
    "Counters",
    "Emulator",
    "EmulatorASGIApp",
    "EmulatorTransport",
    "FakeClock",
    "Fault",
    "FaultKind",
    "FinalStatus",
    "Operation",
    "OutputScript",
    "Provider",
    "RandomFaults",
    "RunRecord",
    "RunStatus",
    "Sleep",
    "SyncAnswer",
    "WireDisconnect",
    "WireRequest",
    "WireResponse",
    "Workflow",
]
