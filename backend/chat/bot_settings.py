"""Per-tenant bot settings for async code (API, chat engine); the rules live in `core.bot_settings`."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.bot_settings import LANGUAGES, PROVIDERS, BotSettings, from_stored, validate_settings
from core.errors import ValidationFailed
from core.models import Tenant

__all__ = ["LANGUAGES", "PROVIDERS", "BotSettings", "from_stored", "load_bot_settings", "save_bot_settings",
           "validate_settings"]


async def load_bot_settings(session: AsyncSession, tenant_id: uuid.UUID) -> BotSettings:
    stored = await session.scalar(select(Tenant.settings).where(Tenant.id == tenant_id))
    return from_stored((stored or {}).get("bot"))


async def save_bot_settings(session: AsyncSession, tenant_id: uuid.UUID, changes: dict[str, Any]) -> BotSettings:
    tenant = await session.get(Tenant, tenant_id, with_for_update=True)
    if tenant is None:
        raise ValidationFailed("Unknown tenant.")
    updated = validate_settings(from_stored((tenant.settings or {}).get("bot")), changes)
    tenant.settings = {**(tenant.settings or {}), "bot": updated.as_dict()}
    return updated
