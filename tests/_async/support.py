"""Helpers for the client tests, written once for the async client and generated for sync."""

from __future__ import annotations

from typing import Any

from flowinvoke import AsyncClient

from ..policies import EXACT_POLL, EXACT_RETRY

KEY = "sk-test-0123456789abcdef"
GPTBOTS_URL = "https://api-sg.gptbots.ai"
INVOKE_URL = f"{GPTBOTS_URL}/v1/workflow/invoke"
QUERY_URL = f"{GPTBOTS_URL}/v1/workflow/query/result"
AITUTOR_URL = "https://aitutor-api.vercel.app"


def make_client(**options: Any) -> AsyncClient:
    """A client with exact schedules; options override the defaults."""
    settings: dict[str, Any] = {"api_key": KEY, "retry": EXACT_RETRY, "poll": EXACT_POLL}
    settings.update(options)
    return AsyncClient(**settings)
