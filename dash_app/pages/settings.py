"""Settings: the bot (persona, threshold), the model, the widget (look, greeting, tag) and its allowed origins.

The model is in `settings_model`, API keys and users in `settings_access`, HTTP tools in
`settings_tools`; this module lays the
page out. Saving anything that changes answers bumps the tenant version so cached answers go.
"""

from __future__ import annotations

import html as html_text
import zoneinfo
from typing import Any

from dash import Input, Output, State, dcc, html, no_update
from sqlalchemy import select

from analytics import commands as analytics_commands
from chat import commands
from chat.bot_settings import LANGUAGES, BotSettings, load_bot_settings_sync
from core.audit import Actor
from core.db import tenant_session_sync
from core.models import WidgetKey
from core.settings import get_settings
from core.tenancy import mark_onboarding, set_widget_origins
from dash_app import auth
from dash_app.auth import SignedInUser
from dash_app.components import attempt, notice, section
from dash_app.i18n import t
from dash_app.pages import (
    settings_access,
    settings_model,
    settings_notify,
    settings_privacy,
    settings_reranker,
    settings_tools,
    settings_voice,
    settings_widget,
)


def bot_settings(user: SignedInUser) -> BotSettings:
    with tenant_session_sync(user.tenant_id) as session:
        return load_bot_settings_sync(session, user.tenant_id)


def save_bot_settings(user: SignedInUser, changes: dict[str, Any]) -> BotSettings:
    """Validate and store bot settings (admin); refused values leave everything as it was."""
    auth.require(user, "admin")
    changes = {k: (v.strip() or None if isinstance(v, str) and k in ("greeting", "model") else v)
               for k, v in changes.items()}
    return commands.save_bot_settings(user.tenant_id, changes, actor=Actor("user", user.user_id))


def widget_install(user: SignedInUser) -> list[dict[str, Any]]:
    """Each active widget key with the tag to paste on the tenant's site and its allowed origins."""
    base = get_settings().public_api_url.rstrip("/")
    with tenant_session_sync(user.tenant_id) as session:
        keys = session.scalars(select(WidgetKey).where(WidgetKey.revoked_at.is_(None))
                               .order_by(WidgetKey.created_at)).all()
        return [{"id": str(k.id), "key": k.key, "origins": list(k.allowed_origins),
                 "snippet": f'<script src="{html_text.escape(base)}/widget/kefu.js" '
                            f'data-key="{html_text.escape(k.key)}" async></script>'} for k in keys]


def save_allowed_origins(user: SignedInUser, key_id: str, text: str) -> list[str]:
    """Replace a widget key's allowed origins (one per line, like https://shop.example.com)."""
    auth.require(user, "admin")
    return set_widget_origins(user.tenant_id, _uuid(key_id), (text or "").splitlines(),
                              actor=Actor("user", user.user_id))


def _uuid(value: str) -> Any:
    from dash_app.components import as_uuid

    return as_uuid(value, "widget key id")


def _options(values: Any) -> list[dict[str, str]]:
    return [{"label": str(v), "value": v} for v in values]


CLEAR_LEAD_LABEL = "Answer when one FAQ entry clearly leads"
CLEAR_LEAD_HELP = ("Below the confidence threshold the bot offers up to three \"did you mean\" questions. "
                   "With this on, it answers instead when one entry stands well clear of the others; "
                   "off, the customer always picks from the list.")


def timezone_section(user: SignedInUser) -> html.Section:
    """The tenant's time zone: charts, tables, exports and reports show times in it."""
    admin = user.can("admin")
    return section("Time zone", html.P("Charts, tables, exports and reports use this time zone.", className="muted"),
                   html.Div([dcc.Dropdown(id="set-timezone", options=ZONES, value=user.timezone, clearable=False,
                                          disabled=not admin, className="grow"),
                             html.Button("Save", id="set-save-timezone", disabled=not admin)], className="row"),
                   html.Div(id="set-timezone-result"), section_id="timezone")


ZONES = sorted(zoneinfo.available_timezones() - {"localtime", "Factory"})


def save_timezone(user: SignedInUser, name: str | None) -> str:
    auth.require(user, "admin")
    return analytics_commands.change_timezone(user.tenant_id, name or "", actor=Actor("user", user.user_id))


def record_tag_copied(user: SignedInUser) -> None:
    """The onboarding step "copy the widget tag" (any signed-in user may copy it)."""
    mark_onboarding(user.tenant_id, "tag_copied")


