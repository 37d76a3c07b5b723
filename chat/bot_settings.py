"""Per-tenant bot settings, stored in `tenants.settings["bot"]`, validated on write.

Plain data and validation, read and written by the chat engine, the API and the admin app
(`load_bot_settings` for async callers, `…_sync` twins for workers and Dash). Saving goes through
`chat.commands.save_bot_settings`, which also bumps the tenant's version.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from chat import model_keys
from core.errors import ValidationFailed
from core.models import Tenant
from knowledge import reranker_settings
from knowledge.confidence import DEFAULT_THRESHOLD
from knowledge.reranker_settings import RerankerSettings

LANGUAGES = ("auto", "zh", "en")
PROVIDERS = ("auto", "local", "openai", "anthropic", "gemini")
FALLBACK_PROVIDERS = ("none", "auto", "openai", "anthropic", "gemini")
# What happens to sentences of a model-written answer that its evidence does not support
# (chat.grounding): only flagged, dropped from the answer, or the whole answer replaced by the
# grounded answer composed from the passages.
GROUNDING_ACTIONS = ("flag", "drop", "fallback")
URL_FIELDS = ("base_url", "fallback_base_url", "transcription_base_url")


@dataclass(frozen=True)
class BotSettings:
    persona: str = "You are a friendly, concise customer-service assistant for this business."
    greeting: str | None = None  # None: a default greeting in the customer's language
    language: str = "auto"  # reply language: auto = the customer's language
    confidence_threshold: float = DEFAULT_THRESHOLD  # below it the bot says it does not know and offers a human
    provider: str = "auto"  # auto = the operator's model (KEFU_LLM_*) when it has a key, else local
    model: str | None = None
    base_url: str | None = None  # the tenant's own endpoint for `provider` (checked by the SSRF guard)
    fallback_provider: str = "none"  # asked when the first model fails before it said anything
    fallback_model: str | None = None
    fallback_base_url: str | None = None
    grounding_action: str = "flag"
    # Below the threshold, answer when the top entry clearly leads the next one (chat.engine.clear_lead);
    # False: such questions get the "did you mean" list like any other between the floor and the threshold.
    answer_clear_lead: bool = True
    # Voice questions (chat.voice): off here turns the microphone off even when the operator has a
    # transcription endpoint; the tenant's own endpoint and model replace the operator's.
    voice: bool = True
    transcription_base_url: str | None = None
    transcription_model: str | None = None
    temperature: float = 0.2
    max_tokens: int = 600
    rate_limit_per_minute: int = 600  # all visitors of the tenant together
    visitor_rate_limit_per_minute: int = 20
    # One client address (as the trusted proxy gives it), whatever visitor ids it makes up.
    address_rate_limit_per_minute: int = 60
    monthly_token_quota: int = 2_000_000
    # The tenant's sealed model keys (tenants.model_secrets), carried for the engine; never shown.
    sealed_keys: str | None = field(default=None, repr=False, compare=False)
    # The tenant's own reranker (knowledge.reranker_settings, stored apart in tenants.settings["reranker"]
    # with its key in tenants.reranker_secret); set through the same `PUT /api/v1/settings/bot`.
    reranker: RerankerSettings = field(default_factory=RerankerSettings, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """The bot's own settings as stored, never the keys (nor the reranker, stored apart)."""
        view = asdict(self)
        del view["sealed_keys"], view["reranker"]
        return view


_LIMITS: dict[str, tuple[float, float]] = {
    "confidence_threshold": (0.0, 1.0),
    "temperature": (0.0, 2.0),
    "max_tokens": (16, 4000),
    "rate_limit_per_minute": (1, 100_000),
    "visitor_rate_limit_per_minute": (1, 10_000),
    "address_rate_limit_per_minute": (1, 100_000),
    "monthly_token_quota": (0, 10_000_000_000),
}


