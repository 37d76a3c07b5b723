"""Settings → Voice questions: the microphone in the chat, and the speech-to-text endpoint behind it.

The same rules as `PUT /api/v1/settings/bot` (`voice`, `transcription_base_url`,
`transcription_model`, write-only `transcription_api_key`): the key is sealed like the model's
and the form shows only whether one is saved. The widget shows its microphone exactly when
`chat.voice.transcription_config` finds an endpoint and voice is on, which the status line says.
"""

from __future__ import annotations

import asyncio
from typing import Any

from dash import Input, Output, State, ctx, dcc, html

from chat import commands, model_keys, voice
from chat.bot_settings import BotSettings, load_bot_settings_sync, public_view
from core.audit import Actor
from core.db import tenant_session_sync
from core.settings import get_settings
from dash_app import auth
from dash_app.auth import SignedInUser
from dash_app.components import attempt, notice, section
from dash_app.i18n import error_text, t

FIELDS = ("voice", "transcription_base_url", "transcription_model", "transcription_api_key")


def voice_view(user: SignedInUser) -> tuple[dict[str, Any], str]:
    """The voice settings as admins see them, and whether customers get the microphone (and why)."""
    with tenant_session_sync(user.tenant_id) as session:
        settings = load_bot_settings_sync(session, user.tenant_id)
    return public_view(settings), microphone_status(settings)


def microphone_status(settings: BotSettings) -> str:
    if not settings.voice:
        return t("Voice is off: the chat shows no microphone.")
    config = voice.transcription_config(settings)
    if config is None:
        return t("No speech-to-text endpoint is set, here or by the operator: the chat shows no microphone.")
    if settings.transcription_base_url or model_keys.unsealed(settings.sealed_keys).get("transcription_api_key"):
        return t("Customers see the microphone; their recordings go to the endpoint below.")
    return t("Customers see the microphone; the operator's speech-to-text endpoint transcribes them.")


def save_voice_settings(user: SignedInUser, values: dict[str, Any], *, remove_key: bool = False) -> BotSettings:
    """Store the voice settings; an empty key field keeps the saved key, `remove_key` deletes it."""
    auth.require(user, "admin")
    changes = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items() if k in FIELDS}
    if not changes.get("transcription_api_key"):
        changes.pop("transcription_api_key", None)
    if remove_key:
        changes["transcription_api_key"] = None
    return commands.save_bot_settings(user.tenant_id, changes, actor=Actor("user", user.user_id))


def test_connection(user: SignedInUser) -> html.Div:
    """Send the saved endpoint a test tone; the result as a notice."""
    auth.require(user, "admin")
    check = asyncio.run(commands.test_model_connection(user.tenant_id, "transcription"))
    if not check.ok:
        return notice(f"{t('Connection failed')}: {check.model or ''} {error_text(check.error or '')}".strip(), "error")
    heard = f" · {t('heard')}: “{check.reply}”" if check.reply else f" · {t('no words in the test tone, as expected')}"
    return notice(f"{t('Connected')}: {check.model} · {check.latency_ms} ms{heard}", "success")


def layout(user: SignedInUser) -> html.Section:
    admin = user.can("admin")
    view, status = voice_view(user)
    operator_model = get_settings().transcription_model

    def field(label: str, control: Any) -> html.Div:
        return html.Div([html.Label(t(label)), control], className="field")

    key_hint = t("A key is saved; type a new one to replace it") if view["transcription_api_key_set"] \
        else t("No key saved")
    return section(
        "Voice questions",
        html.P(t("Customers can speak their question: the chat sends the recording to a speech-to-text "
                 "endpoint (OpenAI Whisper, Groq, a faster-whisper server: any OpenAI-compatible "
                 "/audio/transcriptions) and answers the words like a typed question."), className="muted"),
        dcc.Checklist(id="voice-on", options=[{"label": t("Let customers ask by voice (microphone in the chat)"),
                                               "value": "on", "disabled": not admin}],
                      value=["on"] if view["voice"] else [], className="checks"),
        html.P(status, id="voice-status", className="muted"),
        field("Speech-to-text base URL (empty: the operator's)",
              dcc.Input(id="voice-base-url", value=view["transcription_base_url"] or "",
                        placeholder="https://api.openai.com/v1", className="wide", disabled=not admin)),
        field("Speech-to-text model",
              dcc.Input(id="voice-model", value=view["transcription_model"] or "",
                        placeholder=operator_model, className="wide", disabled=not admin)),
        field("API key", dcc.Input(id="voice-api-key", type="password", value="", placeholder=key_hint,
                                   autoComplete="new-password", className="wide", disabled=not admin)),
        dcc.Checklist(id="voice-remove-key", value=[], className="checks",
                      options=[{"label": t("Remove the saved speech-to-text key"), "value": "remove",
                                "disabled": not admin}]),
        html.Div([
            html.Button(t("Save"), id="voice-save", disabled=not admin),
            html.Button(t("Test connection"), id="voice-test", disabled=not admin),
        ], className="row"),
        dcc.Loading(html.Div(id="voice-result")),
        section_id="voice",
    )


def register(app: Any) -> None:
    @app.callback(
        Output("voice-result", "children"),
        Output("voice-api-key", "value"),
        Output("voice-status", "children"),
        Input("voice-save", "n_clicks"),
        Input("voice-test", "n_clicks"),
        State("voice-on", "value"),
        State("voice-base-url", "value"),
        State("voice-model", "value"),
        State("voice-api-key", "value"),
        State("voice-remove-key", "value"),
        prevent_initial_call=True,
    )
    def act(_: Any, __: Any, on: list[str] | None, base_url: str | None, model: str | None,
            api_key: str | None, remove: list[str] | None) -> tuple[Any, str, str]:
        user = auth.current_user()
        if ctx.triggered_id == "voice-test":
            result, error = attempt(lambda: test_connection(user))
            return error or result, "", voice_view(user)[1]
        values = {"voice": "on" in (on or []), "transcription_base_url": base_url or "",
                  "transcription_model": model or "", "transcription_api_key": api_key}
        saved, error = attempt(lambda: save_voice_settings(user, values, remove_key="remove" in (remove or [])))
        status = microphone_status(saved) if saved is not None else voice_view(user)[1]
        # The typed key is cleared either way: a key is never sent back to the browser.
        return error or notice(t("Saved. The chat's microphone follows these settings."), "success"), "", status
