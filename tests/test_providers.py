"""The provider registry, and plugging in a platform of your own."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import httpx
import pytest

from flowinvoke import AsyncClient, ConfigurationError, RunStatus, Webhook, WorkflowRun
from flowinvoke.providers import (
    _REGISTRY,
    ErrorInfo,
    Operation,
    Provider,
    RequestSpec,
    available_providers,
    get_provider,
    register_provider,
)


class EchoProvider(Provider):
    """A toy platform: `/start` answers finished runs; errors are `{"oops": "..."}`."""

    name: ClassVar[str] = "echo-test"

    def base_url(self, region: str | None) -> str:
        return "https://echo.example.com"

    def build_invoke(
        self,
        input: Mapping[str, Any],
        *,
        user_id: str | None,
        workflow_id: str | None,
        async_mode: bool,
        webhooks: Sequence[Webhook],
    ) -> RequestSpec:
        return RequestSpec("POST", "/start", {"args": dict(input)}, Operation.INVOKE)

    def parse_error(self, status_code: int, body: Any) -> ErrorInfo | None:
        if isinstance(body, Mapping) and "oops" in body:
            return ErrorInfo(message=str(body["oops"]))
        return ErrorInfo(message=f"HTTP {status_code}") if status_code >= 400 else None

    def parse_run(self, body: Any, request: RequestSpec) -> WorkflowRun:
        return WorkflowRun(
            id=body["id"], status=RunStatus.from_word(body["state"]), provider=self.name, raw=body
        )


@pytest.fixture(autouse=True)
def _forget_echo() -> Iterator[None]:
    yield
    _REGISTRY.pop(EchoProvider.name, None)


def test_builtins_are_registered_by_name() -> None:
    assert {"gptbots", "altabots", "aitutor"} <= set(available_providers())
    assert get_provider("GPTBots").name == "gptbots"
    provider = get_provider("aitutor")
    assert get_provider(provider) is provider
    assert "aitutor" in repr(provider)
    assert not provider.supports_query  # derived: aitutor implements no build_query
    assert get_provider("gptbots").supports_query
    assert not EchoProvider().supports_query


def test_registering_twice_needs_replace() -> None:
    register_provider(EchoProvider(), replace=True)
    with pytest.raises(ValueError, match="already registered"):
        register_provider(EchoProvider())
    with pytest.raises(TypeError):
        register_provider(EchoProvider)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_a_custom_provider_plugs_into_the_client() -> None:
    register_provider(EchoProvider(), replace=True)

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url == "https://echo.example.com/start"
        return httpx.Response(200, json={"id": "e-1", "state": "done"})

    async with AsyncClient(
        provider="echo-test", api_key="k-1234", transport=httpx.MockTransport(handler)
    ) as client:
        run = await client.invoke({"x": 1})
        assert run.provider == "echo-test"
        assert run.status is RunStatus.UNKNOWN and run.raw_status is None
        with pytest.raises(Exception, match="does not support querying"):
            await client.get_run("e-1")


def test_an_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="gptbots"):
        get_provider("nope")
