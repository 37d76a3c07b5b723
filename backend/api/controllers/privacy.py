"""Privacy operations and accountability: erasure on request, the retention period, the audit log,
and the identity secret that lets the tenant's site vouch for its signed-in customers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Response, delete, get, post, put
from litestar.params import FromPath, JSONBody, QueryParameter

from analytics import commands as analytics_commands
from backend.api.auth import CurrentPrincipal, requires
from chat.conversations import check_visitor_id
from core import audit, tenancy
from core.audit import Actor
from core.db import tenant_session
from core.errors import ValidationFailed
from core.identity import check_user_id
from core.models import Tenant


@dataclass
class PrivacySettingsIn:
    retention_days: int | None


class PrivacyController(Controller):
    """Erase one person's data: by the widget's visitor id, or by the tenant's own (verified) user id."""

    path = "/api/v1"
    tags = ["privacy"]

    @delete("/visitors/{visitor_id:str}", status_code=200, guards=[requires("admin")],
            summary="Erase a visitor: their conversations, messages, feedback, hand-offs and derived figures")
    async def erase_visitor(self, principal: CurrentPrincipal, visitor_id: FromPath[str]) -> dict[str, Any]:
        check_visitor_id(visitor_id)
        erased = await asyncio.to_thread(analytics_commands.erase_visitor, principal.tenant_id, visitor_id,
                                         actor=Actor.of(principal))
        return {"visitor_id": visitor_id, "erased": erased.public()}

    @delete("/customers/{user_id:str}", status_code=200, guards=[requires("admin")],
            summary="Erase a verified user (the site's user id): their conversations from every device")
    async def erase_customer(self, principal: CurrentPrincipal, user_id: FromPath[str]) -> dict[str, Any]:
        check_user_id(user_id)
        erased = await asyncio.to_thread(analytics_commands.erase_user, principal.tenant_id, user_id,
                                         actor=Actor.of(principal))
        return {"user_id": user_id, "erased": erased.public()}

    @get("/settings/privacy", guards=[requires("analyst")], summary="The conversation retention period")
    async def read_settings(self, principal: CurrentPrincipal) -> dict[str, Any]:
        async with tenant_session(principal.tenant_id) as session:
            tenant = await session.get(Tenant, principal.tenant_id)
            return {"retention_days": tenant.retention_days if tenant else None}

    @put("/settings/privacy", guards=[requires("admin")],
         summary="Keep conversations N days after their last message (null: keep them)")
    async def update_settings(self, principal: CurrentPrincipal, data: JSONBody[PrivacySettingsIn]) -> dict[str, Any]:
        days = await asyncio.to_thread(tenancy.set_retention, principal.tenant_id, data.retention_days,
                                       actor=Actor.of(principal))
        return {"retention_days": days}

    @post("/settings/identity-secret/rotate", status_code=200, guards=[requires("admin")],
          summary="Replace the identity secret (hashes made with the old one stop verifying at once)")
    async def rotate_identity_secret(self, principal: CurrentPrincipal) -> dict[str, str]:
        secret = await asyncio.to_thread(tenancy.rotate_identity_secret, principal.tenant_id,
                                         actor=Actor.of(principal))
        return {"identity_secret": secret}


class AuditController(Controller):
    """The audit log, for owners: who changed settings, keys, users, documents, records; erasures."""

    path = "/api/v1/audit"
    tags = ["privacy"]

    @get("/", guards=[requires("owner")], summary="Audit log entries, newest first")
    async def list_entries(
        self, principal: CurrentPrincipal,
        limit: Annotated[int, QueryParameter(required=False, le=audit.MAX_PAGE, ge=1)] = 100,
        before: Annotated[int | None, QueryParameter(required=False, ge=1,
                                                     description="Entries older than this id")] = None,
        action: Annotated[str | None, QueryParameter(required=False, max_length=60,
                                                     description="Action prefix, e.g. privacy.")] = None,
    ) -> dict[str, Any]:
        if before is not None and before > 2**62:
            raise ValidationFailed("before must be an entry id from this log.")
        if action and not action.replace(".", "").replace("_", "").isalnum():
            raise ValidationFailed("action must be an action name or its start, like 'privacy.' or 'records.import'.")
        async with tenant_session(principal.tenant_id) as session:
            rows = await session.run_sync(lambda s: audit.entries(s, principal.tenant_id, limit=limit,
                                                                  before_id=before, action=action))
            items = [audit.entry_out(e) for e in rows]
        return {"items": items, "next_before": items[-1]["id"] if len(items) == limit else None}

    @get("/export", guards=[requires("owner")], summary="The whole audit log as CSV")
    async def export(self, principal: CurrentPrincipal) -> Response[str]:
        async with tenant_session(principal.tenant_id) as session:
            body = await session.run_sync(lambda s: "".join(audit.export_csv(s, principal.tenant_id)))
        return Response(body, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="kefu-audit-log.csv"'})
