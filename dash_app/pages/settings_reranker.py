"""Settings → Reranker: the tenant's own `/rerank` cross-encoder, on or off, and its confidence curve.

The same rules as `PUT /api/v1/settings/bot` (`reranker`, `reranker_url`, `reranker_api`,
`reranker_model`, write-only `reranker_api_key`, `reranker_confidence_centre` / `_scale`): the key
is sealed at rest and the form shows only whether one is saved. The status line says which
reranker the tenant's searches use, from the same `knowledge.reranker.resolve` the search calls.
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
from dash_app.i18n import error_text, t
from knowledge import reranker
from knowledge.reranker_settings import APIS, KEY_FIELD, RerankerSettings

FIELDS = ("reranker", "reranker_url", "reranker_api", "reranker_model", "reranker_api_key",
          "reranker_confidence_centre", "reranker_confidence_scale")

API_LABELS = {"cohere": "Cohere, Jina, Infinity, vLLM", "tei": "Hugging Face TEI"}


def reranker_view(user: SignedInUser) -> tuple[dict[str, Any], str]:
    """The reranker settings as admins see them, and which reranker orders the answers now."""
    with tenant_session_sync(user.tenant_id) as session:
        settings = load_bot_settings_sync(session, user.tenant_id)
    return public_view(settings), ranking_status(settings.reranker)


def ranking_status(settings: RerankerSettings) -> str:
    if not settings.enabled:
        return t("The reranker is off: answers use the search order.")
    ranker = reranker.resolve(settings)
    if ranker is None:
        return t("No reranker is set, here or by the operator: answers use the search order.")
    if not ranker.tenant_url:
        return t("The operator's reranker reorders the best passages before the bot answers.")
    if ranker.curve is None:
        return t("Your reranker reorders the best passages; the confidence still comes from the search score "
                 "until you enter its fitted curve.")
    return t("Your reranker reorders the best passages, and its fitted curve gives the confidence.")


def save_reranker_settings(user: SignedInUser, values: dict[str, Any], *, remove_key: bool = False) -> BotSettings:
    """Store the reranker settings; an empty key field keeps the saved key, `remove_key` deletes it."""
    auth.require(user, "admin")
    changes = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items() if k in FIELDS}
    if not changes.get(KEY_FIELD):
        changes.pop(KEY_FIELD, None)
    if remove_key:
        changes[KEY_FIELD] = None
    return commands.save_bot_settings(user.tenant_id, changes, actor=Actor("user", user.user_id))


def test_connection(user: SignedInUser) -> html.Div:
    """Ask the saved reranker to rank two test passages; the result as a notice."""
    auth.require(user, "admin")
    check = asyncio.run(commands.test_model_connection(user.tenant_id, "reranker"))
    if not check.ok:
        return notice(f"{t('Connection failed')}: {check.model or ''} {error_text(check.error or '')}".strip(), "error")
    model = f"{check.model} · " if check.model else ""
    return notice(f"{t('Connected')}: {model}{check.latency_ms} ms · {t('scores')} {check.reply}", "success")


def layout(user: SignedInUser) -> html.Section:
    admin = user.can("admin")
    view, status = reranker_view(user)

    def field(label: str, control: Any) -> html.Div:
        return html.Div([html.Label(t(label)), control], className="field")

    key_hint = t("A key is saved; type a new one to replace it") if view["reranker_api_key_set"] \
        else t("No key saved")
    return section(
        "Reranker",
        html.P(t("A reranker (a cross-encoder behind a /rerank endpoint: Hugging Face TEI, Jina, Cohere, "
                 "Infinity, vLLM) reads the question with each of the best passages and puts the most "
                 "relevant first. Empty URL: the operator's reranker, if there is one."), className="muted"),
        dcc.Checklist(id="rr-on", options=[{"label": t("Reorder answers with a reranker"), "value": "on",
                                            "disabled": not admin}],
                      value=["on"] if view["reranker"] else [], className="checks"),
        html.P(status, id="rr-status", className="muted"),
        field("Reranker endpoint URL (empty: the operator's)",
              dcc.Input(id="rr-url", value=view["reranker_url"] or "", className="wide", disabled=not admin,
                        placeholder="https://rerank.example.com/rerank")),
        field("Request format",
              dcc.Dropdown(id="rr-api", value=view["reranker_api"], clearable=False, disabled=not admin,
                           options=[{"label": t(API_LABELS[api]), "value": api} for api in APIS])),
        field("Reranker model", dcc.Input(id="rr-model", value=view["reranker_model"] or "", className="wide",
                                          placeholder="bge-reranker-v2-m3", disabled=not admin)),
        field("API key", dcc.Input(id="rr-api-key", type="password", value="", placeholder=key_hint,
                                   autoComplete="new-password", className="wide", disabled=not admin)),
        dcc.Checklist(id="rr-remove-key", value=[], className="checks",
                      options=[{"label": t("Remove the saved reranker key"), "value": "remove",
                                "disabled": not admin}]),
        html.P(t("Confidence curve: each reranker model scores on its own scale. Run "
                 "bench/rerank_calibration.py on your labelled questions and enter the two numbers it "
                 "prints; until then the reranker only reorders and the bot's confidence comes from the "
                 "search score."), className="muted"),
        field("Curve centre", dcc.Input(id="rr-centre", type="number", step="any",
                                        value=view["reranker_confidence_centre"],
                                        className="wide", disabled=not admin, placeholder="0.62")),
        field("Curve scale", dcc.Input(id="rr-scale", type="number", step="any",
                                       value=view["reranker_confidence_scale"],
                                       className="wide", disabled=not admin, placeholder="0.07")),
        html.Div([
            html.Button(t("Save"), id="rr-save", disabled=not admin),
            html.Button(t("Test connection"), id="rr-test", disabled=not admin),
        ], className="row"),
        dcc.Loading(html.Div(id="rr-result")),
        section_id="reranker",
    )


def register(app: Any) -> None:
    @app.callback(
        Output("rr-result", "children"),
        Output("rr-api-key", "value"),
        Output("rr-status", "children"),
        Input("rr-save", "n_clicks"),
        Input("rr-test", "n_clicks"),
        State("rr-on", "value"),
        State("rr-url", "value"),
        State("rr-api", "value"),
        State("rr-model", "value"),
        State("rr-api-key", "value"),
        State("rr-remove-key", "value"),
        State("rr-centre", "value"),
        State("rr-scale", "value"),
        prevent_initial_call=True,
    )
    def act(_: Any, __: Any, on: list[str] | None, url: str | None, api: str | None, model: str | None,
            api_key: str | None, remove: list[str] | None, centre: float | None,
            scale: float | None) -> tuple[Any, str, str]:
        user = auth.current_user()
        if ctx.triggered_id == "rr-test":
            result, error = attempt(lambda: test_connection(user))
            return error or result, "", reranker_view(user)[1]
        values = {"reranker": "on" in (on or []), "reranker_url": url or "", "reranker_api": api or "cohere",
                  "reranker_model": model or "", "reranker_api_key": api_key,
                  "reranker_confidence_centre": centre, "reranker_confidence_scale": scale}
        saved, error = attempt(lambda: save_reranker_settings(user, values, remove_key="remove" in (remove or [])))
        status = ranking_status(saved.reranker) if saved is not None else reranker_view(user)[1]
        # The typed key is cleared either way: a key is never sent back to the browser.
        return error or notice(t("Saved. New answers are ranked with these settings."), "success"), "", status
