"""Which model writes a tenant's answers: the tenant's own choice, else the operator's default.

- `local`: the local grounded responder, no model.
- `auto`: the operator's model (`KEFU_LLM_PROVIDER/_API_KEY/_BASE_URL/_MODEL`) when it has a
  key, else local. The tenant's `model` still overrides the operator's model name.
- `openai` | `anthropic` | `gemini`: the tenant's own endpoint and key when it set either; without
  them the operator's, if the operator runs that same provider; else local.
An optional fallback provider (same rules) is asked when the first fails before it streamed
anything. A tenant's own base URL goes through the SSRF guard each time it is called.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from chat.bot_settings import BotSettings
from chat.model_keys import unsealed
from chat.types import CompletionRequest, Provider, ProviderError, ProviderEvent, TextDelta, Usage
from core.errors import ValidationFailed
from core.outbound import UnsafeDestinationError, resolve_destination
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)

DEFAULT_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}
_CACHED_PROVIDERS = 256


@dataclass(frozen=True)
class ModelConfig:
    """One model endpoint: enough to build its provider client."""

    provider: str  # openai | anthropic | gemini
    model: str
    base_url: str | None
    api_key: str | None = None
    tenant_url: bool = False  # the base URL came from the tenant: checked by the SSRF guard

    def __repr__(self) -> str:  # never the key
        return f"ModelConfig({self.provider}, {self.model}, {self.base_url})"


def operator_config(app: Settings, model: str | None = None) -> ModelConfig | None:
    """The operator's model (KEFU_LLM_*), or None when it has no key."""
    if not app.llm_api_key:
        return None
    return ModelConfig(app.llm_provider, model or app.llm_model, app.llm_base_url, app.llm_api_key)


def slot_config(
    provider: str, model: str | None, base_url: str | None, api_key: str | None, app: Settings
) -> ModelConfig | None:
    """The endpoint one of the tenant's choices (primary or fallback) leads to, or None for local."""
    if provider in ("local", "none"):
        return None
    if provider == "auto":
        return operator_config(app, model)
    if api_key or base_url:
        return ModelConfig(provider, model or DEFAULT_MODELS[provider], base_url, api_key, tenant_url=bool(base_url))
    if app.llm_provider == provider:
        return operator_config(app, model)
    return None


def primary_config(settings: BotSettings, app: Settings | None = None) -> ModelConfig | None:
    app = app or get_settings()
    keys = unsealed(settings.sealed_keys) if settings.sealed_keys else {}
    return slot_config(settings.provider, settings.model, settings.base_url, keys.get("api_key"), app)


def fallback_config(settings: BotSettings, app: Settings | None = None) -> ModelConfig | None:
    app = app or get_settings()
    keys = unsealed(settings.sealed_keys) if settings.sealed_keys else {}
    return slot_config(
        settings.fallback_provider,
        settings.fallback_model,
        settings.fallback_base_url,
        keys.get("fallback_api_key"),
        app,
    )


def wants_model(settings: BotSettings) -> bool:
    """Whether a model (not the local responder) writes this tenant's answers."""
    return primary_config(settings) is not None


_providers: dict[tuple[Any, ...], Provider] = {}


def provider_for(config: ModelConfig, *, max_retries: int | None = None) -> Provider:
    """One client per endpoint configuration, reused across messages (and loops)."""
    app = get_settings()
    retries = app.llm_max_retries if max_retries is None else max_retries
    cache_key = (
        config.provider,
        config.model,
        config.base_url,
        config.api_key,
        config.tenant_url,
        app.llm_timeout_seconds,
        retries,
        app.llm_allow_private_hosts,
    )
    provider = _providers.get(cache_key)
    if provider is None:
        provider = _build(config, app.llm_timeout_seconds, retries)
        if config.tenant_url:
            provider = GuardedProvider(provider, config.base_url or "", app.llm_allow_private_hosts)
        while len(_providers) >= _CACHED_PROVIDERS:
            _providers.pop(next(iter(_providers)))
        _providers[cache_key] = provider
    return provider


