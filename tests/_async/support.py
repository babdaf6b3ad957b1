"""Helpers for the client tests, written once for the async client and generated for sync."""

from __future__ import annotations

from typing import Any

from flowinvoke import AsyncClient, PollPolicy, RetryPolicy

KEY = "sk-test-0123456789abcdef"
GPTBOTS_URL = "https://api-sg.gptbots.ai"
INVOKE_URL = f"{GPTBOTS_URL}/v1/workflow/invoke"
QUERY_URL = f"{GPTBOTS_URL}/v1/workflow/query/result"
AITUTOR_URL = "https://aitutor-api.vercel.app"

# No jitter, so the schedules the tests read are exact.
FAST_RETRY = RetryPolicy(max_retries=2, initial_delay=0.5, max_delay=2.0, jitter=False)
FAST_POLL = PollPolicy(initial_delay=1.0, multiplier=2.0, max_interval=4.0, jitter=0, timeout=60)


def make_client(**options: Any) -> AsyncClient:
    """A client with exact schedules; options override the defaults."""
    settings: dict[str, Any] = {"api_key": KEY, "retry": FAST_RETRY, "poll": FAST_POLL}
    settings.update(options)
    return AsyncClient(**settings)
