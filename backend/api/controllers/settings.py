"""Per-tenant bot settings: persona, greeting, language, confidence threshold, model, limits."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, get, put
from litestar.params import JSONBody

from backend.api.auth import CurrentPrincipal, requires
from chat import commands
from chat.bot_settings import load_bot_settings
from core.audit import Actor
from core.db import tenant_session


class BotSettingsController(Controller):
    path = "/api/v1/settings/bot"
    tags = ["settings"]

    @get("/", guards=[requires("analyst")], summary="The bot's settings")
    async def read(self, principal: CurrentPrincipal) -> dict[str, Any]:
        async with tenant_session(principal.tenant_id) as session:
            return (await load_bot_settings(session, principal.tenant_id)).as_dict()

    @put("/", guards=[requires("admin")], summary="Change some of the bot's settings")
    async def update(self, principal: CurrentPrincipal, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        return (await asyncio.to_thread(lambda: commands.save_bot_settings(principal.tenant_id, data,
                                                                         actor=Actor.of(principal)))).as_dict()
