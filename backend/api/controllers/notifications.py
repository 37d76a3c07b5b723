"""Outbound webhooks (create, list, delete, deliveries) and the service settings: office hours, hand-off emails."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, delete, get, post, put
from litestar.params import FromPath, JSONBody, QueryParameter

from backend.api.auth import CurrentPrincipal, requires
from chat import commands, service_hours, webhooks
from core.audit import Actor
from core.db import tenant_session


@dataclass
class WebhookIn:
    url: str
    events: list[str]


class WebhookController(Controller):
    path = "/api/v1/webhooks"
    tags = ("webhooks",)

    @post(
        "/",
        status_code=201,
        guards=[requires("admin")],
        summary="Register a webhook; the answer carries its signing secret, shown only this once",
    )
    async def create_webhook(self, principal: CurrentPrincipal, data: JSONBody[WebhookIn]) -> dict[str, Any]:
        return await asyncio.to_thread(
            lambda: commands.create_webhook(principal.tenant_id, data.url, data.events, actor=Actor.of(principal))
        )

    @get("/", guards=[requires("admin")], summary="The tenant's webhooks with delivery counts (no secrets)")
    async def list_webhooks(self, principal: CurrentPrincipal) -> dict[str, Any]:
        async with tenant_session(principal.tenant_id) as session:
            items = await session.run_sync(webhooks.list_webhooks, principal.tenant_id)
        return {"items": items}

    @delete(
        "/{webhook_id:uuid}",
        status_code=204,
        guards=[requires("admin")],
        summary="Delete a webhook and its delivery history",
    )
    async def delete_webhook(self, principal: CurrentPrincipal, webhook_id: FromPath[uuid.UUID]) -> None:
        await asyncio.to_thread(
            lambda: commands.delete_webhook(principal.tenant_id, webhook_id, actor=Actor.of(principal))
        )

    @get(
        "/{webhook_id:uuid}/deliveries",
        guards=[requires("admin")],
        summary="The webhook's newest deliveries, each with its attempts and status",
    )
    async def list_deliveries(
        self,
        principal: CurrentPrincipal,
        webhook_id: FromPath[uuid.UUID],
        limit: Annotated[int, QueryParameter(required=False)] = 50,
    ) -> dict[str, Any]:
        async with tenant_session(principal.tenant_id) as session:
            return await session.run_sync(webhooks.deliveries, principal.tenant_id, webhook_id, limit)


class ServiceSettingsController(Controller):
    path = "/api/v1/settings/service"
    tags = ("settings",)

    @get("/", guards=[requires("analyst")], summary="Office hours, time zone and hand-off emails")
    async def read(self, principal: CurrentPrincipal) -> dict[str, Any]:
        async with tenant_session(principal.tenant_id) as session:
            settings = await service_hours.load(session, principal.tenant_id)
        return {**settings.as_dict(), "open_now": service_hours.is_open(settings)}

    @put("/", guards=[requires("admin")], summary="Change office hours, time zone or hand-off emails")
    async def update(self, principal: CurrentPrincipal, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        settings = await asyncio.to_thread(
            lambda: commands.save_service_settings(principal.tenant_id, data, actor=Actor.of(principal))
        )
        return {**settings.as_dict(), "open_now": service_hours.is_open(settings)}