def validate_settings(current: BotSettings, changes: dict[str, Any]) -> BotSettings:
    """Apply `changes` to `current`, refusing unknown keys and out-of-range values (422)."""
    known = {f.name: f for f in fields(BotSettings) if f.name not in _APART}
    unknown = sorted(set(changes) - set(known))
    if unknown:
        raise ValidationFailed(f"Unknown bot settings: {', '.join(unknown)}. "
                               f"Known: {', '.join([*known, *reranker_settings.ALL_FIELDS])}.")
    for name, value in changes.items():
        if name in _LIMITS:
            low, high = _LIMITS[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                raise ValidationFailed(f"{name} must be a number between {low:g} and {high:g}.")
        elif name == "voice" and not isinstance(value, bool):
            raise ValidationFailed("voice must be true or false.")
        elif name in ("persona", "greeting", "model", "fallback_model", "transcription_model", *URL_FIELDS) \
                and value is not None and (
                not isinstance(value, str) or len(value) > 4000):
                raise ValidationFailed(f"{name} must be text of at most 4000 characters.")
        if name == "answer_clear_lead" and not isinstance(value, bool):
            raise ValidationFailed("answer_clear_lead must be true or false.")
        if name == "persona" and not (value or "").strip():
            raise ValidationFailed("persona must not be empty.")
    if changes.get("language", current.language) not in LANGUAGES:
        raise ValidationFailed(f"language must be one of {', '.join(LANGUAGES)}.")
    if changes.get("provider", current.provider) not in PROVIDERS:
        raise ValidationFailed(f"provider must be one of {', '.join(PROVIDERS)}.")
    if changes.get("fallback_provider", current.fallback_provider) not in FALLBACK_PROVIDERS:
        raise ValidationFailed(f"fallback_provider must be one of {', '.join(FALLBACK_PROVIDERS)}.")
    if changes.get("grounding_action", current.grounding_action) not in GROUNDING_ACTIONS:
        raise ValidationFailed(f"grounding_action must be one of {', '.join(GROUNDING_ACTIONS)}.")
    for name in URL_FIELDS:
        if name in changes:
            changes = {**changes, name: check_base_url(name, changes[name])}
    for name in ("model", "fallback_model", "transcription_model"):
        if isinstance(changes.get(name), str):
            changes = {**changes, name: changes[name].strip() or None}
    typed = {k: int(v) if isinstance(known[k].default, int) and not isinstance(known[k].default, bool)
             and isinstance(v, float) and v.is_integer() else v for k, v in changes.items()}
    return replace(current, **typed)


def check_base_url(name: str, value: Any) -> str | None:
    """A model endpoint's URL as stored: http(s), a host, no credentials; '' or None clears it.

    Where it may point (public hosts only, unless the operator allows private ones) is checked
    when the model is called (chat.model_choice), against what the host resolves to then.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value) > 500:
        raise ValidationFailed(f"{name} must be a URL of at most 500 characters.")
    try:
        url = httpx.URL(value.strip())
    except (httpx.InvalidURL, ValueError) as exc:
        raise ValidationFailed(f"{name} is not a valid URL: {exc}.") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ValidationFailed(f"{name} must start with http:// or https:// and name a host.")
    if url.userinfo:
        raise ValidationFailed(f"{name} must not contain a user name or password; use api_key.")
    return str(url).rstrip("/")


_APART = ("sealed_keys", "reranker")


def from_stored(raw: dict[str, Any] | None, sealed_keys: str | None = None,
                reranker: RerankerSettings | None = None) -> BotSettings:
    known = {f.name for f in fields(BotSettings)} - set(_APART)
    return BotSettings(**{k: v for k, v in (raw or {}).items() if k in known}, sealed_keys=sealed_keys,
                       reranker=reranker or RerankerSettings())


_COLUMNS = (Tenant.settings, Tenant.model_secrets, Tenant.reranker_secret)


def _from_row(row: Any) -> BotSettings:
    if row is None:
        return from_stored(None)
    stored = row[0] or {}
    return from_stored(stored.get("bot"), row[1], reranker_settings.from_stored(stored.get("reranker"), row[2]))


async def load_bot_settings(session: AsyncSession, tenant_id: uuid.UUID) -> BotSettings:
    """The tenant's bot settings (defaults for anything never set)."""
    return _from_row((await session.execute(select(*_COLUMNS).where(Tenant.id == tenant_id))).first())


def load_bot_settings_sync(session: Session, tenant_id: uuid.UUID) -> BotSettings:
    return _from_row(session.execute(select(*_COLUMNS).where(Tenant.id == tenant_id)).first())


def write_bot_settings(session: Session, tenant_id: uuid.UUID, changes: dict[str, Any]) -> BotSettings:
    """Validate and store `changes`; nothing is written when any value is refused.

    `api_key`, `fallback_api_key` and `transcription_api_key` are write-only: sealed into `tenants.model_secrets`
    (chat.model_keys); null or "" removes a key. The `reranker*` fields (and the write-only
    `reranker_api_key`) are the tenant's reranker, validated and stored by knowledge.reranker_settings.
    """
    tenant = session.get(Tenant, tenant_id, with_for_update=True)
    if tenant is None:
        raise ValidationFailed("Unknown tenant.")
    keys = {name: changes[name] for name in model_keys.KEY_FIELDS if name in changes}
    ranking = {name: value for name, value in changes.items() if name in reranker_settings.ALL_FIELDS}
    settings = {name: value for name, value in changes.items()
                if name not in model_keys.KEY_FIELDS and name not in reranker_settings.ALL_FIELDS}
    updated = validate_settings(from_stored((tenant.settings or {}).get("bot")), settings)
    sealed = model_keys.updated(tenant.model_secrets, keys) if keys else tenant.model_secrets
    reranker = reranker_settings.apply(tenant, ranking) if ranking else \
        reranker_settings.from_stored((tenant.settings or {}).get("reranker"), tenant.reranker_secret)
    tenant.settings = {**(tenant.settings or {}), "bot": updated.as_dict()}
    tenant.model_secrets = sealed
    return replace(updated, sealed_keys=sealed, reranker=reranker)


def public_view(settings: BotSettings) -> dict[str, Any]:
    """The settings as the API and the admin app show them: keys only as `…_set` flags."""
    keys = model_keys.unsealed(settings.sealed_keys)
    return {**settings.as_dict(), **{f"{name}_set": bool(keys.get(name)) for name in model_keys.KEY_FIELDS},
            **reranker_settings.public_view(settings.reranker)}
