"""flowinvoke.testing: a deterministic in-memory emulator of the providers' workflow APIs.

It speaks the exact wire formats of GPTBots / AltaBots (invoke, async invoke, query) and
aitutor-api (run, in its "seed" and "live" answer shapes), with scripted workflows, a fake
clock, fault injection (scripted or seeded-random) and counters — so the client, the demo,
the benchmarks and users' own tests can exercise every path without a network or an account.

Example:
    >>> from flowinvoke.testing import Emulator, Workflow
    >>> emulator = Emulator([Workflow(id="wf-1", api_key="key-1", polls=2)])
    >>> with emulator.client("wf-1") as client:
    ...     run = client.invoke({"q": "hi"})
    >>> run.raw_status, run.output
    ('SUCCEED', {'echo': {'q': 'hi'}})

Served three ways from one state: `Emulator.client` / `Emulator.async_client` (flowinvoke
clients on `Emulator.transport()`, an httpx `MockTransport`), `Emulator.asgi_app()` (plain
ASGI) and `LoopbackServer` / `serve` (that app under uvicorn on a loopback port, from the
`emulator` extra). `demo_emulator()` has ready-made workflows; the pytest fixtures live in
`flowinvoke.testing.pytest_plugin`.
"""

from __future__ import annotations

from .._core.lazy import TYPE_CHECKING, lazy_dir, lazy_getattr

if TYPE_CHECKING:
    from ._asgi import EmulatorASGIApp
    from ._callbacks import CallbackFaults
    from ._clock import AsyncSleep, Clock, FakeClock, Sleep
    from ._demo import DEMO_COZE_WORKFLOW, DEMO_KEYS, demo_emulator
    from ._emulator import EMULATOR_BASE_URL, FAKE_EPOCH, Emulator
    from ._faults import Fault, FaultKind, FaultOperation, RandomFaults
    from ._loopback import LoopbackServer, serve
    from ._receiver_server import ReceiverServer
    from ._state import Counters, RunRecord, WireStatus
    from ._stats import STATS_PATH
    from ._transport import EmulatorTransport
    from ._wire import WireDisconnect, WireRequest, WireResponse
    from ._workflows import (
        AitutorStyle,
        FinalStatus,
        OutputScript,
        ProviderName,
        SyncAnswer,
        Workflow,
    )

#: Where each name lives: imported on first use, so that the pytest plugin (loaded by
#: every pytest run where flowinvoke is installed) does not load the emulator and clients.
_HOMES = {
    "AitutorStyle": "._workflows",
    "AsyncSleep": "._clock",
    "CallbackFaults": "._callbacks",
    "Clock": "._clock",
    "Counters": "._state",
    "DEMO_COZE_WORKFLOW": "._demo",
    "DEMO_KEYS": "._demo",
    "EMULATOR_BASE_URL": "._emulator",
    "Emulator": "._emulator",
    "EmulatorASGIApp": "._asgi",
    "EmulatorTransport": "._transport",
    "FAKE_EPOCH": "._emulator",
    "FakeClock": "._clock",
    "Fault": "._faults",
    "FaultKind": "._faults",
    "FaultOperation": "._faults",
    "FinalStatus": "._workflows",
    "LoopbackServer": "._loopback",
    "OutputScript": "._workflows",
    "ProviderName": "._workflows",
    "RandomFaults": "._faults",
    "ReceiverServer": "._receiver_server",
    "RunRecord": "._state",
    "STATS_PATH": "._stats",
    "Sleep": "._clock",
    "SyncAnswer": "._workflows",
    "WireDisconnect": "._wire",
    "WireRequest": "._wire",
    "WireResponse": "._wire",
    "WireStatus": "._state",
    "Workflow": "._workflows",
    "demo_emulator": "._demo",
    "serve": "._loopback",
}

__all__ = [
    "DEMO_COZE_WORKFLOW",
    "DEMO_KEYS",
    "EMULATOR_BASE_URL",
    "FAKE_EPOCH",
    "STATS_PATH",
    "AitutorStyle",
    "AsyncSleep",
    "CallbackFaults",
    "Clock",
    "Counters",
    "Emulator",
    "EmulatorASGIApp",
    "EmulatorTransport",
    "FakeClock",
    "Fault",
    "FaultKind",
    "FaultOperation",
    "FinalStatus",
    "LoopbackServer",
    "OutputScript",
    "ProviderName",
    "RandomFaults",
    "ReceiverServer",
    "RunRecord",
    "Sleep",
    "SyncAnswer",
    "WireDisconnect",
    "WireRequest",
    "WireResponse",
    "WireStatus",
    "Workflow",
    "demo_emulator",
    "serve",
]

if not TYPE_CHECKING:  # mypy reads the imports above; a visible __getattr__ would hide typos
    __getattr__ = lazy_getattr(__name__, _HOMES, globals())
__dir__ = lazy_dir(globals(), __all__)
