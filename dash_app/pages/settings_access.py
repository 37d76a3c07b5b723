"""Settings → API keys (create, shown once; revoke) and users (add, change role, deactivate).

Nobody hands out more than they have: an admin cannot create owner keys or owners, and nobody
can demote or deactivate themselves (so a tenant always keeps the person who set it up).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from dash import Input, Output, State, ctx, dcc, html, no_update
from sqlalchemy import select

from core import audit
from core.audit import Actor
from core.db import tenant_session_sync
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.models import KEY_ROLES, ROLES, ApiKey, User
from core.tenancy import add_user, check_grantable, create_api_key, revoke_api_key
from dash_app import auth
from dash_app.auth import SignedInUser
from dash_app.components import as_uuid, attempt, grid, notice, records, section, selected_ids
from dash_app.formats import count, when, yes_no, zone
from dash_app.i18n import t

KEY_COLUMNS = ["name", "prefix", "role", "created_at", "revoked_at"]
USER_COLUMNS = ["email", "display_name", "role", "is_active", "created_at"]


def _grantable(user: SignedInUser, role: str) -> None:
    check_grantable(user.role, role)


def api_key_rows(user: SignedInUser) -> list[dict[str, Any]]:
    with tenant_session_sync(user.tenant_id) as session:
        keys = session.scalars(select(ApiKey).where(ApiKey.tenant_id == user.tenant_id)
                               .order_by(ApiKey.created_at.desc())).all()
        tz = zone(user.timezone)
        return [{"id": str(k.id), "name": k.name, "prefix": k.prefix + "…", "role": t(k.role),
                 "created_at": when(k.created_at, tz), "revoked_at": when(k.revoked_at, tz)} for k in keys]


def new_api_key(user: SignedInUser, name: str, role: str) -> str:
    """Create an API key and return its secret; only its digest is kept, so it is shown this once."""
    auth.require(user, "admin")
    _grantable(user, role)
    if not (name or "").strip():
        raise ValidationFailed("Give the key a name that says where it is used.")
    with tenant_session_sync(user.tenant_id) as session:
        _, secret = create_api_key(session, user.tenant_id, name.strip(), role, actor=Actor("user", user.user_id))
    return secret


def revoke_api_keys(user: SignedInUser, key_ids: list[str]) -> int:
    auth.require(user, "admin")
    if not key_ids:
        raise ValidationFailed("Select the keys to revoke first.")
    with tenant_session_sync(user.tenant_id) as session:
        for key_id in key_ids:
            revoke_api_key(session, user.tenant_id, as_uuid(key_id, "API key id"), actor=Actor("user", user.user_id))
    return len(key_ids)


def user_rows(user: SignedInUser) -> list[dict[str, Any]]:
    with tenant_session_sync(user.tenant_id) as session:
        users = session.scalars(select(User).where(User.tenant_id == user.tenant_id).order_by(User.created_at)).all()
        tz = zone(user.timezone)
        return [{"id": str(u.id), "email": u.email, "display_name": u.display_name or "", "role": t(u.role),
                 "is_active": yes_no(u.is_active), "created_at": when(u.created_at, tz)} for u in users]


def invite_user(user: SignedInUser, email: str, password: str, role: str, display_name: str | None = None) -> str:
    auth.require(user, "admin")
    _grantable(user, role)
    with tenant_session_sync(user.tenant_id) as session:
        return add_user(session, user.tenant_id, email or "", password or "", role,
                        actor=Actor("user", user.user_id), display_name=display_name).email


def change_user(user: SignedInUser, user_id: str, *, role: str | None = None, active: bool | None = None) -> None:
    """Change another user's role or access."""
    auth.require(user, "admin")
    target_id = as_uuid(user_id, "user id")
    if target_id == user.user_id:
        raise ValidationFailed("You cannot change your own role or access; ask another owner.")
    if role is not None:
        _grantable(user, role)
    with tenant_session_sync(user.tenant_id) as session:
        target = session.scalars(select(User).where(User.tenant_id == user.tenant_id, User.id == target_id)).first()
        if target is None:
            raise NotFound(f"No user {user_id} in this tenant.")
        if not user.can(target.role):
            raise PermissionDenied(f"Only an {target.role} or higher can change a {target.role}.")
        changed = {k: v for k, v in (("role", role), ("is_active", active)) if v is not None}
        audit.record(session, user.tenant_id, Actor("user", user.user_id), "users.change", target.email, changed)
        if role is not None:
            target.role = role
        if active is not None:
            target.is_active = active


