"""Bad input and bad settings (issue 10): a typed error, and nothing sent."""

from __future__ import annotations

from typing import Any

import pytest
import respx

from flowinvoke import ConfigurationError, Webhook

from ..seed_bodies import AITUTOR_SEED_ANSWER, GPTBOTS_QUERY_ANSWER, GPTBOTS_SYNC_ANSWER
from .support import INVOKE_URL, KEY, QUERY_URL, make_client


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": [value]}
    return value


def _cyclic_dict() -> dict[str, Any]:
    value: dict[str, Any] = {"x": 1}
    value["self"] = {"inner": [value]}
    return value


def _cyclic_list() -> dict[str, Any]:
    items: list[Any] = [1]
    items.append(items)
    return {"items": items}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (_nested(10_000), "deeper than"),
        (_nested(101), "deeper than"),
        (_cyclic_dict(), r"input\['self'\]\['inner'\]\[0\] contains itself"),
        (_cyclic_list(), r"input\['items'\]\[1\] contains itself"),
    ],
)
async def test_deep_or_cyclic_input_is_a_value_error_before_sending(
    bad: dict[str, Any], match: str
) -> None:
    with respx.mock:
        route = respx.post(INVOKE_URL).respond(200, json=GPTBOTS_SYNC_ANSWER)
        async with make_client() as client:
            with pytest.raises(ValueError, match=match):
                await client.invoke(bad)
            items = await client.run_many([{"ok": 1}, bad], timeout=30)
    assert isinstance(items[1].error, ValueError)
    assert items[0].error is None
    assert route.call_count == 1


@pytest.mark.anyio
async def test_shared_but_acyclic_values_and_100_levels_are_fine() -> None:
    shared = {"k": [1, 2]}
    with respx.mock:
        route = respx.post(INVOKE_URL).respond(200, json=GPTBOTS_SYNC_ANSWER)
        async with make_client() as client:
            await client.invoke({"a": shared, "b": shared, "deep": _nested(49)})
    assert route.called


@pytest.mark.anyio
@pytest.mark.parametrize("run_id", ["run\n42", "run\x0042", "run\t42", "run\x0b42", "run\x7f"])
async def test_control_characters_in_a_run_id_fail_before_sending(run_id: str) -> None:
    with respx.mock:
        route = respx.post(QUERY_URL).respond(200, json=GPTBOTS_QUERY_ANSWER)
        async with make_client() as client:
            with pytest.raises(ValueError, match="control character"):
                await client.get_run(run_id)
            with pytest.raises(ValueError, match="control character"):
                await client.wait(run_id)
    assert not route.called


@pytest.mark.anyio
@pytest.mark.parametrize(
    "headers",
    [{"X-Sig": "a\r\nX-Evil: 1"}, {"X-Sig": "a\x00b"}, {"X\tSig": "a"}, {"": "a"}],
)
async def test_control_characters_in_webhook_headers_fail_before_sending(
    headers: dict[str, str],
) -> None:
    hook = {"url": "https://hooks.example.com/done", "headers": headers}
    with respx.mock:
        route = respx.post(INVOKE_URL).respond(200, json=GPTBOTS_SYNC_ANSWER)
        async with make_client() as client:
            with pytest.raises(ValueError, match="control character") as info:
                await client.invoke({}, async_mode=True, webhooks=[hook])
    assert not route.called
    assert "a\x00b" not in str(info.value)  # header values (often secrets) are not echoed
    with pytest.raises(ValueError, match="control character"):
        Webhook(url="https://hooks.example.com/done", headers=headers)


@pytest.mark.anyio
@pytest.mark.parametrize("workflow_id", [".", ".."])
async def test_aitutor_dot_workflow_ids_fail_before_sending(workflow_id: str) -> None:
    with respx.mock:
        route = respx.route().respond(200, json=AITUTOR_SEED_ANSWER)
        async with make_client(provider="aitutor") as client:
            with pytest.raises(ConfigurationError, match="workflow_id"):
                await client.invoke({"story": "x"}, workflow_id=workflow_id)
        with pytest.raises(ConfigurationError, match="workflow_id"):
            async with make_client(provider="aitutor", workflow_id=workflow_id) as client:
                await client.invoke({"story": "x"})
    assert not route.called


