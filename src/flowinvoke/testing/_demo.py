"""The demo emulator: six ready-made workflows for trying flowinvoke without an account.

`flowinvoke demo` runs them in-process and `flowinvoke emulator serve` serves them on a
loopback port; the keys are fixed and public (`DEMO_KEYS`), so the docs can name them.

============ ======== ==================== =================================================
workflow     provider key                  behaviour
============ ======== ==================== =================================================
demo-quick   gptbots  demo-key-quick       finishes at once; the output summarises the input
demo-slow    gptbots  demo-key-slow        PENDING ~0.5 s, RUNNING `run_seconds`, SUCCEED
demo-fails   gptbots  demo-key-fails       ends FAILED with an error message
wf_demo      aitutor  demo-key-aitutor     answers in the documented "seed" shape
demo-dify    dify     demo-key-dify        streams its run: started, then `run_seconds`
                                           later finished
(see below)  coze     demo-key-coze        an async Coze run: Running for `run_seconds`,
                                           then Success
============ ======== ==================== =================================================

The Coze workflow's id is `DEMO_COZE_WORKFLOW` ("7400000000000000042": Coze ids are 19-digit
numbers).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ._clock import Clock
from ._emulator import Emulator
from ._workflows import Workflow

__all__ = ["DEMO_COZE_WORKFLOW", "DEMO_KEYS", "DEMO_QUEUE_SECONDS", "demo_emulator"]

DEMO_COZE_WORKFLOW = "7400000000000000042"
"""The demo Coze workflow's id (Coze ids are 19-digit numbers)."""

DEMO_KEYS: Mapping[str, str] = MappingProxyType(
    {
        "demo-quick": "demo-key-quick",
        "demo-slow": "demo-key-slow",
        "demo-fails": "demo-key-fails",
        "wf_demo": "demo-key-aitutor",
        "demo-dify": "demo-key-dify",
        DEMO_COZE_WORKFLOW: "demo-key-coze",
    }
)
"""API key of each demo workflow, by workflow id (public: the emulator is a local toy)."""

DEMO_QUEUE_SECONDS = 0.5
"""How long a "demo-slow" run stays PENDING before it starts RUNNING."""


def _summarise(inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    """demo-quick's output: a deterministic function of the input, so changes show."""
    text = " ".join(str(value) for value in inputs.values())
    words = len(text.split())
    return {
        "summary": f"Received {len(inputs)} field(s) and {words} word(s): {text[:80]}",
        "fields": sorted(inputs),
        "input_json": json.dumps(dict(inputs), sort_keys=True, ensure_ascii=False),
    }


def _tutor(inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    """wf_demo's output: a short story about the `topic` input (or "anything")."""
    topic = str(inputs.get("topic") or inputs.get("story") or "anything")
    return {"story": f"Once upon a time, someone asked about {topic}. The end."}


def demo_emulator(
    *, run_seconds: float = 3.0, seed: int = 0, clock: Clock | None = None
) -> Emulator:
    """An `Emulator` serving the demo workflows (see the module table and `DEMO_KEYS`).

    Runs use the real clock, so an async run of "demo-slow" really goes PENDING, then
    RUNNING for `run_seconds`, then SUCCEED: watching it shows every state. Script faults on
    it as on any emulator, e.g. `emulator.inject(Fault("server_error", status=503,
    operation="query"))` for one transient 503.

    Args:
        run_seconds: How long "demo-slow" runs (wall time, after its queue time).
        seed: Seed of the run ids, for reproducible transcripts.
        clock: The emulator's clock (default: real time); a `FakeClock` makes "demo-slow"
            advance only when the test says so.
    """
    if run_seconds < 0:
        msg = "run_seconds must be >= 0"
        raise ValueError(msg)
    return Emulator(
        [
            Workflow(
                id="demo-quick",
                api_key=DEMO_KEYS["demo-quick"],
                name="Quick summary",
                output=_summarise,
                cost=0.01,
                tokens=42,
            ),
            Workflow(
                id="demo-slow",
                api_key=DEMO_KEYS["demo-slow"],
                name="Slow report",
                output=lambda inputs: {"report": f"Report on {dict(inputs)!r} is ready."},
                queue_time=DEMO_QUEUE_SECONDS,
                duration=run_seconds,
                cost=0.5,
                tokens=1200,
            ),
            Workflow(
                id="demo-fails",
                api_key=DEMO_KEYS["demo-fails"],
                name="Always fails",
                final_status="FAILED",
                error_message="Demo failure: the LLM node returned no answer",
            ),
            Workflow(
                id="wf_demo",
                api_key=DEMO_KEYS["wf_demo"],
                provider="aitutor",
                name="Story tutor",
                output=_tutor,
                aitutor_style="seed",
            ),
            Workflow(
                id="demo-dify",
                api_key=DEMO_KEYS["demo-dify"],
                provider="dify",
                name="Dify translator",
                output=lambda inputs: {"result": f"Bonjour, {inputs.get('text', 'le monde')}"},
                duration=run_seconds,
                tokens=150,
            ),
            Workflow(
                id=DEMO_COZE_WORKFLOW,
                api_key=DEMO_KEYS[DEMO_COZE_WORKFLOW],
                provider="coze",
                name="Coze poem",
                output=lambda inputs: {"Output": f"A short poem about {inputs.get('topic')}"},
                duration=run_seconds,
                tokens=80,
            ),
        ],
        seed=seed,
        clock=clock,
    )
