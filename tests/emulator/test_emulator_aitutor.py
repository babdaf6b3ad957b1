"""aitutor-api wire format of the emulator: both answer styles and both error styles."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from flowinvoke.testing import Emulator, FakeClock, Workflow

# The example bodies of the seed page (aitutor-run-workflow.txt) and the live server.
SEED_SUCCESS: dict[str, Any] = {
    "success": True,
    "run_id": "run_abc123xyz",
    "status": "completed",
    "output": {"generated_story": "Once upon a time..."},
}
SEED_ERROR: dict[str, Any] = {
    "success": False,
    "error": {"message": "Invalid API key", "code": "unauthorized"},
}
LIVE_SUCCESS: dict[str, Any] = {"success": True, "result": "{}", "citations": []}
LIVE_ERROR_KEYS = {"success", "error", "code"}


def run_path(workflow_id: str) -> str:
    return f"/api/v1/run/{workflow_id}"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Emulator:
    def story(inputs: Any) -> dict[str, Any]:
        return {"generated_story": f"Once upon a time, {inputs['story']}"}

    return Emulator(
        [
            Workflow(
                id="wf_seed",
                api_key="sk_user",
                provider="aitutor",
                output=story,
                required_inputs=("story",),
                duration=2.0,
            ),
            Workflow(
                id="wf_live",
                api_key="sk_user",
                provider="aitutor",
                aitutor_style="live",
                output=story,
                required_inputs=("story",),
            ),
            Workflow(id="wf_other", api_key="sk_other", provider="aitutor"),
            Workflow(
                id="wf_broke",
                api_key="sk_user",
                provider="aitutor",
                aitutor_style="live",
                credits_exhausted=True,
            ),
            Workflow(
                id="wf_fails",
                api_key="sk_user",
                provider="aitutor",
                final_status="FAILED",
                error_message="LLM node failed",
            ),
        ],
        clock=clock,
    )


@pytest.fixture
def http(emulator: Emulator) -> Iterator[httpx.Client]:
    with emulator.http_client(base_url="https://aitutor-api.vercel.app") as client:
        yield client


def test_seed_style_answer_and_wall_time(http: httpx.Client, clock: FakeClock) -> None:
    answer = http.post(run_path("wf_seed"), headers=bearer("sk_user"), json={"story": "a dog"})
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == set(SEED_SUCCESS)
    assert body["success"] is True
    assert body["status"] == "completed"
    assert body["run_id"].startswith("run_")
    assert body["output"] == {"generated_story": "Once upon a time, a dog"}
    assert clock() == 2.0  # the call lasted the scripted duration


def test_live_style_answer(http: httpx.Client) -> None:
    answer = http.post(run_path("wf_live"), headers=bearer("sk_user"), json={"story": "a cat"})
    body = answer.json()
    assert set(body) == set(LIVE_SUCCESS)
    assert isinstance(body["result"], str)
    assert json.loads(body["result"]) == {"generated_story": "Once upon a time, a cat"}
    assert body["citations"] == []


def test_raw_key_is_rejected(http: httpx.Client, emulator: Emulator) -> None:
    answer = http.post(run_path("wf_seed"), headers={"Authorization": "sk_user"}, json={})
    assert answer.status_code == 401
    assert answer.json() == SEED_ERROR
    assert emulator.counters.total_invokes == 0


@pytest.mark.parametrize(
    ("workflow_id", "headers", "status", "code"),
    [
        ("wf_seed", {}, 401, "unauthorized"),
        ("wf_seed", bearer("sk_nope"), 401, "unauthorized"),
        ("wf_seed", {"Authorization": "bearer sk_user"}, 401, "unauthorized"),
        ("wf_nope", bearer("sk_user"), 404, "workflow_not_found"),
        ("wf_other", bearer("sk_user"), 404, "workflow_not_found"),
    ],
)
def test_seed_style_errors(
    http: httpx.Client, workflow_id: str, headers: dict[str, str], status: int, code: str
) -> None:
    answer = http.post(run_path(workflow_id), headers=headers, json={"story": "x"})
    assert answer.status_code == status
    body = answer.json()
    assert body["success"] is False
    assert set(body["error"]) == {"message", "code"}
    assert body["error"]["code"] == code


def test_seed_style_missing_parameter(http: httpx.Client) -> None:
    answer = http.post(run_path("wf_seed"), headers=bearer("sk_user"), json={})
    assert answer.status_code == 400
    assert answer.json() == {
        "success": False,
        "error": {"message": "Missing required parameter: story", "code": "invalid_request"},
    }


def test_live_style_errors(http: httpx.Client) -> None:
    cases = [
        (http.post(run_path("wf_live"), headers=bearer("nope"), json={}), 401, "unauthorized"),
        (
            http.post(run_path("wf_live"), headers=bearer("sk_user"), json={}),
            400,
            "invalid_request",
        ),
        (
            http.post(run_path("wf_broke"), headers=bearer("sk_user"), json={}),
            402,
            "spend_limit_reached",
        ),
        (
            http.post(run_path("wf_live"), headers=bearer("sk_user"), content=b"[1, 2]"),
            400,
            "invalid_request",
        ),
    ]
    for answer, status, code in cases:
        assert answer.status_code == status
        body = answer.json()
        assert set(body) == LIVE_ERROR_KEYS
        assert body["success"] is False
        assert isinstance(body["error"], str)
        assert body["code"] == code


def test_failed_run_is_a_500(http: httpx.Client, emulator: Emulator) -> None:
    answer = http.post(run_path("wf_fails"), headers=bearer("sk_user"))
    assert answer.status_code == 500
    assert answer.json() == {
        "success": False,
        "error": {"message": "LLM node failed", "code": "internal_server_error"},
    }
    assert emulator.counters.invokes["wf_fails"] == 1  # the run did start


def test_empty_body_is_no_inputs(http: httpx.Client) -> None:
    answer = http.post(run_path("wf_other"), headers=bearer("sk_other"))
    assert answer.status_code == 200
    assert answer.json()["output"] == {"echo": {}}


def test_errors_in_http_200(clock: FakeClock) -> None:
    emulator = Emulator(
        [Workflow(id="wf_a", api_key="sk", provider="aitutor", errors_in_http_200=True)],
        clock=clock,
        aitutor_style="live",
    )
    with emulator.http_client() as http:
        named = http.post(run_path("wf_a"), headers=bearer("bad"), json={})
        unnamed = http.post(run_path("wf_zzz"), headers=bearer("sk"), json={})
    assert named.status_code == 200
    assert named.json()["error"] == {"message": "Invalid API key", "code": "unauthorized"}
    assert unnamed.status_code == 404
    assert unnamed.json() == {
        "success": False,
        "error": "Workflow not found",
        "code": "workflow_not_found",
    }


def test_wrong_method(http: httpx.Client) -> None:
    assert http.get(run_path("wf_seed"), headers=bearer("sk_user")).status_code == 405
