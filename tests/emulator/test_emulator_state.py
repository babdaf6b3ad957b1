"""The emulator core: determinism, clocks, counters and workflow validation."""

from __future__ import annotations

from typing import Any

import pytest

from flowinvoke import PollPolicy
from flowinvoke.testing import (
    STATS_PATH,
    Emulator,
    FakeClock,
    WireRequest,
    WireResponse,
    Workflow,
)

INVOKE = "/v1/workflow/invoke"


def invoke(emulator: Emulator, key: str, inputs: dict[str, Any], **extra: Any) -> Any:
    with emulator.http_client() as http:
        answer = http.post(
            INVOKE, headers={"Authorization": f"Bearer {key}"}, json={"input": inputs, **extra}
        )
    return answer.json()


def query(emulator: Emulator, key: str, run_id: str, times: int) -> None:
    with emulator.http_client() as http:
        for _ in range(times):
            http.post(
                "/v1/workflow/query/result",
                headers={"Authorization": key},
                json={"workflowRunId": run_id},
            )


def test_same_seed_same_clock_same_answers() -> None:
    def session(seed: int) -> list[Any]:
        emulator = Emulator(
            [
                Workflow(id="w", api_key="k", duration=1.5, cost=0.5, tokens=9),
                Workflow(id="wf_t", api_key="sk", provider="aitutor"),
            ],
            clock=FakeClock(),
            seed=seed,
        )
        answers = [invoke(emulator, "k", {"n": n}) for n in range(3)]
        with emulator.http_client() as http:
            answers.append(
                http.post("/api/v1/run/wf_t", headers={"Authorization": "Bearer sk"}).json()
            )
        return answers

    first = session(1)
    assert first == session(1)
    assert first != session(2)
    ids = [answer["workflowRunId"] for answer in first[:3]]
    assert len(set(ids)) == 3
    assert [len(part) for part in ids[0].split("-")] == [8, 4, 4, 4, 12]
    assert first[3]["run_id"].startswith("run_000004")


def test_counters() -> None:
    emulator = Emulator(
        [Workflow(id="a", api_key="ka", polls=1), Workflow(id="b", api_key="kb")],
        clock=FakeClock(),
    )
    run_id = invoke(emulator, "ka", {"x": 1}, isAsync=True)["workflowRunId"]
    invoke(emulator, "kb", {"x": 1})
    invoke(emulator, "kb", {"x": 2})
    invoke(emulator, "nope", {"x": 2})
    query(emulator, "ka", run_id, 3)
    counters = emulator.counters
    assert counters.requests == 7
    assert counters.requests_by_operation == {"invoke": 4, "query": 3}
    assert counters.invokes == {"a": 1, "b": 2}
    assert counters.total_invokes == 3
    assert counters.invokes_for_input({"x": 1}) == 2
    assert counters.invokes_for_input({"x": 2}) == 1
    assert counters.queries == {run_id: 3}
    assert emulator.run(run_id).queries == 3


def test_fake_clock() -> None:
    clock = FakeClock(10.0)
    clock.advance(1.5)
    clock.sleep(0.5)
    clock.sleep(-3)
    assert clock() == 12.0
    assert "12.0" in repr(clock)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


@pytest.mark.anyio
async def test_fake_clock_async_sleep() -> None:
    clock = FakeClock()
    await clock.async_sleep(4.0)
    assert clock() == 4.0


def test_explicit_sleep_and_epoch() -> None:
    slept: list[float] = []
    clock = FakeClock()

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    emulator = Emulator(
        [Workflow(id="w", api_key="k", duration=2.0)], clock=clock, sleep=sleep, epoch=1000.0
    )
    body = invoke(emulator, "k", {})
    assert slept == [2.0]
    assert (body["startTime"], body["endTime"]) == (1_000_000, 1_002_000)


def test_handle_can_be_driven_directly() -> None:
    emulator = Emulator([Workflow(id="w", api_key="k", duration=1.0)], clock=FakeClock())
    request = WireRequest("POST", INVOKE, {"authorization": "k"}, b'{"input": {}}')
    handling = emulator.handle(request)
    assert next(handling) == 1.0
    emulator.clock.advance(1.0)  # type: ignore[attr-defined]
    with pytest.raises(StopIteration) as stop:
        handling.send(None)
    reply = stop.value.value
    assert isinstance(reply, WireResponse)
    assert reply.json()["status"] == "SUCCEED"


