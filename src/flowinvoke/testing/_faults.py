"""Fault injection: scripted faults consumed one by one, or random faults from a seed.

A fault replaces (or delays) the emulator's normal answer to one request. Each fault says
whether it strikes *before* the request is processed (`processed=False`: no run is created,
no query is counted — the server surely did nothing) or *after* (`processed=True`: the run is
created or the query counted, then the answer is lost or replaced — the ambiguous case a
client must not blindly retry for an invoke).

Kinds and what the client sees:

============== ================================================= ==================
kind           answer                                            processed allowed
============== ================================================= ==================
rate_limit     HTTP 429, provider error body, ``Retry-After``     both (default no)
server_error   HTTP ``status`` (500: provider JSON body;          both
               502/503/504: an HTML gateway page)
error_in_200   HTTP 200 carrying a provider error body            both
malformed_json HTTP 200, ``application/json``, truncated body     both
slow           the normal answer, ``delay`` seconds late          both (before/after)
disconnect     ``RemoteProtocolError`` (connection closed)        both
reset          ``ReadError`` (connection reset mid-answer)        both
timeout        waits ``delay`` then ``ReadTimeout``               both
connect_error  ``ConnectError`` (connection refused)              never
============== ================================================= ==================
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Literal, TypeAlias, get_args

__all__ = ["Fault", "FaultKind", "FaultOperation", "FaultPlan", "RandomFaults"]

FaultKind: TypeAlias = Literal[
    "rate_limit",
    "server_error",
    "error_in_200",
    "malformed_json",
    "slow",
    "disconnect",
    "reset",
    "timeout",
    "connect_error",
]
"""The kinds of fault the emulator can inject; see the module docstring."""

FaultOperation: TypeAlias = Literal["invoke", "query", "any"]
"""Which requests a fault may strike: starting runs, querying runs, or any request."""

_KINDS: frozenset[str] = frozenset(get_args(FaultKind))


@dataclasses.dataclass(frozen=True)
class Fault:
    """One fault to inject into one request.

    Attributes:
        kind: What goes wrong; see `FaultKind`.
        operation: Strike only "invoke" requests (GPTBots invoke, aitutor run), only "query"
            requests, or "any" request (including unknown paths).
        workflow: Strike only requests for this workflow id (GPTBots: the workflow the key
            belongs to; aitutor: the id in the path). `None` matches every request.
        processed: Process the request first (run created / query counted) and lose or
            replace the answer afterwards. `connect_error` cannot be processed.
        status: HTTP status of a `server_error` (default 500).
        retry_after: Seconds for the `Retry-After` header (`rate_limit` default 1; also sent
            with a `server_error` when set). Whole numbers are sent as integers, fractions as
            decimals (non-standard but handy for fast tests).
        delay: Seconds a `slow` answer is late, or a `timeout` waits before failing.
        code: Overrides the provider error code of an error body (`error_in_200`,
            `rate_limit`, `server_error` 500).
        message: Overrides the provider error message of such a body.
    """

    kind: FaultKind
    operation: FaultOperation = "any"
    workflow: str | None = None
    processed: bool = False
    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    code: int | str | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            msg = f"unknown fault kind {self.kind!r}; expected one of {sorted(_KINDS)}"
            raise ValueError(msg)
        if self.operation not in ("invoke", "query", "any"):
            msg = "operation must be 'invoke', 'query' or 'any'"
            raise ValueError(msg)
        if self.kind == "connect_error" and self.processed:
            msg = "a connect_error never reaches the server, so it cannot be processed"
            raise ValueError(msg)
        if self.delay < 0:
            msg = "delay must be >= 0"
            raise ValueError(msg)
        if self.status is not None and not 100 <= self.status <= 599:
            msg = "status must be an HTTP status code"
            raise ValueError(msg)

    def matches(self, operation: str, workflow_id: str | None) -> bool:
        """Whether this fault may strike a request of this operation and workflow."""
        if self.operation not in ("any", operation):
            return False
        return self.workflow is None or self.workflow == workflow_id


@dataclasses.dataclass(frozen=True)
class RandomFaults:
    """Random faults, reproducible from a seed.

    Every request that the filters match draws one number from a private
    `random.Random(seed)`; with probability `rate` one of `faults` (chosen uniformly, its own
    `operation`/`workflow` filters ignored) strikes. The same seed and the same request
    sequence give the same faults.

    Attributes:
        rate: Probability in [0, 1] that a matching request is struck.
        faults: The fault templates to choose from.
        seed: Seed of the private random generator.
        operation: Draw only for this operation ("any" for all requests).
        workflow: Draw only for this workflow id (`None` for all).
    """

    rate: float
    faults: Sequence[Fault]
    seed: int = 0
    operation: FaultOperation = "any"
    workflow: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            msg = "rate must be between 0 and 1"
            raise ValueError(msg)
        if not self.faults:
            msg = "RandomFaults needs at least one fault template"
            raise ValueError(msg)
        object.__setattr__(self, "faults", tuple(self.faults))


class FaultPlan:
    """The emulator's fault source: a scripted queue first, then random faults.

    Thread-safe. A scripted fault is consumed by the first request it matches (faults that do
    not match stay queued, in order); only if none matches is the random source consulted.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Fault] = deque()
        self._random: RandomFaults | None = None
        self._rng = random.Random(0)  # noqa: S311 - test fixture, not cryptography

    def add(self, faults: Iterable[Fault]) -> None:
        """Append scripted faults to the queue."""
        with self._lock:
            self._queue.extend(faults)

    def set_random(self, config: RandomFaults | None) -> None:
        """Install (or with `None` remove) a random fault source, reseeding its generator."""
        with self._lock:
            self._random = config
            self._rng = random.Random(config.seed if config else 0)  # noqa: S311

    def pending(self) -> tuple[Fault, ...]:
        """The scripted faults not yet consumed, in order."""
        with self._lock:
            return tuple(self._queue)

    def clear(self) -> None:
        """Drop every scripted fault and the random source."""
        with self._lock:
            self._queue.clear()
            self._random = None

    def take(self, operation: str, workflow_id: str | None) -> Fault | None:
        """Return the fault striking this request, consuming it if scripted, or `None`."""
        with self._lock:
            for index, fault in enumerate(self._queue):
                if fault.matches(operation, workflow_id):
                    del self._queue[index]
                    return fault
            config = self._random
            if config is None:
                return None
            if config.operation not in ("any", operation):
                return None
            if config.workflow is not None and config.workflow != workflow_id:
                return None
            if self._rng.random() >= config.rate:
                return None
            return self._rng.choice(config.faults)
