"""Client settings: environment fallbacks, and refusals before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest

from flowinvoke import AsyncClient, ConfigurationError, PollPolicy, RetryPolicy


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("API_KEY", "PROVIDER", "BASE_URL", "REGION", "WORKFLOW_ID"):
        monkeypatch.delenv(f"FLOWINVOKE_{name}", raising=False)


def test_settings_fall_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWINVOKE_API_KEY", "sk-from-env-123456")
    monkeypatch.setenv("FLOWINVOKE_PROVIDER", "aitutor")
    monkeypatch.setenv("FLOWINVOKE_BASE_URL", "https://gw.example.com/")
    monkeypatch.setenv("FLOWINVOKE_WORKFLOW_ID", "wf_env")
    client = AsyncClient()
    assert client.provider.name == "aitutor"
    assert client.base_url == "https://gw.example.com"
    assert client._config.workflow_id == "wf_env"
    assert client._config.api_key.reveal() == "sk-from-env-123456"


def test_region_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWINVOKE_REGION", "th")
    assert AsyncClient(api_key="sk-123456").base_url == "https://api-th.gptbots.ai"


def test_a_global_region_leaves_region_less_providers_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOWINVOKE_REGION", "jp")
    assert AsyncClient(api_key="k", provider="altabots").base_url == "https://altatech.ai"
    assert AsyncClient(api_key="k", provider="aitutor").base_url.startswith("https://aitutor")


def test_with_options_derives_from_the_client_not_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = AsyncClient(api_key="k")
    monkeypatch.setenv("FLOWINVOKE_BASE_URL", "https://elsewhere.example.com")
    monkeypatch.setenv("FLOWINVOKE_API_KEY", "sk-env-999999")
    derived = client.with_options(region="jp")
    assert derived.base_url == "https://api-jp.gptbots.ai"
    assert derived._config.api_key.reveal() == "k"


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWINVOKE_API_KEY", "sk-from-env-123456")
    monkeypatch.setenv("FLOWINVOKE_PROVIDER", "aitutor")
    client = AsyncClient(api_key="sk-arg-1234567", provider="altabots")
    assert client.provider.name == "altabots"
    assert client._config.api_key.reveal() == "sk-arg-1234567"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({}, "no API key"),
        ({"api_key": ""}, "no API key"),
        ({"api_key": "   "}, "no API key"),
        ({"api_key": " sk-123456"}, "white space"),
        ({"api_key": "sk-123\n456"}, "line break"),
        ({"api_key": "k", "provider": "difyy"}, "choose one of: aitutor, altabots, .*gptbots"),
        ({"api_key": "k", "base_url": "not a url"}, "absolute http"),
        ({"api_key": "k", "base_url": "ftp://example.com"}, "absolute http"),
        ({"api_key": "k", "base_url": "https://example.com/?a=1"}, "query"),
        ({"api_key": "k", "base_url": "http://example.com"}, "unencrypted"),
        ({"api_key": "k", "base_url": "http://10.0.0.8:8080"}, "unencrypted"),
        ({"api_key": "k", "region": "not a region!"}, "host label"),
        ({"api_key": "k", "provider": "altabots", "region": "sg"}, "no regions"),
        ({"api_key": "k", "provider": "aitutor", "region": "sg"}, "no regions"),
        ({"api_key": "k", "provider": "aitutor", "auth_scheme": "raw"}, "bearer"),
        ({"api_key": "k", "auth_scheme": "basic"}, "auth_scheme"),
        ({"api_key": "k", "timeout": -1}, "timeout"),
        ({"api_key": "k", "timeout": "5"}, "timeout"),
        ({"api_key": "k", "retry": 3}, "RetryPolicy"),
        ({"api_key": "k", "poll": {"timeout": 3}}, "PollPolicy"),
        ({"api_key": "k", "max_connections": 0}, "max_connections"),
    ],
)
def test_bad_settings_fail_when_the_client_is_built(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        AsyncClient(**options)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8000",
        "http://127.0.0.1:9",
        "http://127.8.9.10",
        "http://[::1]:8080",
        "http://emulator.localhost",
    ],
)
def test_plain_http_is_fine_on_loopback(url: str) -> None:
    assert AsyncClient(api_key="k", base_url=url).base_url == url


def test_plain_http_elsewhere_needs_an_explicit_opt_in() -> None:
    client = AsyncClient(api_key="k", base_url="http://gw.internal:80", allow_insecure_http=True)
    assert client.base_url == "http://gw.internal"


def test_a_configuration_error_is_also_a_value_error() -> None:
    with pytest.raises(ValueError, match="no API key"):
        AsyncClient()


def test_policies_and_timeouts_are_kept() -> None:
    retry, poll = RetryPolicy(max_retries=5), PollPolicy(timeout=None)
    client = AsyncClient(api_key="k", retry=retry, poll=poll, timeout=12)
    assert client.retry is retry and client.poll is poll
    assert client._config.timeout.read == 12.0
    default = AsyncClient(api_key="k", provider="aitutor")
    assert default._config.timeout.read == 330.0  # longer than aitutor's 300 s cut
    assert default._config.timeout.connect == 10.0


def test_the_client_settings_are_one_list() -> None:
    """`ClientConfig` is the list: the checks take exactly its names, both clients take
    each as a keyword, and `with_options` can change each but the provider and the
    insecure-http permission (a derived client shares the pool built for those)."""
    import dataclasses
    import inspect

    from flowinvoke import AsyncClient, Client
    from flowinvoke._config import CONFIG_ARGUMENTS, ClientConfig

    settings = {setting.name for setting in dataclasses.fields(ClientConfig)}
    assert set(CONFIG_ARGUMENTS) == settings
    for client in (AsyncClient, Client):
        assert settings <= set(inspect.signature(client.__init__).parameters)
        changeable = set(inspect.signature(client.with_options).parameters)
        assert settings - changeable == {"provider", "allow_insecure_http"}


def test_with_options_changes_the_response_cap_and_keeps_the_rest() -> None:
    from flowinvoke import AsyncClient

    client = AsyncClient(api_key="sk-0123456789", max_response_bytes=1000, workflow_id="w")
    derived = client.with_options(max_response_bytes=2000)
    assert derived._config.max_response_bytes == 2000
    assert derived._config.workflow_id == "w"
    assert client._config.max_response_bytes == 1000
