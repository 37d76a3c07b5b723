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
from dash_app.components import as_uuid, attempt, grid, notice, period_of, section, selected_ids
from dash_app.formats import count, duration_ms, percent, when, yes_no, zone
from dash_app.i18n import t
from dash_app.service_figures import human_service_section, service_data

LIST_COLUMNS = ["started_at", "visitor", "first_question", "messages", "rating", "csat", "handed_off", "unanswered",
                "predicted_satisfaction"]
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
        dcc.Dropdown(id="cv-rating", options=[{"label": t("Any"), "value": ""}, {"label": "Thumbs up", "value": "up"},
                                              {"label": "Thumbs down", "value": "down"}],
                     value="", clearable=False, style={"minWidth": "140px"}),
        dcc.Checklist(id="cv-flags", options=[{"label": t("Handed off"), "value": "handed_off"},
                                              {"label": t("Unanswered"), "value": "unanswered"}],
                      value=[], inline=True),
    ], className="row")
    return html.Div([
        html.H2(t("Conversations")),
        section("Conversations", filters, dcc.Loading(html.Div(id="cv-list"))),
        section("Transcript", html.Div(notice("Pick a conversation above."), id="cv-transcript")),
        dcc.Loading(html.Div(id="cv-service")),  # hand-offs answered by people (dash_app.service_figures)
    ])


def register(app: Any) -> None:
    @app.callback(Output("cv-list", "children"), Input("period", "start_date"), Input("period", "end_date"),
                  Input("cv-search", "value"), Input("cv-rating", "value"), Input("cv-flags", "value"))
    def search(start: str | None, end: str | None, text: str | None, rating: str | None, flags: list[str]) -> Any:
        user = auth.current_user()
        frame, error = attempt(lambda: conversation_list(user, period_of(start, end, user.timezone), search=text,
                                                         rating=rating, flags=flags))
        if error is not None or frame is None:
            return error
        if frame.empty:
            filtered = bool(text or rating or flags)
            return notice("No conversations match." if filtered else
                          "No conversations in this period yet. Put the widget on your site (Settings → Widget) or "
                          "try it on the demo page; conversations appear here as customers write.")
        return grid(readable_list(frame, user.timezone), "cv-table", columns=LIST_COLUMNS, select="single",
                    keep=["id"], wide=["first_question"])

    @app.callback(Output("cv-service", "children"), Input("period", "start_date"), Input("period", "end_date"))
    def human_service(start: str | None, end: str | None) -> Any:
        user = auth.current_user()
        service, error = attempt(lambda: service_data(user, period_of(start, end, user.timezone)))
        return error or human_service_section(service, "cv")

    @app.callback(Output("cv-transcript", "children"), Input("cv-table", "selectedRows"),
                  prevent_initial_call=True)
    def open_transcript(selected: list[dict[str, Any]] | None) -> Any:
        ids = selected_ids(selected)
        if not ids:
            return notice("Pick a conversation above.")
        user = auth.current_user()
        messages, error = attempt(lambda: conversation_transcript(user, ids[0]))
        return error or render_transcript(messages, user.timezone)


def readable_list(frame: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """The list as a reader wants it: local times, who wrote (verified name or email, else a short label),
    words instead of booleans, ratings and scores as words and percentages."""
    tz = zone(timezone)
    return frame.assign(
        id=frame["conversation_id"].astype(str),
        started_at=frame["started_at"].map(lambda v: when(v, tz)),
        visitor=[visitor_label(*row)
                 for row in frame[["visitor_id", "user_name", "user_email"]].itertuples(index=False)],
        rating=frame["rating"].map(lambda v: t({"up": "Thumbs up", "down": "Thumbs down"}.get(v, "")) if v else ""),
        handed_off=frame["handed_off"].map(yes_no), unanswered=frame["unanswered"].map(yes_no),
        predicted_satisfaction=frame["predicted_satisfaction"].map(lambda v: "" if pd.isna(v) else percent(v)),
    )


def visitor_label(visitor_id: Any, name: Any, email: Any) -> str:
    """A signed-in customer's name or email; an anonymous visitor as 'Visitor 3F2A' (from their id)."""
    for known in (name, email):
        if isinstance(known, str) and known.strip():
            return known.strip()
    import hashlib

    tag = hashlib.blake2s(str(visitor_id or "").encode(), digest_size=2).hexdigest().upper()
    return f"{t('visitor').capitalize()} {tag}"


def render_transcript(messages: pd.DataFrame | None, timezone: str = "UTC") -> html.Div:
    tz = zone(timezone)
    bubbles = []
    for m in (messages if messages is not None else pd.DataFrame()).to_dict("records"):
        details = []
        if m.get("citations"):
            details.append(html.Details([html.Summary(count(len(m["citations"]), "{n} source", "{n} sources")),
                                         html.Pre(json.dumps(m["citations"], ensure_ascii=False, indent=1,
                                                             default=str))]))
        if m.get("tool_calls"):
            details.append(html.Details([html.Summary(count(len(m["tool_calls"]), "{n} tool call", "{n} tool calls")),
                                         html.Pre(json.dumps(m["tool_calls"], ensure_ascii=False, indent=1,
                                                             default=str))]))
        role = str(m.get("role", ""))
        bubbles.append(html.Div([
            html.Div([html.Strong(t(role)), html.Span(when(m.get("created_at"), tz, seconds=True), className="muted")],
                     className="bubble-head"),
            html.Div(m.get("content", ""), className="bubble-text user-text"),
            html.Div(" · ".join(message_facts(m)), className="muted small"),
            *details,
        ], className=f"bubble bubble-{role}"))
    return html.Div(bubbles, className="transcript", id="cv-transcript-messages")


def message_facts(m: dict[str, Any]) -> list[str]:
    """A reply's confidence, whether it answered, how long it took and its rating, in words."""
    facts = []
    if _present(m.get("confidence")):
        facts.append(f"{t('confidence')} {percent(m['confidence'])}")
    if _present(m.get("answered")):
        facts.append(t("answered") if m["answered"] else t("not answered"))
    if _present(m.get("latency_ms")) and m.get("role") == "assistant":
        facts.append(f"{t('latency')} {duration_ms(m['latency_ms'])}")
    if m.get("rating") in ("up", "down"):
        facts.append(t({"up": "Thumbs up", "down": "Thumbs down"}[m["rating"]]))
    return facts


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and pd.isna(value))