def test_registration_rules() -> None:
    emulator = Emulator([Workflow(id="a", api_key="shared")])
    with pytest.raises(ValueError, match="already registered"):
        emulator.add_workflow(Workflow(id="a", api_key="other"))
    with pytest.raises(ValueError, match="API key") as excinfo:
        emulator.add_workflow(Workflow(id="b", api_key="shared", provider="altabots"))
    assert "shared" not in str(excinfo.value)
    emulator.add_workflow(Workflow(id="wf_1", api_key="sk", provider="aitutor"))
    emulator.add_workflow(Workflow(id="wf_2", api_key="sk", provider="aitutor"))
    assert emulator.workflow("wf_2").provider == "aitutor"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"id": ""},
        {"api_key": ""},
        {"provider": "zapier"},
        {"final_status": "DONE"},
        {"aitutor_style": "other"},
        {"sync_answer": "never"},
        {"duration": -1.0},
        {"polls": -1},
    ],
)
def test_workflow_validation(kwargs: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"id": "w", "api_key": "k", **kwargs}
    with pytest.raises(ValueError, match=r"."):
        Workflow(**arguments)


def test_required_inputs_must_not_be_a_string() -> None:
    with pytest.raises(TypeError):
        Workflow(id="w", api_key="k", required_inputs="story")  # type: ignore[arg-type]
    assert Workflow(id="w", api_key="k", required_inputs=["a"]).required_inputs == ("a",)  # type: ignore[arg-type]


def test_fixed_output_mapping() -> None:
    emulator = Emulator([Workflow(id="w", api_key="k", output={"answer": 42})], clock=FakeClock())
    assert invoke(emulator, "k", {"q": 1})["output"] == {"answer": 42}


def test_stats_count_runs_and_queries_and_are_served_uncounted() -> None:
    emulator = Emulator([Workflow(id="wf", api_key="key-wf", polls=2)])
    assert emulator.stats()["queries_per_run"] is None
    with emulator.client("wf", poll=PollPolicy(initial_delay=0.01)) as client:
        client.run({"q": 1}, timeout=30)
        client.run({"q": 2}, timeout=30)
    stats = emulator.stats()
    assert stats["runs_started"] == 2
    assert stats["runs_started_by_workflow"] == {"wf": 2}
    assert stats["queries"] == 6  # polls=2: the third query sees the end
    assert (stats["queries_per_run"], stats["most_queries_of_a_run"]) == (3.0, 3)
    assert stats["requests"] == 8
    with emulator.http_client() as http:
        served = http.get(STATS_PATH).json()
    assert served == stats  # and asking did not count as a request
    assert emulator.counters.requests == 8


def test_an_output_json_cannot_carry_fails_the_run_at_its_start() -> None:
    """Each run's input and output are kept as JSON text (thousands of runs stay small):
    an output no JSON answer could carry fails the run, as a raising script does."""
    emulator = Emulator(
        [Workflow(id="w", api_key="k", output=lambda inputs: {"when": object()})],
        clock=FakeClock(),
    )
    answer = invoke(emulator, "k", {"q": 1})
    assert answer["status"] == "FAILED"
    assert "output" in answer["output"]["error"]
    assert "not JSON serializable" in answer["output"]["error"]


def test_a_run_record_gives_its_input_back_as_sent() -> None:
    emulator = Emulator([Workflow(id="w", api_key="k")], clock=FakeClock())
    sent = {"z": [1, 2.5, None], "a": {"nested": "é"}}
    answer = invoke(emulator, "k", sent)
    record = emulator.run(answer["workflowRunId"])
    assert record.input == sent
    assert list(record.input) == ["z", "a"]  # in the order sent, not sorted
    assert answer["output"] == {"echo": sent}
    assert emulator.counters.invokes_for_input({"a": {"nested": "é"}, "z": [1, 2.5, None]}) == 1


def test_a_known_runs_queries_are_counted_under_its_own_id() -> None:
    """Each query decodes its own copy of the run id: the count is kept under the run's
    (100,000 runs queried hold one id string each, not two)."""
    emulator = Emulator([Workflow(id="w", api_key="k", duration=60.0)], clock=FakeClock())
    run_id = invoke(emulator, "k", {"q": 1}, isAsync=True)["workflowRunId"]
    query(emulator, "Bearer k", run_id, 2)
    query(emulator, "Bearer k", "no-such-run", 2)
    assert emulator.counters.queries == {run_id: 2, "no-such-run": 2}
    (counted,) = (key for key in emulator.counters.queries if key == run_id)
    assert counted is emulator.run(run_id).run_id
