"""Per-tenant bot settings: persona, greeting, language, confidence threshold, model, limits."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, get, post, put
from litestar.params import JSONBody

from backend.api.auth import CurrentPrincipal, requires
from chat import commands
from chat.bot_settings import load_bot_settings, public_view
from core.audit import Actor
from core.db import tenant_session
from core.errors import ValidationFailed


class BotSettingsController(Controller):
    path = "/api/v1/settings/bot"
    tags = ["settings"]

    @get("/", guards=[requires("analyst")], summary="The bot's settings (API keys only as *_key_set flags)")
    async def read(self, principal: CurrentPrincipal) -> dict[str, Any]:
        async with tenant_session(principal.tenant_id) as session:
            return public_view(await load_bot_settings(session, principal.tenant_id))

    @put("/", guards=[requires("admin")], summary="Change some of the bot's settings (api_key is write-only)")
    async def update(self, principal: CurrentPrincipal, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        return public_view(await asyncio.to_thread(lambda: commands.save_bot_settings(
            principal.tenant_id, data, actor=Actor.of(principal))))

    @post("/test", status_code=200, guards=[requires("admin")],
          summary="Test the saved settings: one short reply from the model (slot primary or fallback), "
                  "a test tone through the speech-to-text endpoint (slot transcription), "
                  "or two passages ranked by the reranker (slot reranker)")
    async def test_connection(self, principal: CurrentPrincipal,
                              data: JSONBody[dict[str, Any] | None] = None) -> dict[str, Any]:
        slot = (data or {}).get("slot", "primary") if isinstance(data, dict) else "primary"
        if not isinstance(slot, str):
            raise ValidationFailed("slot must be text.")
        return (await commands.test_model_connection(principal.tenant_id, slot)).as_dict()
