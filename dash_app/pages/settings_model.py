"""Settings → Model: which model writes the answers, its endpoint and key, a fallback, grounding.

The same rules as `PUT /api/v1/settings/bot` (chat.bot_settings, chat.model_choice): keys are
write-only (the form shows only whether one is saved), a test asks the saved model for one reply.
"""

from __future__ import annotations

import asyncio
from typing import Any

from dash import Input, Output, State, ctx, dcc, html

from chat import commands
from chat.bot_settings import BotSettings, load_bot_settings_sync, public_view
from core.audit import Actor
from core.db import tenant_session_sync
from dash_app import auth
from dash_app.auth import SignedInUser
from dash_app.components import attempt, notice, section
from dash_app.i18n import t

PROVIDER_LABELS = {
    "auto": "Automatic (the operator's default model)",
    "local": "Local responder (no model)",
    "openai": "OpenAI-compatible (OpenAI, Azure, DeepSeek, Qwen, Ollama, vLLM)",
    "anthropic": "Anthropic Claude",
    "gemini": "Google Gemini",
    "none": "None",
}
GROUNDING_LABELS = {
    "flag": "Flag unsupported sentences only",
    "drop": "Drop unsupported sentences",
    "fallback": "Answer from the knowledge instead",
}


def model_view(user: SignedInUser) -> dict[str, Any]:
    with tenant_session_sync(user.tenant_id) as session:
        return public_view(load_bot_settings_sync(session, user.tenant_id))


def save_model_settings(
    user: SignedInUser, values: dict[str, Any], *, remove_keys: list[str] | None = None
) -> BotSettings:
    """Store the model choice; a key field left empty keeps the saved key, `remove_keys` deletes keys."""
    auth.require(user, "admin")
    changes = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items()}
    for name in ("api_key", "fallback_api_key"):
        if not changes.get(name):
            changes.pop(name, None)
    for name in remove_keys or ():
        changes[name] = None
    return commands.save_bot_settings(user.tenant_id, changes, actor=Actor("user", user.user_id))


def test_connection(user: SignedInUser, slot: str) -> html.Div:
    """Ask the saved model for one reply; the result as a notice."""
    auth.require(user, "admin")
    check = asyncio.run(commands.test_model_connection(user.tenant_id, slot))
    if check.provider == "local":
        return notice(t("No model is configured here: the local responder answers, nothing to connect to."), "info")
    if check.ok:
        return notice(
            f"{t('Connected')}: {check.provider} · {check.model} · {check.latency_ms} ms · "
            f"{t('reply')}: “{check.reply}”",
            "success",
        )
    return notice(f"{t('Connection failed')}: {check.provider} · {check.model}: {check.error}", "error")


def _options(values: tuple[str, ...], labels: dict[str, str]) -> list[dict[str, str]]:
    return [{"label": t(labels[v]), "value": v} for v in values]


def _key_input(ident: str, is_set: bool, admin: bool) -> dcc.Input:
    hint = t("A key is saved; type a new one to replace it") if is_set else t("No key saved")
    return dcc.Input(
        id=ident,
        type="password",
        value="",
        placeholder=hint,
        autoComplete="new-password",
        className="wide",
        disabled=not admin,
    )


