"""The API key never shows in a repr, an exception, a log record or a dumped model."""

from __future__ import annotations

import logging
import pickle

import httpx
import pytest
import respx

from flowinvoke import AsyncClient, FlowInvokeError, PollPolicy, RetryPolicy
from flowinvoke._core.secret import APIKey

from .seed_bodies import GPTBOTS_ASYNC_ANSWER, gptbots_state

KEY = "sk-live-SECRET-9f8e7d6c5b4a"
URL = "https://api-sg.gptbots.ai/v1/workflow"


def _leaks(text: str) -> bool:
    return KEY in text or KEY[8:] in text


@pytest.mark.anyio
async def test_the_key_appears_nowhere(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    errors: list[BaseException] = []
    echo = {"code": 40127, "message": f"key {KEY} is not valid", "key": KEY}
    with respx.mock:
        respx.post(f"{URL}/invoke").mock(
            side_effect=[
                httpx.Response(200, json=GPTBOTS_ASYNC_ANSWER),
                httpx.Response(401, json=echo),
                httpx.ConnectError(f"could not connect with {KEY}"),
                httpx.ConnectError(f"still could not connect with {KEY}"),
                httpx.ReadTimeout(f"slow {KEY}"),
            ]
        )
        respx.post(f"{URL}/query/result").mock(
            side_effect=[
                httpx.Response(503, text=f"busy {KEY}"),
                httpx.Response(200, json=gptbots_state("FAILED", output={"error": "x"})),
            ]
        )
        async with AsyncClient(
            api_key=KEY,
            retry=RetryPolicy(max_retries=1, initial_delay=0, max_delay=0),
            poll=PollPolicy(initial_delay=0, jitter=0),
        ) as client:
            texts += [repr(client), str(client), repr(client._config), repr(client.provider)]
            for call in range(4):
                try:
                    if call == 0:
                        await client.run({"a": 1})
                    else:
                        await client.invoke({"a": 1})
                except FlowInvokeError as error:
                    errors.append(error)
            derived = client.with_options(timeout=3)
            texts.append(repr(derived))
    assert len(errors) == 4
    for error in errors:
        texts += [str(error), repr(error), *map(str, error.args)]
        run = getattr(error, "run", None)
        if run is not None:
            texts += [repr(run), run.model_dump_json(), str(run.model_dump())]
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.args) for record in caplog.records]
    assert caplog.records, "the test must see log records to mean anything"
    leaked = [text for text in texts if _leaks(text)]
    assert leaked == []


def test_api_key_holder() -> None:
    key = APIKey(KEY)
    assert key.reveal() == KEY
    assert not _leaks(repr(key)) and not _leaks(str(key)) and not _leaks(f"{key}")
    assert key == APIKey(KEY) and hash(key) == hash(APIKey(KEY))
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(key)


@pytest.mark.anyio
async def test_error_bodies_echoing_the_key_are_masked() -> None:
    echo = {"code": 40127, "message": "denied", "detail": {"seen": [f"Bearer {KEY}"]}}
    with respx.mock:
        respx.post(f"{URL}/invoke").mock(
            side_effect=[httpx.Response(401, json=echo), httpx.Response(200, text=f"<{KEY}>")]
        )
        async with AsyncClient(api_key=KEY) as client:
            with pytest.raises(FlowInvokeError) as denied:
                await client.invoke({"a": 1})
            with pytest.raises(FlowInvokeError) as garbled:
                await client.invoke({"a": 1})
    assert denied.value.body == {  # type: ignore[attr-defined]
        "code": 40127,
        "message": "denied",
        "detail": {"seen": ["Bearer ****"]},
    }
    assert garbled.value.body == "<****>"  # type: ignore[attr-defined]