def _build(config: ModelConfig, timeout: float, retries: int) -> Provider:
    options: dict[str, Any] = {
        "api_key": config.api_key,
        "base_url": config.base_url,
        "model": config.model,
        "timeout": timeout,
        "max_retries": retries,
    }
    if config.provider == "anthropic":
        from chat.providers.anthropic_provider import AnthropicProvider

        return AnthropicProvider(**options)
    if config.provider == "gemini":
        from chat.providers.gemini_provider import GeminiProvider

        return GeminiProvider(**options)
    from chat.providers.openai_provider import OpenAIProvider

    return OpenAIProvider(**options)


def model_provider(settings: BotSettings) -> Provider | None:
    """The provider for this tenant's answers (with its fallback), or None for the local responder."""
    primary = primary_config(settings)
    if primary is None:
        return None
    fallback = fallback_config(settings)
    first = provider_for(primary)
    if fallback is None or fallback == primary:
        return first
    return FallbackProvider(first, provider_for(fallback))


def check_destination(name: str, base_url: str) -> None:
    """Refuse (422) a tenant's model URL whose host resolves to an address the SSRF guard forbids."""
    url = httpx.URL(base_url)
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        asyncio.run(resolve_destination(host, port, allow_private=get_settings().llm_allow_private_hosts))
    except UnsafeDestinationError as exc:
        hint = " (an operator may allow model hosts on private networks with KEFU_LLM_ALLOW_PRIVATE_HOSTS)"
        raise ValidationFailed(f"{name} is not allowed: {exc}{hint if 'private' in str(exc) else ''}.") from exc


class GuardedProvider:
    """A provider whose base URL the tenant chose: checked against the SSRF rules before each call."""

    def __init__(self, inner: Provider, base_url: str, allow_private: bool) -> None:
        self.inner, self.name = inner, inner.name
        self._url = httpx.URL(base_url)
        self._allow_private = allow_private

    async def complete(self, request: CompletionRequest) -> AsyncIterator[ProviderEvent]:
        host = self._url.raw_host.decode("ascii")
        port = self._url.port or (443 if self._url.scheme == "https" else 80)
        try:
            await resolve_destination(host, port, allow_private=self._allow_private)
        except UnsafeDestinationError as exc:
            raise ProviderError(f"model endpoint refused: {exc}") from exc
        async for event in self.inner.complete(request):
            yield event


class FallbackProvider:
    """Asks `secondary` when `primary` fails before it streamed any text (so nothing repeats)."""

    def __init__(self, primary: Provider, secondary: Provider) -> None:
        self.primary, self.secondary = primary, secondary
        self.name = primary.name

    async def complete(self, request: CompletionRequest) -> AsyncIterator[ProviderEvent]:
        streamed = False
        try:
            async for event in self.primary.complete(request):
                streamed = streamed or isinstance(event, TextDelta)
                yield event
            return
        except ProviderError as exc:
            if streamed:
                raise
            log.warning("model %s failed (%s); asking the fallback %s", self.primary.name, exc, self.secondary.name)
        async for event in self.secondary.complete(request):
            if isinstance(event, Usage):
                event = Usage(event.prompt_tokens, event.completion_tokens, event.model, provider=self.secondary.name)
            yield event


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    provider: str
    model: str | None
    latency_ms: int
    reply: str = ""
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "provider": self.provider,
            "model": self.model,
            "latency_ms": self.latency_ms,
            "reply": self.reply,
            "error": self.error,
        }


async def check_connection(settings: BotSettings, slot: str = "primary") -> ConnectionCheck:
    """Ask the configured model for one short reply (no retries): does the endpoint, key and model work?"""
    config = primary_config(settings) if slot == "primary" else fallback_config(settings)
    if config is None:
        return ConnectionCheck(True, "local", None, 0, error=None)
    provider = provider_for(config, max_retries=0)
    request = CompletionRequest(
        [{"role": "user", "content": "Reply with the single word OK."}],
        [],
        config.model,
        max_tokens=16,
        timeout_seconds=min(get_settings().llm_timeout_seconds, 20.0),
    )
    started = time.perf_counter()
    reply: list[str] = []
    model: str | None = config.model
    try:
        async for event in provider.complete(request):
            if isinstance(event, TextDelta):
                reply.append(event.text)
            elif isinstance(event, Usage):
                model = event.model or model
    except ProviderError as exc:
        return ConnectionCheck(False, config.provider, config.model, _ms(started), error=str(exc))
    return ConnectionCheck(True, config.provider, model, _ms(started), "".join(reply).strip()[:200])


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
