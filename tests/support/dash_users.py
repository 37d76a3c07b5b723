"""Signed-in admin-app users for the Dash tests: a tenant's owner and its analyst, loaded like a login does."""

from __future__ import annotations

from sqlalchemy import select

from core.db import tenant_session_sync
from core.models import User
from dash_app.auth import SignedInUser, load_user
from tests.factories import TenantCtx


def owner_of(ctx: TenantCtx) -> SignedInUser:
    return load_user(ctx.id, ctx.created.admin_user_id)


def analyst_of(ctx: TenantCtx) -> SignedInUser:
    with tenant_session_sync(ctx.id) as session:
        user_id = session.scalar(select(User.id).where(User.role == "analyst"))
    return load_user(ctx.id, user_id)
