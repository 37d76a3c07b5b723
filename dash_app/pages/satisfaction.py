"""Satisfaction: the tenant's satisfaction model (status, cross-validated AUC, drivers), predicted trend, retrain."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, dcc, html

from analytics import commands, reports
from analytics.period import Period
from core.db import tenant_session_sync
from dash_app import auth
from dash_app.auth import SignedInUser
from dash_app.components import attempt, empty_figure, kpi, notice, period_of, section, styled
from dash_app.formats import day, number
from dash_app.i18n import t


def satisfaction_data(user: SignedInUser, period: Period) -> dict[str, Any]:
    with tenant_session_sync(user.tenant_id) as session:
        summary = reports.satisfaction_summary(session, user.tenant_id)
        trend = reports.daily_trend(session, user.tenant_id, period)
    return {"summary": summary, "trend": trend[["day", "predicted_satisfaction", "thumbs_up_rate"]]}


def request_retrain(user: SignedInUser) -> None:
    """Queue training of the tenant's model on the analytics queue (admin)."""
    auth.require(user, "admin")
    commands.request_retrain(user.tenant_id)


def trend_figure(trend: pd.DataFrame) -> go.Figure:
    if trend.empty or trend["predicted_satisfaction"].isna().all():
        return empty_figure(t("No scored conversations in this period yet."))
    figure = go.Figure([
        go.Scatter(x=trend["day"], y=trend["predicted_satisfaction"], name=t("Predicted satisfaction"),
                   mode="lines+markers"),
        go.Scatter(x=trend["day"], y=trend["thumbs_up_rate"], name=t("Thumbs-up rate"), mode="markers"),
    ])
    figure.update_layout(title=t("Predicted satisfaction by day"),
                         xaxis={"tickformat": "%m-%d", "hoverformat": "%Y-%m-%d"},
                         yaxis={"tickformat": ".0%", "range": [0, 1.05], "tickvals": [0, 0.25, 0.5, 0.75, 1]})
    return styled(figure)


def drivers_figure(drivers: list[dict[str, Any]]) -> go.Figure:
    if not drivers:
        return empty_figure(t("Drivers appear once the model is trained on this tenant's feedback."))
    frame = pd.DataFrame(drivers).sort_values("weight")
    figure = go.Figure(go.Bar(x=frame["weight"], y=frame["feature"], orientation="h",
                              marker_color=["#c62828" if w < 0 else "#2e7d32" for w in frame["weight"]]))
    figure.update_layout(title=t("Strongest drivers (positive = more satisfied)"), xaxis={"tickformat": ".2f"})
    return styled(figure, 360)


def layout(user: SignedInUser) -> html.Div:
    admin = user.can("admin")
    return html.Div([
        html.H2(t("Satisfaction")),
        section("Model", html.Div(id="sat-model", className="kpis"),
                html.Button(t("Retrain now"), id="sat-retrain", disabled=not admin),
                html.Div(id="sat-retrain-result"),
                html.P("With too few labelled conversations the documented default model is used; it is replaced "
                       "once enough thumbs and CSAT ratings exist.", className="muted")),
        html.Div([dcc.Graph(id="sat-trend", config={"displaylogo": False}),
                  dcc.Graph(id="sat-drivers", config={"displaylogo": False})], className="grid2"),
    ])


def register(app: Any) -> None:
    @app.callback(Output("sat-model", "children"), Output("sat-trend", "figure"), Output("sat-drivers", "figure"),
                  Input("period", "start_date"), Input("period", "end_date"))
    def show(start: str | None, end: str | None) -> tuple[Any, go.Figure, go.Figure]:
        user = auth.current_user()
        data, error = attempt(lambda: satisfaction_data(user, period_of(start, end, user.timezone)))
        if error is not None or data is None:
            return error, empty_figure(""), empty_figure("")
        summary = data["summary"]
        trained = summary.get("trained_at")
        cards = [kpi("Model", summary.get("status"), t), kpi("Labelled conversations", summary.get("n_labels"), number),
                 kpi("Cross-validated AUC", summary.get("cv_auc"), "{:.2f}"),
                 kpi("Trained", trained, day)]
        return cards, trend_figure(data["trend"]), drivers_figure(summary.get("drivers") or [])

    @app.callback(Output("sat-retrain-result", "children"), Input("sat-retrain", "n_clicks"),
                  prevent_initial_call=True)
    def retrain(_: Any) -> Any:
        user = auth.current_user()
        _, error = attempt(lambda: request_retrain(user))
        return error or notice("Training queued; the figures update when the worker finishes.", "success")
