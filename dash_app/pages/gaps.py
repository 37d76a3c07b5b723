"""Knowledge gaps: topics of unanswered and low-rated questions, each with a one-click FAQ entry.

The topics come from the latest clustering (`analytics.tasks.refresh_knowledge_gaps`); "Add FAQ
entry" writes a manual FAQ entry (`knowledge.curation`) that is indexed like any other.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from dash import ALL, Input, Output, State, ctx, dcc, html

from analytics import commands as analytics_commands
from analytics import reports
from analytics.period import Period
from core.db import tenant_session_sync
from dash_app import auth
from dash_app.auth import SignedInUser
from dash_app.components import attempt, notice, period_of
from dash_app.formats import count
from dash_app.i18n import t
from knowledge import commands, curation


def gap_topics(user: SignedInUser, period: Period) -> pd.DataFrame:
    with tenant_session_sync(user.tenant_id) as session:
        return reports.knowledge_gaps(session, user.tenant_id, period)


def add_gap_answer(user: SignedInUser, question: str, answer: str) -> curation.FaqChange:
    """Answer a gap with a new manual FAQ entry (admin); it is queued for indexing at once."""
    auth.require(user, "admin")
    return commands.add_faq_entry(user.tenant_id, question, answer)


def request_reclustering(user: SignedInUser) -> None:
    auth.require(user, "admin")
    analytics_commands.request_reclustering(user.tenant_id)


def topic_card(topic: dict[str, Any], index: int, admin: bool) -> html.Div:
    examples = [str(e) for e in topic.get("examples") or []]
    first = examples[0] if examples else str(topic.get("label", ""))
    form = html.Div([
        dcc.Input(id={"type": "gap-question", "index": index}, value=first, className="wide"),
        dcc.Textarea(id={"type": "gap-answer", "index": index}, placeholder=t("Answer") + "…", className="wide"),
        html.Button(t("Add FAQ entry"), id={"type": "gap-add", "index": index}),
    ], className="editor") if admin else None
    return html.Div([
        html.Div([html.Strong(str(topic.get("label", "")), className="user-text"),
                  html.Span(" · " + count(topic.get("count", 0), "{n} question", "{n} questions"), className="muted")]),
        html.Ul([html.Li(e) for e in examples], className="user-text"),
        form,
    ], className="card gap")


def layout(user: SignedInUser) -> html.Div:
    admin = user.can("admin")
    return html.Div([
        html.H2(t("Knowledge gaps")),
        html.Div([html.Button("Re-cluster now", id="gap-refresh", disabled=not admin),
                  html.Div(id="gap-refresh-result")], className="row"),
        html.Div(id="gap-result"),
        dcc.Loading(html.Div(id="gap-topics")),
    ])


def register(app: Any) -> None:
    @app.callback(Output("gap-topics", "children"), Input("period", "start_date"), Input("period", "end_date"))
    def show(start: str | None, end: str | None) -> Any:
        user = auth.current_user()
        frame, error = attempt(lambda: gap_topics(user, period_of(start, end, user.timezone)))
        if error is not None or frame is None:
            return error
        if frame.empty:
            return notice("No knowledge gaps for this period. Questions the bot could not answer are grouped here, "
                          "each with a one-click FAQ entry.")
        return [topic_card(topic, i, user.can("admin")) for i, topic in enumerate(frame.to_dict("records"))]

    @app.callback(Output("gap-result", "children"), Input({"type": "gap-add", "index": ALL}, "n_clicks"),
                  State({"type": "gap-question", "index": ALL}, "value"),
                  State({"type": "gap-answer", "index": ALL}, "value"), prevent_initial_call=True)
    def add(clicks: list[int | None], questions: list[str], answers: list[str]) -> Any:
        if not ctx.triggered_id or not any(clicks):
            return None
        index = int(ctx.triggered_id["index"])
        user = auth.current_user()
        ids = [i["id"]["index"] for i in ctx.states_list[0]]
        position = ids.index(index) if index in ids else -1
        if position < 0:
            return notice("That topic is no longer shown; reload the page.", "error")
        _, error = attempt(lambda: add_gap_answer(user, questions[position] or "", answers[position] or ""))
        return error or notice("Added the FAQ entry; it is being indexed.", "success")

    @app.callback(Output("gap-refresh-result", "children"), Input("gap-refresh", "n_clicks"),
                  prevent_initial_call=True)
    def recluster(_: Any) -> Any:
        user = auth.current_user()
        _, error = attempt(lambda: request_reclustering(user))
        return error or notice("Clustering queued; reload in a minute.", "success")