def layout(user: SignedInUser) -> html.Div:
    admin = user.can("admin")
    bot = bot_settings(user)
    widgets = widget_install(user)
    bot_form = html.Div([
        html.Label("Persona", htmlFor="set-persona"),
        dcc.Textarea(id="set-persona", value=bot.persona, className="wide", disabled=not admin),
        html.Div([
            html.Div([html.Label("Language"), dcc.Dropdown(id="set-language", options=_options(LANGUAGES),
                                                           value=bot.language, clearable=False, disabled=not admin)]),
            html.Div([html.Label("Confidence threshold"),
                      dcc.Input(id="set-threshold", type="number", min=0, max=1, step=0.05,
                                value=bot.confidence_threshold, disabled=not admin)]),
        ], className="row"),
        dcc.Checklist(id="set-clear-lead", options=[{"label": t(CLEAR_LEAD_LABEL), "value": "on",
                                                     "disabled": not admin}],
                      value=["on"] if bot.answer_clear_lead else [], inputClassName="check"),
        html.P(t(CLEAR_LEAD_HELP), className="muted"),
        html.Button(t("Save"), id="set-save-bot", disabled=not admin),
        html.Div(id="set-bot-result"),
    ])
    widget_children: list[Any] = [settings_widget.layout(user)]  # look, live preview and the tag to copy
    for widget in widgets:
        widget_children += [
            html.Label("Allowed origins (one per line; empty = any site, for development)"),
            dcc.Textarea(id={"type": "set-origins", "key": widget["id"]}, value="\n".join(widget["origins"]),
                         className="wide", disabled=not admin),
        ]
    widget_children += [html.Button(t("Save"), id="set-save-origins", disabled=not admin or not widgets),
                        html.Div(id="set-origins-result")]
    return html.Div([
        html.H2(t("Settings")),
        section("Bot", bot_form),
        settings_model.layout(user),
        settings_voice.layout(user),
        settings_reranker.layout(user),
        section("Widget", *widget_children),
        timezone_section(user),
        html.Div(id="set-tag-copied"),
        settings_access.layout(user),
        settings_tools.layout(user),
        settings_notify.layout(user),
        settings_privacy.layout(user),
    ])


def register(app: Any) -> None:
    from dash import ALL

    @app.callback(Output("set-bot-result", "children"), Input("set-save-bot", "n_clicks"),
                  State("set-persona", "value"), State("set-language", "value"),
                  State("set-threshold", "value"), State("set-clear-lead", "value"), prevent_initial_call=True)
    def save_bot(_: Any, persona: str, language: str, threshold: float | None, clear_lead: list[str] | None) -> Any:
        user = auth.current_user()
        changes = {"persona": persona or "", "language": language, "confidence_threshold": threshold,
                   "answer_clear_lead": "on" in (clear_lead or [])}
        _, error = attempt(lambda: save_bot_settings(user, changes))
        return error or notice("Saved. New answers use these settings.", "success")

    @app.callback(Output("set-origins-result", "children"), Input("set-save-origins", "n_clicks"),
                  State({"type": "set-origins", "key": ALL}, "value"),
                  State({"type": "set-origins", "key": ALL}, "id"), prevent_initial_call=True)
    def save_origins(_: Any, values: list[str], ids: list[dict[str, str]]) -> Any:
        user = auth.current_user()
        for value, ident in zip(values, ids, strict=False):
            _, error = attempt(lambda v=value, i=ident: save_allowed_origins(user, i["key"], v))
            if error is not None:
                return error
        return notice("Saved the allowed origins.", "success")

    @app.callback(Output("set-timezone-result", "children"), Input("set-save-timezone", "n_clicks"),
                  State("set-timezone", "value"), prevent_initial_call=True)
    def save_zone(_: Any, name: str | None) -> Any:
        zone_name, error = attempt(lambda: save_timezone(auth.current_user(), name))
        return error or notice(t("Saved: times are shown in {zone}.").format(zone=zone_name), "success")

    @app.callback(Output("set-tag-copied", "children"), Input("wl-copy-0", "n_clicks"), prevent_initial_call=True)
    def copied(clicks: int | None) -> Any:
        """The first-run step "copy the widget tag": the Copy button beside the (first) tag was used."""
        if not clicks:
            return no_update
        _, error = attempt(lambda: record_tag_copied(auth.current_user()))
        return error

    settings_model.register(app)
    settings_voice.register(app)
    settings_reranker.register(app)
    settings_widget.register(app)
    settings_access.register(app)
    settings_tools.register(app)
    settings_notify.register(app)
    settings_privacy.register(app)
