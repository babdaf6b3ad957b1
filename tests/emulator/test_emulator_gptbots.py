"""GPTBots / AltaBots wire format of the emulator: shapes, progressions and error bodies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from flowinvoke.testing import FAKE_EPOCH, Emulator, FakeClock, Workflow

INVOKE = "/v1/workflow/invoke"
QUERY = "/v1/workflow/query/result"

# The example bodies of the seed pages
# (gptbots-run-workflow.txt and gptbots-query-workflow-result.txt).
SEED_SYNC_ANSWER: dict[str, Any] = {
    "workflowRunId": "xxxx-5b15-4cbf-999c-1b218934xxxx",
    "input": {"input": "What should I do after a breakup?"},
    "output": {"output": "Breakups are a normal part of life."},
    "workflowExecutionTime": 24277,
    "status": "SUCCEED",
    "totalCost": 1.3754,
    "totalTokens": 3464,
    "startTime": 1741768313025,
    "endTime": 1741768337310,
}
SEED_QUERY_ANSWER: dict[str, Any] = {
    "workflowId": "xxxxxxxx",
    "workflowName": "todayNews",
    "workflowVersion": "1.0.1",
    **SEED_SYNC_ANSWER,
}
ASYNC_ANSWER_KEYS = {"workflowId", "workflowName", "workflowVersion", "workflowRunId", "status"}


def same_shape(actual: dict[str, Any], seed: dict[str, Any]) -> None:
    assert set(actual) == set(seed)
    for key, value in seed.items():
        assert type(actual[key]) is type(value), key


def auth(key: str = "key-news") -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Emulator:
    return Emulator(
        [
            Workflow(
                id="wf-news",
                api_key="key-news",
                name="todayNews",
                version="1.0.1",
                output=lambda inputs: {"news": [{"title": inputs["topic"]}]},
                required_inputs=("topic",),
                cost=0.6928,
                tokens=1745,
                duration=8.347,
                queue_time=1.0,
            ),
            Workflow(id="wf-polls", api_key="key-polls", polls=2, cost=1.0, tokens=3),
            Workflow(
                id="wf-fail",
                api_key="key-fail",
                final_status="FAILED",
                error_message="node 3 timed out",
            ),
            Workflow(id="wf-alta", api_key="key-alta", provider="altabots", version="9"),
        ],
        clock=clock,
    )


@pytest.fixture
def http(emulator: Emulator) -> Iterator[httpx.Client]:
    with emulator.http_client() as client:
        yield client


def test_sync_invoke_has_the_seed_shape_and_waits_for_the_run(
    http: httpx.Client, clock: FakeClock, emulator: Emulator
) -> None:
    answer = http.post(INVOKE, headers=auth(), json={"userId": "u1", "input": {"topic": "News"}})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    same_shape(body, SEED_QUERY_ANSWER)
    assert set(SEED_SYNC_ANSWER) <= set(body)
    assert body["status"] == "SUCCEED"
    assert body["input"] == {"topic": "News"}
    assert body["output"] == {"news": [{"title": "News"}]}
    assert body["workflowVersion"] == "1.0.1"
    assert body["workflowExecutionTime"] == 8347
    assert body["startTime"] == FAKE_EPOCH * 1000 + 1000
    assert body["endTime"] - body["startTime"] == 8347
    assert body["totalCost"] == 0.6928
    assert body["totalTokens"] == 1745
    # The sync call waited on the fake clock for queue time plus duration.
    assert clock() == pytest.approx(9.347)
    (record,) = emulator.runs()
    assert record.user_id == "u1"
    assert not record.is_async


def test_raw_key_is_accepted(http: httpx.Client) -> None:
    answer = http.post(INVOKE, headers={"Authorization": "key-polls"}, json={"input": {}})
    assert answer.status_code == 200
    assert answer.json()["status"] == "SUCCEED"


def test_altabots_workflow_speaks_the_same_api(http: httpx.Client) -> None:
    answer = http.post(INVOKE, headers=auth("key-alta"), json={"input": {"x": 1}})
    body = answer.json()
    same_shape(body, SEED_QUERY_ANSWER)
    assert body["workflowVersion"] == "9"


def test_async_invoke_then_wall_time_progression(http: httpx.Client, clock: FakeClock) -> None:
    started = http.post(INVOKE, headers=auth(), json={"input": {"topic": "T"}, "isAsync": True})
    assert started.status_code == 200
    body = started.json()
    assert set(body) == ASYNC_ANSWER_KEYS
    assert body["status"] == "PENDING"
    run_id = body["workflowRunId"]

    def query() -> dict[str, Any]:
        answer = http.post(QUERY, headers=auth(), json={"workflowRunId": run_id})
        assert answer.status_code == 200
        result: dict[str, Any] = answer.json()
        return result

    pending = query()
    assert pending["status"] == "PENDING"
    assert set(pending) == {*ASYNC_ANSWER_KEYS, "input"}
    clock.advance(1.5)
    running = query()
    assert running["status"] == "RUNNING"
    assert set(running) == {*ASYNC_ANSWER_KEYS, "input", "startTime"}
    clock.advance(8.0)
    done = query()
    assert done["status"] == "SUCCEED"
    same_shape(done, SEED_QUERY_ANSWER)
    assert done["workflowExecutionTime"] == 8347


def test_polls_progression_pending_running_succeed(http: httpx.Client, emulator: Emulator) -> None:
    run_id = http.post(
        INVOKE, headers=auth("key-polls"), json={"input": {"a": 1}, "isAsync": True}
    ).json()["workflowRunId"]
    statuses = [
        http.post(QUERY, headers=auth("key-polls"), json={"workflowRunId": run_id}).json()["status"]
        for _ in range(4)
    ]
    assert statuses == ["PENDING", "RUNNING", "SUCCEED", "SUCCEED"]
    assert emulator.counters.queries[run_id] == 4
    assert emulator.run(run_id).status == "SUCCEED"


def test_polls_zero_is_terminal_at_first_query(clock: FakeClock) -> None:
    emulator = Emulator([Workflow(id="w", api_key="k", polls=0)], clock=clock)
    with emulator.http_client() as http:
        run_id = http.post(INVOKE, headers=auth("k"), json={"input": {}, "isAsync": True}).json()[
            "workflowRunId"
        ]
        answer = http.post(QUERY, headers=auth("k"), json={"workflowRunId": run_id}).json()
    assert answer["status"] == "SUCCEED"


def test_failed_run_keeps_status_and_carries_the_message(http: httpx.Client) -> None:
    body = http.post(INVOKE, headers=auth("key-fail"), json={"input": {}}).json()
    same_shape(body, SEED_QUERY_ANSWER)
    assert body["status"] == "FAILED"
    assert body["output"] == {"error": "node 3 timed out"}


def test_output_script_that_raises_fails_the_run(clock: FakeClock) -> None:
    def broken(inputs: Any) -> dict[str, Any]:
        raise RuntimeError("model unavailable")

    emulator = Emulator([Workflow(id="w", api_key="k", output=broken)], clock=clock)
    with emulator.http_client() as http:
        body = http.post(INVOKE, headers=auth("k"), json={"input": {}}).json()
    assert body["status"] == "FAILED"
    assert body["output"] == {"error": "model unavailable"}


def test_sync_answer_running_returns_at_once(clock: FakeClock) -> None:
    emulator = Emulator(
        [Workflow(id="w", api_key="k", duration=30.0, sync_answer="running")], clock=clock
    )
    with emulator.http_client() as http:
        body = http.post(INVOKE, headers=auth("k"), json={"input": {}}).json()
        assert body["status"] == "RUNNING"
        assert "output" not in body
        clock.advance(30.0)
        done = http.post(
            QUERY, headers=auth("k"), json={"workflowRunId": body["workflowRunId"]}
        ).json()
    assert done["status"] == "SUCCEED"
    assert clock() == 30.0


def test_any_base_path_and_trailing_slash(emulator: Emulator) -> None:
    with emulator.http_client(base_url="https://api-sg.gptbots.ai/proxy") as http:
        answer = http.post(INVOKE + "/", headers=auth("key-polls"), json={"input": {}})
    assert answer.json()["status"] == "SUCCEED"


def test_webhooks_are_recorded(http: httpx.Client, emulator: Emulator) -> None:
    hooks = [{"method": "POST", "url": "https://example.test/hook"}]
    body = http.post(
        INVOKE, headers=auth("key-polls"), json={"input": {}, "isAsync": True, "webhook": hooks}
    ).json()
    assert emulator.run(body["workflowRunId"]).webhooks == tuple(hooks)


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "nope"}, {"Authorization": "Bearer "}],
)
def test_bad_or_missing_key(
    http: httpx.Client, emulator: Emulator, headers: dict[str, str]
) -> None:
    answer = http.post(INVOKE, headers=headers, json={"input": {"topic": "x"}})
    assert answer.status_code == 401
    assert answer.json() == {"code": 40127, "message": "Authentication failed"}
    assert emulator.counters.total_invokes == 0


def test_bad_key_on_query(http: httpx.Client) -> None:
    answer = http.post(QUERY, headers=auth("nope"), json={"workflowRunId": "x"})
    assert answer.status_code == 401
    assert answer.json()["code"] == 40127


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "input is required"),
        ({"input": "text"}, "input is required"),
        ({"input": {}}, "Missing required input: topic"),
        ({"input": {"topic": "x"}, "isAsync": "yes"}, "isAsync"),
        ({"input": {"topic": "x"}, "userId": 7}, "userId"),
        ({"input": {"topic": "x"}, "webhook": [{"url": "u"}] * 6}, "webhook"),
        ({"input": {"topic": "x"}, "webhook": [{"method": "POST"}]}, "webhook"),
    ],
)
def test_bad_invoke_body(
    http: httpx.Client, emulator: Emulator, body: dict[str, Any], fragment: str
) -> None:
    answer = http.post(INVOKE, headers=auth(), json=body)
    assert answer.status_code == 400
    error = answer.json()
    assert set(error) == {"code", "message"}
    assert error["code"] == 40000
    assert fragment in error["message"]
    assert emulator.counters.total_invokes == 0


def test_invoke_body_not_json(http: httpx.Client) -> None:
    answer = http.post(INVOKE, headers=auth(), content=b"{not json")
    assert answer.status_code == 400
    assert answer.json()["code"] == 40000


def test_query_without_run_id(http: httpx.Client) -> None:
    answer = http.post(QUERY, headers=auth(), json={})
    assert answer.status_code == 400
    assert answer.json()["code"] == 40000


def test_unknown_run_id(http: httpx.Client, emulator: Emulator) -> None:
    answer = http.post(QUERY, headers=auth(), json={"workflowRunId": "no-such-run"})
    assert answer.status_code == 404
    assert answer.json() == {"code": 40000, "message": "workflowRunId not found"}
    assert emulator.counters.queries["no-such-run"] == 1


def test_run_of_another_workflow_is_not_found(http: httpx.Client) -> None:
    run_id = http.post(
        INVOKE, headers=auth("key-polls"), json={"input": {}, "isAsync": True}
    ).json()["workflowRunId"]
    answer = http.post(QUERY, headers=auth("key-fail"), json={"workflowRunId": run_id})
    assert answer.status_code == 404


def test_insufficient_credits(clock: FakeClock) -> None:
    emulator = Emulator(
        [
            Workflow(id="a", api_key="ka", credits_exhausted=True),
            Workflow(id="b", api_key="kb", credits_exhausted=True, credits_error_status=403),
            Workflow(id="c", api_key="kc", credits_exhausted=True, errors_in_http_200=True),
        ],
        clock=clock,
    )
    with emulator.http_client() as http:
        a = http.post(INVOKE, headers=auth("ka"), json={"input": {}})
        b = http.post(INVOKE, headers=auth("kb"), json={"input": {}})
        c = http.post(INVOKE, headers=auth("kc"), json={"input": {}})
    assert (a.status_code, b.status_code, c.status_code) == (402, 403, 200)
    for answer in (a, b, c):
        assert answer.json() == {"code": 20022, "message": "Insufficient credits"}
    assert emulator.counters.total_invokes == 0
    assert emulator.runs() == ()


def test_errors_in_http_200_emulator_wide(clock: FakeClock) -> None:
    emulator = Emulator(
        [Workflow(id="a", api_key="ka"), Workflow(id="b", api_key="kb", errors_in_http_200=False)],
        clock=clock,
        errors_in_http_200=True,
    )
    with emulator.http_client() as http:
        bad_key = http.post(INVOKE, headers=auth("nope"), json={"input": {}})
        unknown = http.post(QUERY, headers=auth("ka"), json={"workflowRunId": "x"})
        opted_out = http.post(QUERY, headers=auth("kb"), json={"workflowRunId": "x"})
    assert bad_key.status_code == 200
    assert bad_key.json()["code"] == 40127
    assert unknown.status_code == 200
    assert unknown.json()["code"] == 40000
    assert opted_out.status_code == 404


def test_unknown_path_and_wrong_method(http: httpx.Client) -> None:
    assert http.post("/v1/nothing", headers=auth()).status_code == 404
    answer = http.get(INVOKE, headers=auth())
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"


def test_error_bodies_and_reprs_never_show_the_key(http: httpx.Client, emulator: Emulator) -> None:
    answers = [
        http.post(INVOKE, headers=auth("secret-guess"), json={"input": {}}),
        http.post(INVOKE, headers=auth(), json={"input": {}}),
        http.post(QUERY, headers=auth(), json={"workflowRunId": "x"}),
    ]
    for answer in answers:
        assert "key-news" not in answer.text
        assert "secret-guess" not in answer.text
    assert "key-news" not in repr(emulator.workflow("wf-news"))
    assert "key-news" not in repr(emulator)
    assert "key-news" not in repr(emulator.transport())