def layout(user: SignedInUser) -> html.Section:
    admin = user.can("admin")
    view = model_view(user)

    def field(label: str, control: Any) -> html.Div:
        return html.Div([html.Label(t(label)), control], className="field")

    providers = ("auto", "local", "openai", "anthropic", "gemini")
    fallbacks = ("none", "auto", "openai", "anthropic", "gemini")
    return section(
        "Model",
        html.P(
            t("Which model writes the answers. Keys are stored encrypted and never shown again."), className="muted"
        ),
        html.Div(
            [
                field(
                    "Provider",
                    dcc.Dropdown(
                        id="model-provider",
                        options=_options(providers, PROVIDER_LABELS),
                        value=view["provider"],
                        clearable=False,
                        disabled=not admin,
                    ),
                ),
                field(
                    "Model",
                    dcc.Input(
                        id="model-name", value=view["model"] or "", placeholder="claude-sonnet-4-5", disabled=not admin
                    ),
                ),
            ],
            className="row",
        ),
        field(
            "Base URL (empty: the vendor's own)",
            dcc.Input(
                id="model-base-url",
                value=view["base_url"] or "",
                placeholder="https://api.anthropic.com",
                className="wide",
                disabled=not admin,
            ),
        ),
        field("API key", _key_input("model-api-key", view["api_key_set"], admin)),
        html.H4(t("Fallback when the model fails")),
        html.Div(
            [
                field(
                    "Fallback provider",
                    dcc.Dropdown(
                        id="model-fallback-provider",
                        options=_options(fallbacks, PROVIDER_LABELS),
                        value=view["fallback_provider"],
                        clearable=False,
                        disabled=not admin,
                    ),
                ),
                field(
                    "Fallback model",
                    dcc.Input(id="model-fallback-name", value=view["fallback_model"] or "", disabled=not admin),
                ),
            ],
            className="row",
        ),
        field(
            "Fallback base URL",
            dcc.Input(
                id="model-fallback-base-url",
                value=view["fallback_base_url"] or "",
                className="wide",
                disabled=not admin,
            ),
        ),
        field("Fallback API key", _key_input("model-fallback-api-key", view["fallback_api_key_set"], admin)),
        dcc.Checklist(
            id="model-remove-keys",
            options=[
                {"label": t("Remove the saved API key"), "value": "api_key"},
                {"label": t("Remove the saved fallback key"), "value": "fallback_api_key"},
            ],
            value=[],
            className="checks",
        ),
        field(
            "Sentences the knowledge does not support",
            dcc.Dropdown(
                id="model-grounding",
                options=_options(("flag", "drop", "fallback"), GROUNDING_LABELS),
                value=view["grounding_action"],
                clearable=False,
                disabled=not admin,
            ),
        ),
        html.Div(
            [
                html.Button(t("Save"), id="model-save", disabled=not admin),
                html.Button(t("Test connection"), id="model-test", disabled=not admin),
                html.Button(t("Test fallback"), id="model-test-fallback", disabled=not admin),
            ],
            className="row",
        ),
        dcc.Loading(html.Div(id="model-result")),
        section_id="model",
    )


def register(app: Any) -> None:
    @app.callback(
        Output("model-result", "children"),
        Output("model-api-key", "value"),
        Output("model-fallback-api-key", "value"),
        Input("model-save", "n_clicks"),
        Input("model-test", "n_clicks"),
        Input("model-test-fallback", "n_clicks"),
        State("model-provider", "value"),
        State("model-name", "value"),
        State("model-base-url", "value"),
        State("model-api-key", "value"),
        State("model-fallback-provider", "value"),
        State("model-fallback-name", "value"),
        State("model-fallback-base-url", "value"),
        State("model-fallback-api-key", "value"),
        State("model-remove-keys", "value"),
        State("model-grounding", "value"),
        prevent_initial_call=True,
    )
    def act(
        _: Any,
        __: Any,
        ___: Any,
        provider: str,
        model: str,
        base_url: str,
        api_key: str,
        fallback_provider: str,
        fallback_model: str,
        fallback_base_url: str,
        fallback_api_key: str,
        remove: list[str] | None,
        grounding: str,
    ) -> tuple[Any, str, str]:
        user = auth.current_user()
        if ctx.triggered_id in ("model-test", "model-test-fallback"):
            slot = "fallback" if ctx.triggered_id == "model-test-fallback" else "primary"
            result, error = attempt(lambda: test_connection(user, slot))
            return error or result, "", ""
        values = {
            "provider": provider,
            "model": model or "",
            "base_url": base_url or "",
            "api_key": api_key,
            "fallback_provider": fallback_provider,
            "fallback_model": fallback_model or "",
            "fallback_base_url": fallback_base_url or "",
            "fallback_api_key": fallback_api_key,
            "grounding_action": grounding,
        }
        _, error = attempt(lambda: save_model_settings(user, values, remove_keys=remove))
        # The typed keys are cleared either way: a key is never sent back to the browser.
        return error or notice(t("Saved. New answers use this model."), "success"), "", ""
