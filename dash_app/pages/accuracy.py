"""Accuracy: live accuracy from customers' thumbs, and evaluation runs on a labelled question set.

An admin uploads a CSV (question, expected FAQ id or expected answer); `knowledge.evaluation`
scores retrieval and stores the run with its failures, so runs before and after a knowledge change
can be compared side by side.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html

from analytics import reports
from analytics.period import Period
from core.db import sync_tenant_session
from core.errors import ValidationFailed
from dash_app import auth
from dash_app.auth import SignedInUser
from dash_app.components import as_uuid, attempt, empty_figure, notice, records, section, styled, table
from dash_app.i18n import t
from knowledge import evaluation

RUN_SHOWN = ["name", "created_at", "questions", "top1", "mrr", "recall_at_5", "answer_rate", "accuracy", "failures"]


def live_accuracy(user: SignedInUser, period: Period) -> pd.DataFrame:
    with sync_tenant_session(user.tenant_id) as session:
        return reports.live_accuracy(session, user.tenant_id, period)


def accuracy_figure(frame: pd.DataFrame) -> go.Figure:
    if frame.empty or not frame[["thumbs_up", "thumbs_down", "answered", "fallbacks"]].to_numpy().any():
        return empty_figure(t("No data for this period yet."))
    answered = frame["answered"] / (frame["answered"] + frame["fallbacks"]).where(lambda s: s > 0)
    figure = go.Figure([
        go.Bar(x=frame["day"], y=frame["thumbs_up"], name="👍", marker_color="#2e7d32"),
        go.Bar(x=frame["day"], y=-frame["thumbs_down"], name="👎", marker_color="#c62828"),
        go.Scatter(x=frame["day"], y=frame["up_rate"], name=t("Thumbs-up rate"), yaxis="y2", mode="lines+markers"),
        go.Scatter(x=frame["day"], y=answered, name=t("Answer rate"), yaxis="y2", mode="lines+markers"),
    ])
    figure.update_layout(barmode="relative", title="Live accuracy from feedback",
                         yaxis2={"overlaying": "y", "side": "right", "tickformat": ".0%", "range": [0, 1.05]})
    return styled(figure)


def evaluation_runs(user: SignedInUser) -> pd.DataFrame:
    with sync_tenant_session(user.tenant_id) as session:
        return evaluation.list_runs(session, user.tenant_id)


def start_evaluation(user: SignedInUser, filename: str, contents: str, name: str | None) -> str:
    """Score an uploaded labelled set now and store the run (admin; the set exercises retrieval)."""
    auth.require(user, "admin")
    _, _, encoded = (contents or "").partition("base64,")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed(f"{filename} did not arrive intact; upload it again.") from None
    return str(evaluation.run_evaluation(user.tenant_id, data, name=name or filename))


def failures(user: SignedInUser, run_id: str) -> pd.DataFrame:
    with sync_tenant_session(user.tenant_id) as session:
        return evaluation.run_failures(session, user.tenant_id, as_uuid(run_id, "evaluation run id"))


def _runs_table(frame: pd.DataFrame) -> Any:
    frame = frame.assign(id=frame["run_id"].astype(str))
    return table(frame, "acc-runs", columns=[c for c in RUN_SHOWN if c in frame], row_selectable="single",
                 keep=["id"])


def layout(user: SignedInUser) -> html.Div:
    admin = user.can("admin")
    uploader = dcc.Upload(id="acc-upload", className="upload", disabled=not admin,
                          children=html.Div("Upload a labelled set: CSV with columns question, expected "
                                                   "(the FAQ id that should answer; ids separated by |; "
                                                   "empty = the bot should not answer)"))
    return html.Div([
        html.H2(t("Accuracy")),
        section("Live accuracy", dcc.Loading(dcc.Graph(id="acc-live", config={"displaylogo": False}))),
        section("Evaluation runs",
                dcc.Input(id="acc-name", placeholder="run name (optional)", disabled=not admin),
                uploader if admin else notice(t("Only admins can change this.")),
                dcc.Loading(html.Div(id="acc-result")),
                html.Div(_runs_table(evaluation_runs(user)), id="acc-runs-box"),
                html.H4("Failures of the selected run"),
                html.Div(id="acc-failures")),
    ])


def register(app: Any) -> None:
    @app.callback(Output("acc-live", "figure"), Input("period", "start_date"), Input("period", "end_date"))
    def live(start: str | None, end: str | None) -> go.Figure:
        from dash_app.components import period_of

        user = auth.current_user()
        frame, error = attempt(lambda: live_accuracy(user, period_of(start, end)))
        return accuracy_figure(frame) if frame is not None else empty_figure(str(error.children if error else ""))

    @app.callback(Output("acc-result", "children"), Output("acc-runs", "data"), Input("acc-upload", "contents"),
                  State("acc-upload", "filename"), State("acc-name", "value"), prevent_initial_call=True)
    def run(contents: str | None, filename: str | None, name: str | None) -> tuple[Any, Any]:
        user = auth.current_user()
        _, error = attempt(lambda: start_evaluation(user, filename or "questions.csv", contents or "", name))
        runs = evaluation_runs(user)
        rows = records(runs.assign(id=runs["run_id"].astype(str))[[*RUN_SHOWN, "id"]])
        return error or notice("Evaluation finished; the new run is at the top.", "success"), rows

    @app.callback(Output("acc-failures", "children"), Input("acc-runs", "selected_row_ids"),
                  prevent_initial_call=True)
    def show_failures(selected: list[str] | None) -> Any:
        if not selected:
            return None
        user = auth.current_user()
        frame, error = attempt(lambda: failures(user, selected[0]))
        if error is not None or frame is None:
            return error
        return table(frame, "acc-failures-table") if len(frame) else notice("No failures in this run.", "success")
