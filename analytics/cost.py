"""Estimated LLM cost: tokens times a per-model price (USD per 1,000 tokens).

The built-in table holds list prices of common OpenAI, Anthropic and Gemini models at the time of writing;
`KEFU_LLM_PRICES_USD_PER_1K='{"my-model": [0.0005, 0.0015]}'` adds or overrides models. A model
not in either table costs 0 — so does the local responder, which runs no LLM at all.
"""

from __future__ import annotations

import json

from core.settings import get_settings

# model name → (prompt, completion) USD per 1k tokens
PRICES_USD_PER_1K: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.00015, 0.0006),
    "gpt-4o": (0.0025, 0.01),
    "gpt-4.1-mini": (0.0004, 0.0016),
    "gpt-4.1": (0.002, 0.008),
    "deepseek-chat": (0.00027, 0.0011),
    "qwen-plus": (0.0004, 0.0012),
    "claude-sonnet-4-5": (0.003, 0.015),
    "claude-haiku-4-5": (0.001, 0.005),
    "claude-opus-4-1": (0.015, 0.075),
    "gemini-2.5-flash": (0.0003, 0.0025),
    "gemini-2.5-flash-lite": (0.0001, 0.0004),
    "gemini-2.5-pro": (0.00125, 0.01),
}

# Providers that never bill tokens.
FREE_PROVIDERS = ("local",)


def price_table() -> dict[str, tuple[float, float]]:
    """The built-in prices with the operator's overrides applied."""
    return {**PRICES_USD_PER_1K, **get_settings().llm_prices_usd_per_1k}


def price_table_json() -> str:
    """The price table as a JSON array for SQL (`jsonb_to_recordset`)."""
    return json.dumps([{"model": m, "prompt": p, "completion": c} for m, (p, c) in price_table().items()])


def estimate(model: str | None, provider: str | None, prompt_tokens: int, completion_tokens: int) -> float:
    """USD for one reply (the same rule the SQL rollup applies)."""
    if provider in FREE_PROVIDERS or model is None:
        return 0.0
    prompt, completion = price_table().get(model, (0.0, 0.0))
    return (prompt_tokens * prompt + completion_tokens * completion) / 1000
