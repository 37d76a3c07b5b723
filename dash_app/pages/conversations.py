"""Conversations: search and filter a period's conversations, read one transcript with its sources and tool calls."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from dash import Input, Output, dcc, html

from analytics import reports
from analytics.period import Period
from core.db import tenant_session_sync
from core.errors import NotFound, ValidationFailed
from dash_app import auth
from dash_app.auth import SignedInUser
from dash_app.components import as_uuid, attempt, notice, period_of, section, table
from dash_app.i18n import t

LIST_COLUMNS = ["started_at", "first_question", "messages", "rating", "csat", "handed_off", "unanswered",
                "predicted_satisfaction", "visitor_id"]
FLAGS = ("handed_off", "unanswered")


def conversation_list(user: SignedInUser, period: Period, *, search: str | None = None, rating: str | None = None,
                      flags: list[str] | None = None) -> pd.DataFrame:
    """The tenant's conversations in the period matching the filters (newest first, up to 200)."""
    if rating not in (None, "", "up", "down"):
        raise ValidationFailed("rating must be up or down (or any).")
    chosen = set(flags or [])
    if chosen - set(FLAGS):
        raise ValidationFailed(f"Filters must be among {', '.join(FLAGS)}.")
    with tenant_session_sync(user.tenant_id) as session:
        return reports.conversations(
            session, user.tenant_id, period, search=(search or "").strip() or None, rating=rating or None,
            handed_off=True if "handed_off" in chosen else None, unanswered=True if "unanswered" in chosen else None)


def conversation_transcript(user: SignedInUser, conversation_id: str) -> pd.DataFrame:
    """Every message of one of the tenant's conversations; another tenant's id is 'not found'."""
    ident = as_uuid(conversation_id, "conversation id")
    with tenant_session_sync(user.tenant_id) as session:
        messages = reports.transcript(session, user.tenant_id, ident)
    if messages.empty:
        raise NotFound(f"No conversation {conversation_id} in this tenant.")
    return messages


def layout(user: SignedInUser) -> html.Div:
    filters = html.Div([
        dcc.Input(id="cv-search", type="search", placeholder=t("Search") + "…", debounce=True, className="grow"),
        dcc.Dropdown(id="cv-rating", options=[{"label": t("Any"), "value": ""}, {"label": "👍 up", "value": "up"},
                                              {"label": "👎 down", "value": "down"}],
                     value="", clearable=False, style={"minWidth": "140px"}),
        dcc.Checklist(id="cv-flags", options=[{"label": t("Handed off"), "value": "handed_off"},
                                              {"label": t("Unanswered"), "value": "unanswered"}],
                      value=[], inline=True),
    ], className="row")
    return html.Div([
        html.H2(t("Conversations")),
        section("Conversations", filters, dcc.Loading(html.Div(id="cv-list"))),
        section("Transcript", html.Div(notice("Pick a conversation above."), id="cv-transcript")),
    ])


def register(app: Any) -> None:
    @app.callback(Output("cv-list", "children"), Input("period", "start_date"), Input("period", "end_date"),
                  Input("cv-search", "value"), Input("cv-rating", "value"), Input("cv-flags", "value"))
    def search(start: str | None, end: str | None, text: str | None, rating: str | None, flags: list[str]) -> Any:
        user = auth.current_user()
        frame, error = attempt(lambda: conversation_list(user, period_of(start, end), search=text, rating=rating,
                                                         flags=flags))
        if error is not None or frame is None:
            return error
        if frame.empty:
            return notice("No conversations match.")
        frame = frame.assign(id=frame["conversation_id"].astype(str),
                             predicted_satisfaction=frame["predicted_satisfaction"].map(_percent))
        return table(frame, "cv-table", columns=LIST_COLUMNS, row_selectable="single", keep=["id"])

    @app.callback(Output("cv-transcript", "children"), Input("cv-table", "selected_row_ids"),
                  prevent_initial_call=True)
    def open_transcript(selected: list[str] | None) -> Any:
        if not selected:
            return notice("Pick a conversation above.")
        user = auth.current_user()
        messages, error = attempt(lambda: conversation_transcript(user, selected[0]))
        return error or render_transcript(messages)


def render_transcript(messages: pd.DataFrame | None) -> html.Div:
    bubbles = []
    for m in (messages if messages is not None else pd.DataFrame()).to_dict("records"):
        details = []
        if m.get("citations"):
            details.append(html.Details([html.Summary(f"{len(m['citations'])} source(s)"),
                                         html.Pre(json.dumps(m["citations"], ensure_ascii=False, indent=1,
                                                             default=str))]))
        if m.get("tool_calls"):
            details.append(html.Details([html.Summary(f"{len(m['tool_calls'])} tool call(s)"),
                                         html.Pre(json.dumps(m["tool_calls"], ensure_ascii=False, indent=1,
                                                             default=str))]))
        if m.get("latency_ms") is not None and not pd.isna(m["latency_ms"]):
            m["latency_ms"] = int(m["latency_ms"])
        facts = [f"{k}: {_fmt(m.get(k))}" for k in ("confidence", "answered", "latency_ms", "rating")
                 if m.get(k) is not None and not (isinstance(m.get(k), float) and pd.isna(m.get(k)))]
        bubbles.append(html.Div([
            html.Div([html.Strong(m.get("role", "")), html.Span(str(m.get("created_at", ""))[:19], className="muted")],
                     className="bubble-head"),
            html.Div(m.get("content", ""), className="bubble-text"),
            html.Div(" · ".join(facts), className="muted small"),
            *details,
        ], className=f"bubble bubble-{m.get('role', '')}"))
    return html.Div(bubbles, className="transcript", id="cv-transcript-messages")


def _fmt(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _percent(value: Any) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):.0%}"
