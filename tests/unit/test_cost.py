"""Estimated LLM cost: list prices per 1k tokens, operator overrides, the local responder is free."""

from __future__ import annotations

import json

import pytest

from analytics import cost
from core.settings import get_settings


def test_listed_model_prices_prompt_and_completion_separately():
    assert cost.estimate("gpt-4o-mini", "openai", 3000, 600) == pytest.approx((3000 * 0.00015 + 600 * 0.0006) / 1000)


def test_local_responder_and_unknown_models_cost_nothing():
    assert cost.estimate("gpt-4o", "local", 5000, 5000) == 0.0
    assert cost.estimate("my-own-llama", "openai", 5000, 5000) == 0.0


def test_operator_prices_override_the_table(monkeypatch):
    monkeypatch.setenv("KEFU_LLM_PRICES_USD_PER_1K", '{"my-own-llama": [0.001, 0.002], "gpt-4o": [1, 1]}')
    get_settings.cache_clear()
    try:
        assert cost.estimate("my-own-llama", "openai", 1000, 1000) == pytest.approx(0.003)
        table = {row["model"]: row for row in json.loads(cost.price_table_json())}
        assert table["gpt-4o"]["prompt"] == 1 and table["gpt-4o-mini"]["prompt"] == 0.00015
    finally:
        monkeypatch.delenv("KEFU_LLM_PRICES_USD_PER_1K")
        get_settings.cache_clear()