def layout(user: SignedInUser) -> html.Div:
    admin = user.can("admin")
    roles = [r for r in ROLES if user.can(r)]
    key_roles = [r for r in KEY_ROLES if user.can(r)]
    role_options = [{"label": r, "value": r} for r in roles]
    keys = html.Div([
        grid(pd.DataFrame(api_key_rows(user), columns=["id", *KEY_COLUMNS]), "keys-table", columns=KEY_COLUMNS,
             select="multi", keep=["id"], page_size=10),
        html.Div([dcc.Input(id="keys-name", placeholder="key name, e.g. CRM sync", disabled=not admin),
                  dcc.Dropdown(id="keys-role", options=[{"label": r, "value": r} for r in key_roles], value="analyst",
                               clearable=False, disabled=not admin),
                  html.Button("Create key", id="keys-create", disabled=not admin),
                  html.Button("Revoke selected", id="keys-revoke", className="danger", disabled=True)],
                 className="row"),
        html.Div(id="keys-result"),
    ])
    users = html.Div([
        grid(pd.DataFrame(user_rows(user), columns=["id", *USER_COLUMNS]), "users-table", columns=USER_COLUMNS,
             select="single", keep=["id"], page_size=10),
        html.Div([dcc.Input(id="users-email", type="email", placeholder="email", disabled=not admin),
                  dcc.Input(id="users-password", type="password", placeholder="password (8+)", disabled=not admin),
                  dcc.Input(id="users-name", placeholder=t("name customers see (agents)"), disabled=not admin),
                  dcc.Dropdown(id="users-role", options=role_options, value="analyst",
                               clearable=False, disabled=not admin),
                  html.Button("Add user", id="users-add", disabled=not admin),
                  html.Button("Set role of selected", id="users-set-role", disabled=True),
                  html.Button("Deactivate selected", id="users-deactivate", className="danger", disabled=True),
                  html.Button("Reactivate selected", id="users-reactivate", disabled=True)],
                 className="row"),
        html.Div(id="users-result"),
    ])
    return html.Div([section("API keys", keys), section("Users", users)],
                    **({} if admin else {"title": t("Only admins can change this.")}))


def register(app: Any) -> None:
    @app.callback(Output("keys-revoke", "disabled"), Input("keys-table", "selectedRows"))
    def revoke_enabled(selected: list[dict[str, Any]] | None) -> bool:
        """Revoke acts on a selection of keys not revoked yet, for admins."""
        live = [r for r in selected or [] if not r.get("revoked_at")]
        return not (live and auth.current_user().can("admin"))

    @app.callback(Output("users-set-role", "disabled"), Output("users-deactivate", "disabled"),
                  Output("users-reactivate", "disabled"), Input("users-table", "selectedRows"))
    def user_buttons_enabled(selected: list[dict[str, Any]] | None) -> tuple[bool, bool, bool]:
        """Each button only when it can act: someone else is selected, and deactivate/reactivate by their state."""
        user = auth.current_user()
        row = (selected or [None])[0]
        if not row or not user.can("admin") or row.get("id") == str(user.user_id):
            return True, True, True
        active = row.get("is_active") == yes_no(True)
        return False, not active, active

    @app.callback(Output("keys-result", "children"), Output("keys-table", "rowData"),
                  Input("keys-create", "n_clicks"), Input("keys-revoke", "n_clicks"),
                  State("keys-name", "value"), State("keys-role", "value"), State("keys-table", "selectedRows"),
                  prevent_initial_call=True)
    def keys(_: Any, __: Any, name: str, role: str, rows: list[dict[str, Any]] | None) -> tuple[Any, Any]:
        selected = selected_ids(rows)
        user = auth.current_user()
        if ctx.triggered_id == "keys-create":
            secret, error = attempt(lambda: new_api_key(user, name or "", role))
            shown = html.Div([notice("Copy this key now; it will not be shown again.", "success"),
                              html.Pre(secret, className="snippet", id="keys-secret")])
        else:
            revoked, error = attempt(lambda: revoke_api_keys(user, selected or []))
            shown = notice(count(revoked, "Revoked {n} key.", "Revoked {n} keys."), "success")
        if error is not None:
            return error, no_update
        return shown, records(pd.DataFrame(api_key_rows(user), columns=["id", *KEY_COLUMNS]))

    @app.callback(Output("users-result", "children"), Output("users-table", "rowData"),
                  Input("users-add", "n_clicks"), Input("users-set-role", "n_clicks"),
                  Input("users-deactivate", "n_clicks"), Input("users-reactivate", "n_clicks"),
                  State("users-email", "value"), State("users-password", "value"), State("users-role", "value"),
                  State("users-table", "selectedRows"), State("users-name", "value"), prevent_initial_call=True)
    def users(_: Any, __: Any, ___: Any, ____: Any, email: str, password: str, role: str,
              selected: list[dict[str, Any]] | None, display_name: str | None) -> tuple[Any, Any]:
        user = auth.current_user()
        button = ctx.triggered_id
        target = ([*selected_ids(selected), ""])[0]
        if button == "users-add":
            _, error = attempt(lambda: invite_user(user, email, password, role, display_name))
        elif button == "users-set-role":
            _, error = attempt(lambda: change_user(user, target, role=role))
        else:
            _, error = attempt(lambda: change_user(user, target, active=button == "users-reactivate"))
        if error is not None:
            return error, no_update
        return notice("Done.", "success"), records(pd.DataFrame(user_rows(user), columns=["id", *USER_COLUMNS]))
