"""Per-tenant bot settings, stored in `tenants.settings["bot"]`, validated on write.

Plain data and validation, read and written by the chat engine, the API and the admin app
(`load_bot_settings` for async callers, `…_sync` twins for workers and Dash). Saving goes through
`chat.commands.save_bot_settings`, which also bumps the tenant's version.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from core.models import Tenant
from knowledge.confidence import DEFAULT_THRESHOLD

LANGUAGES = ("auto", "zh", "en")
PROVIDERS = ("auto", "local", "openai")


@dataclass(frozen=True)
class BotSettings:
    persona: str = "You are a friendly, concise customer-service assistant for this business."
    greeting: str | None = None  # None: a default greeting in the customer's language
    language: str = "auto"  # reply language: auto = the customer's language
    confidence_threshold: float = DEFAULT_THRESHOLD  # below it the bot says it does not know and offers a human
    provider: str = "auto"  # auto = openai when an LLM key is configured, else local
    model: str | None = None
    temperature: float = 0.2
    max_tokens: int = 600
    rate_limit_per_minute: int = 600  # all visitors of the tenant together
    visitor_rate_limit_per_minute: int = 20
    # One client address (as the trusted proxy gives it), whatever visitor ids it makes up.
    address_rate_limit_per_minute: int = 60
    monthly_token_quota: int = 2_000_000

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    known = {f.name: f for f in fields(BotSettings)}
    unknown = sorted(set(changes) - set(known))
    if unknown:
        raise ValidationFailed(f"Unknown bot settings: {', '.join(unknown)}. Known: {', '.join(known)}.")
    for name, value in changes.items():
        if name in _LIMITS:
            low, high = _LIMITS[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                raise ValidationFailed(f"{name} must be a number between {low:g} and {high:g}.")
        elif name in ("persona", "greeting", "model") and value is not None and (
                not isinstance(value, str) or len(value) > 4000):
                raise ValidationFailed(f"{name} must be text of at most 4000 characters.")
        if name == "persona" and not (value or "").strip():
            raise ValidationFailed("persona must not be empty.")
    if changes.get("language", current.language) not in LANGUAGES:
        raise ValidationFailed(f"language must be one of {', '.join(LANGUAGES)}.")
    if changes.get("provider", current.provider) not in PROVIDERS:
        raise ValidationFailed(f"provider must be one of {', '.join(PROVIDERS)}.")
    typed = {k: int(v) if isinstance(known[k].default, int) and not isinstance(known[k].default, bool)
             and isinstance(v, float) and v.is_integer() else v for k, v in changes.items()}
    return replace(current, **typed)


def from_stored(raw: dict[str, Any] | None) -> BotSettings:
    known = {f.name for f in fields(BotSettings)}
    return BotSettings(**{k: v for k, v in (raw or {}).items() if k in known})


async def load_bot_settings(session: AsyncSession, tenant_id: uuid.UUID) -> BotSettings:
    """The tenant's bot settings (defaults for anything never set)."""
    stored = await session.scalar(select(Tenant.settings).where(Tenant.id == tenant_id))
    return from_stored((stored or {}).get("bot"))


def load_bot_settings_sync(session: Session, tenant_id: uuid.UUID) -> BotSettings:
    stored = session.scalar(select(Tenant.settings).where(Tenant.id == tenant_id))
    return from_stored((stored or {}).get("bot"))


def write_bot_settings(session: Session, tenant_id: uuid.UUID, changes: dict[str, Any]) -> BotSettings:
    """Validate and store `changes`; nothing is written when any value is refused."""
    tenant = session.get(Tenant, tenant_id, with_for_update=True)
    if tenant is None:
        raise ValidationFailed("Unknown tenant.")
    updated = validate_settings(from_stored((tenant.settings or {}).get("bot")), changes)
    tenant.settings = {**(tenant.settings or {}), "bot": updated.as_dict()}
    return updated
