"""Settings → HTTP tools: define one from a JSON spec, list them (secrets never shown), delete."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from dash import Input, Output, State, ctx, dcc, html, no_update

from chat import commands, http_tool_specs, http_tool_templates
from core.audit import Actor
from core.db import tenant_session_sync
from core.errors import ValidationFailed
from dash_app import auth
from dash_app.auth import SignedInUser
from dash_app.components import attempt, grid, notice, records, section
from dash_app.formats import yes_no
from dash_app.i18n import language, t

TOOL_COLUMNS = ["name", "method", "url_template", "description", "has_secret", "enabled"]
EXAMPLE = json.dumps({
    "name": "order_status",
    "description": "Look up the shipping status of an order by its number.",
    "url_template": "https://shop.example.com/api/orders/{order_id}",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
    "method": "GET",
}, indent=2)


def tool_rows(user: SignedInUser) -> list[dict[str, Any]]:
    with tenant_session_sync(user.tenant_id) as session:
        return [{k: v for k, v in view.items() if k in TOOL_COLUMNS}
                for view in http_tool_specs.list_http_tools(session, user.tenant_id)]


def create_tool(user: SignedInUser, spec_text: str) -> str:
    """Define a tool from its JSON spec (validated like the API's POST /api/v1/tools)."""
    auth.require(user, "admin")
    try:
        spec = json.loads(spec_text or "")
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"The tool spec is not valid JSON: {exc.msg} (line {exc.lineno}).") from None
    if not isinstance(spec, dict):
        raise ValidationFailed("The tool spec must be a JSON object like the example.")
    spec = http_tool_templates.filled(spec)  # a template's example address must be replaced first
    return str(commands.create_http_tool(user.tenant_id, spec, actor=Actor("user", user.user_id))["name"])


def template_text(template: str | None) -> tuple[str, str]:
    """The preset's definition as editable JSON, and what the admin must fill in before adding it."""
    if not template:
        return EXAMPLE, ""
    preset = next((p for p in http_tool_templates.list_templates() if p["id"] == template), None)
    if preset is None:
        raise ValidationFailed(f"No tool template '{template}'.")
    hint = t("Replace shop.example.com with your own endpoint (and the example token with yours) before adding.") \
        if preset["needs"] else t("Ready to add as it is; edit anything you like first.")
    return json.dumps(preset["spec"], indent=2, ensure_ascii=False), hint


def delete_tool(user: SignedInUser, name: str | None) -> None:
    auth.require(user, "admin")
    if not name:
        raise ValidationFailed("Select the tool to delete first.")
    commands.delete_http_tool(user.tenant_id, name, actor=Actor("user", user.user_id))


def layout(user: SignedInUser) -> html.Section:
    admin = user.can("admin")
    return section(
        "HTTP tools",
        html.P(t("Functions the bot may call on your own systems (public HTTPS endpoints; secrets are never shown)."),
               className="muted"),
        notice("No HTTP tools yet. Paste a JSON spec below (an example is filled in) and add it.")
        if not tool_rows(user) else None,
        grid(_shown(tool_rows(user)), "tools-table", select="single", wide=["url_template", "description"]),
        html.Label(t("Start from a template"), htmlFor="tools-template"),
        dcc.Dropdown(id="tools-template", placeholder=t("Choose a template…"), disabled=not admin,
                     options=[{"label": p["title"], "value": p["id"]}
                              for p in http_tool_templates.list_templates(language())]),
        html.Div(id="tools-template-hint", className="muted"),
        dcc.Textarea(id="tools-spec", value=EXAMPLE, className="wide code", disabled=not admin),
        html.Div([html.Button(t("Add tool"), id="tools-add", disabled=not admin),
                  html.Button(t("Delete selected"), id="tools-delete", className="danger", disabled=True)],
                 className="row"),
        html.Div(id="tools-result"),
    )


def _shown(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=TOOL_COLUMNS)
    return frame.assign(has_secret=frame["has_secret"].map(yes_no), enabled=frame["enabled"].map(yes_no))


def register(app: Any) -> None:
    @app.callback(Output("tools-delete", "disabled"), Input("tools-table", "selectedRows"))
    def delete_enabled(selected: list[dict[str, Any]] | None) -> bool:
        return not (selected and auth.current_user().can("admin"))

    @app.callback(Output("tools-spec", "value"), Output("tools-template-hint", "children"),
                  Input("tools-template", "value"), prevent_initial_call=True)
    def use_template(template: str | None) -> tuple[Any, Any]:
        loaded, error = attempt(lambda: template_text(template))
        return (no_update, error) if loaded is None else loaded

    @app.callback(Output("tools-result", "children"), Output("tools-table", "rowData"),
                  Input("tools-add", "n_clicks"), Input("tools-delete", "n_clicks"),
                  State("tools-spec", "value"), State("tools-table", "selectedRows"),
                  prevent_initial_call=True)
    def change(_: Any, __: Any, spec: str, selected: list[dict[str, Any]] | None):
        user = auth.current_user()
        if ctx.triggered_id == "tools-add":
            _, error = attempt(lambda: create_tool(user, spec))
        else:
            name = selected[0].get("name") if selected else None
            _, error = attempt(lambda: delete_tool(user, name))
        if error is not None:
            return error, no_update
        return notice(t("Done."), "success"), records(_shown(tool_rows(user)))
