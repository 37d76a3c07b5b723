"""Per-tenant bot settings: persona, greeting, language, confidence threshold, model, limits."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, put
from litestar.params import JSONBody

from backend.api.auth import CurrentPrincipal, requires
from backend.chat.bot_settings import load_bot_settings, save_bot_settings
from core.db import tenant_session
from core.versions import abump_tenant_version


class BotSettingsController(Controller):
    path = "/api/v1/settings/bot"
    tags = ["settings"]

    @get("/", guards=[requires("analyst")], summary="The bot's settings")
    async def read(self, principal: CurrentPrincipal) -> dict[str, Any]:
        async with tenant_session(principal.tenant_id) as session:
            return (await load_bot_settings(session, principal.tenant_id)).as_dict()

    @put("/", guards=[requires("admin")], summary="Change some of the bot's settings")
    async def update(self, principal: CurrentPrincipal, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        async with tenant_session(principal.tenant_id) as session:
            updated = await save_bot_settings(session, principal.tenant_id, data)
        await abump_tenant_version(principal.tenant_id)  # cached answers reflect the old settings
        return updated.as_dict()