@pytest.mark.parametrize(
    "name", ["Authorization", "authorization", "AUTHORIZATION", " authorization"]
)
def test_default_headers_may_not_set_authorization(name: str) -> None:
    with pytest.raises(ConfigurationError, match="api_key") as info:
        make_client(default_headers={name: "Bearer other"})
    assert "other" not in str(info.value)
    client = make_client()
    with pytest.raises(ConfigurationError, match="api_key"):
        client.with_options(default_headers={name: "Bearer other"})


@pytest.mark.parametrize("headers", [{"X-A": "a\nb"}, {"X-A": 1}, ["X-A"]])
def test_default_headers_must_be_str_without_control_characters(headers: Any) -> None:
    with pytest.raises(ConfigurationError, match="default_headers"):
        make_client(default_headers=headers)


@pytest.mark.parametrize("value", [0, -1, 1.5, 1.0, float("nan"), float("inf"), True, "4", None])
def test_max_connections_must_be_a_positive_int(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="max_connections"):
        make_client(max_connections=value)


def test_max_connections_accepts_ints() -> None:
    make_client(max_connections=1)
    make_client(max_connections=500)


@pytest.mark.parametrize(
    "key",
    [
        "sk-abc\x00defghijk",
        "sk-abc\x0bdefghijk",
        "sk-abc\tdefghijk",
        "sk-abc\x7fdefghijk",
        "sk-abc\ndefghijk",
        "sk-abc\u00e9defghijk",
        "sk-abc\u200bdefghijk",
        " sk-abcdefghijk",
    ],
)
def test_api_keys_with_control_or_non_ascii_characters_are_refused(key: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        make_client(api_key=key)
    text = str(info.value) + repr(info.value)
    assert "abc" not in text and "defghijk" not in text


@pytest.mark.parametrize("key", [123, b"sk-abcdefghijk", ["sk-abcdefghijk"]])
def test_an_api_key_that_is_not_a_str_is_refused(key: Any) -> None:
    with pytest.raises(ConfigurationError, match="must be a str") as info:
        make_client(api_key=key)
    assert "abcdefghijk" not in str(info.value) and "123" not in str(info.value)


@pytest.mark.parametrize("url", ["", "   "])
def test_an_empty_base_url_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="base_url is empty"):
        make_client(base_url=url)


def test_an_empty_base_url_in_the_environment_means_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOWINVOKE_BASE_URL", "")
    assert make_client().base_url == "https://api-sg.gptbots.ai"


@pytest.mark.parametrize(
    "url",
    [
        "https://user:s3cr3t-pass@proxy.example.com",
        "https://s3cr3t-pass@proxy.example.com/v1",
        "http://user:s3cr3t-pass@localhost:8080",
        "https://user:s3cr3t-pass@bad host.example.com",
    ],
)
def test_a_base_url_with_userinfo_is_refused_without_echoing_it(url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        make_client(base_url=url)
    assert "s3cr3t" not in str(info.value)
    assert KEY not in str(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize("workflow_id", [5, b"wf_1", ["wf_1"]])
async def test_a_workflow_id_that_is_not_a_str_is_refused(workflow_id: Any) -> None:
    with pytest.raises(ConfigurationError, match="workflow_id must be a str"):
        make_client(provider="aitutor", workflow_id=workflow_id)
    with respx.mock:
        route = respx.route().respond(200, json=AITUTOR_SEED_ANSWER)
        async with make_client(provider="aitutor") as client:
            with pytest.raises(ConfigurationError, match="workflow_id must be a str"):
                await client.invoke({"story": "x"}, workflow_id=workflow_id)
    assert not route.called
