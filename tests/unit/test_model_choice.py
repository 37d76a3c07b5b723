"""Which model answers a tenant (chat.model_choice): its own choice, else the operator's KEFU_LLM_*."""

from __future__ import annotations

import pytest

from chat.bot_settings import BotSettings
from chat.model_choice import ModelConfig, slot_config
from core.settings import Settings


def operator(provider: str = "openai", key: str | None = "sk-operator") -> Settings:
    return Settings(llm_provider=provider, llm_api_key=key, llm_model="operator-model", llm_base_url=None)


@pytest.mark.parametrize(
    ("choice", "app", "expected"),
    [
        # auto: the operator's model when it has a key (the tenant's model name wins), else local
        (("auto", "my-model", None, None), operator(), ("openai", "my-model", "sk-operator", False)),
        (("auto", None, None, None), operator(key=None), None),
        (("local", None, None, "sk-own"), operator(), None),
        # the tenant's own endpoint or key
        (("anthropic", None, None, "sk-ant-own"), operator(), ("anthropic", "claude-sonnet-4-5", "sk-ant-own", False)),
        (("openai", "llama3", "http://10.0.0.5:11434/v1", None), operator(), ("openai", "llama3", None, True)),
        # no key of its own: the operator's, only if the operator runs that provider
        (("gemini", None, None, None), operator("gemini"), ("gemini", "operator-model", "sk-operator", False)),
        (("gemini", None, None, None), operator("openai"), None),
        (("none", None, None, None), operator(), None),
    ],
)
def test_slot_config(choice, app, expected) -> None:
    config = slot_config(*choice, app)
    if expected is None:
        assert config is None
    else:
        assert isinstance(config, ModelConfig)
        assert (config.provider, config.model, config.api_key, config.tenant_url) == expected


def test_settings_never_show_the_sealed_keys() -> None:
    settings = BotSettings(sealed_keys="gAAAA-sealed")
    assert "sealed_keys" not in settings.as_dict() and "gAAAA" not in repr(settings)
    assert "sk-secret" not in repr(ModelConfig("openai", "m", None, "sk-secret"))
