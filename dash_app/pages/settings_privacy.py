"""Settings → identity verification (the secret, rotate), privacy (retention period) and the audit log.

The identity secret is shown to owners and admins only; the audit log to owners, with a CSV
download (`/audit/file`, served by `dash_app.downloads`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from dash import Input, Output, State, dcc, html, no_update

from core import audit, tenancy
from core.audit import Actor
from core.db import tenant_session_sync
from core.errors import ValidationFailed
from core.models import Tenant
from dash_app import auth
from dash_app.auth import SignedInUser
from dash_app.components import attempt, grid, notice, section
from dash_app.formats import count, when, zone
from dash_app.i18n import t

AUDIT_COLUMNS = ["at", "actor", "action", "target", "details"]


def audit_rows(user: SignedInUser, limit: int = 200) -> list[dict[str, Any]]:
    auth.require(user, "owner")
    with tenant_session_sync(user.tenant_id) as session:
        entries = audit.entries(session, user.tenant_id, limit=limit)
        tz = zone(user.timezone)
        return [{"at": when(e.at, tz, seconds=True), "actor": e.actor_label, "action": e.action,
                 "target": e.target, "details": ", ".join(f"{k}={v}" for k, v in e.details.items())}
                for e in entries]


def retention_days(user: SignedInUser) -> int | None:
    with tenant_session_sync(user.tenant_id) as session:
        tenant = session.get(Tenant, user.tenant_id)
        return tenant.retention_days if tenant else None


def save_retention(user: SignedInUser, value: Any) -> int | None:
    auth.require(user, "admin")
    if value in (None, ""):
        days = None
    elif isinstance(value, int | float) and float(value).is_integer():
        days = int(value)
    else:
        raise ValidationFailed("Retention must be a whole number of days, or empty to keep conversations.")
    return tenancy.set_retention(user.tenant_id, days, actor=Actor("user", user.user_id))


def rotate_secret(user: SignedInUser) -> str:
    auth.require(user, "admin")
    return tenancy.rotate_identity_secret(user.tenant_id, actor=Actor("user", user.user_id))


def layout(user: SignedInUser) -> html.Div:
    admin, owner = user.can("admin"), user.can("owner")
    parts: list[Any] = []
    if admin:
        parts.append(section("Identity verification", html.P(
            "Your site signs each signed-in customer: data-user-hash = hex HMAC-SHA256(secret, user id), "
            "computed on your server (docs/widget.md). Keep the secret on the server; never put it in a page."),
            html.Pre(tenancy.identity_secret(user.tenant_id), className="snippet", id="identity-secret"),
            html.Button("Rotate secret", id="identity-rotate", className="danger"),
            html.Div(id="identity-result")))
    parts.append(section("Privacy", html.Label("Keep conversations for (days after the last message; empty = "
                                               "forever)", htmlFor="privacy-retention"),
                         html.Div([dcc.Input(id="privacy-retention", type="number", min=1, step=1,
                                             value=retention_days(user), disabled=not admin),
                                   html.Button("Save", id="privacy-save", disabled=not admin)], className="row"),
                         html.Div(id="privacy-result")))
    if owner:
        parts.append(section("Audit log", grid(pd.DataFrame(audit_rows(user), columns=AUDIT_COLUMNS), "audit-table",
                                               columns=AUDIT_COLUMNS, page_size=10, wide=["details"]),
                             html.A("Download CSV", href="/audit/file", id="audit-download")))
    return html.Div(parts)


def register(app: Any) -> None:
    @app.callback(Output("identity-result", "children"), Output("identity-secret", "children"),
                  Input("identity-rotate", "n_clicks"), prevent_initial_call=True)
    def rotate(_: Any) -> tuple[Any, Any]:
        secret, error = attempt(lambda: rotate_secret(auth.current_user()))
        if error is not None:
            return error, no_update
        return notice("Rotated. Put the new secret on your site's server now: until then signed-in customers "
                      "are refused.", "success"), secret

    @app.callback(Output("privacy-result", "children"), Input("privacy-save", "n_clicks"),
                  State("privacy-retention", "value"), prevent_initial_call=True)
    def save(_: Any, value: Any) -> Any:
        days, error = attempt(lambda: save_retention(auth.current_user(), value))
        if error is not None:
            return error
        return notice(count(days, "Saved: conversations are kept {n} day.", "Saved: conversations are kept {n} days.")
                      if days else t("Saved: conversations are kept."), "success")
