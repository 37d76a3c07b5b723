"""Overview: the headline figures of a period, daily trends and the peak-hour heatmap."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, dcc, html

from analytics import reports
from analytics.period import Period
from core.db import tenant_session_sync
from dash_app import auth
from dash_app.auth import SignedInUser
from dash_app.components import attempt, empty_figure, kpi, period_of, styled
from dash_app.formats import duration_ms, percent, weekdays
from dash_app.i18n import t
from dash_app.onboarding import checklist
from dash_app.service_figures import human_service_section, service_data

KPIS: list[tuple[str, str, Any]] = [
    ("conversations", "Conversations_kpi", "{:,.0f}"),
    ("messages", "Messages", "{:,.0f}"),
    ("visitors", "Visitors", "{:,.0f}"),
    ("dau_avg", "Avg daily visitors", "{:,.1f}"),
    ("wau", "Weekly visitors", "{:,.0f}"),
    ("answer_rate", "Answer rate", percent),
    ("thumbs_up_rate", "Thumbs-up rate", percent),
    ("csat_avg", "CSAT", "{:.1f} / 5"),
    ("handoff_rate", "Hand-off rate", percent),
    ("resolution_rate", "Resolution rate", percent),
    ("latency_p50_ms", "Latency p50", duration_ms),
    ("latency_p95_ms", "Latency p95", duration_ms),
    ("tokens", "Tokens", "{:,.0f}"),
    ("est_cost_usd", "Estimated cost", "${:,.2f}"),
]


def overview_data(user: SignedInUser, period: Period) -> dict[str, Any]:
    """Headline figures, the daily trend and messages by weekday and hour, for the user's tenant."""
    with tenant_session_sync(user.tenant_id) as session:
        headline = reports.overview(session, user.tenant_id, period)
        trend = reports.daily_trend(session, user.tenant_id, period)
        peaks = reports.peak_hours(session, user.tenant_id, period, user.timezone)
    service = service_data(user, period)
    figures = headline.iloc[0].to_dict() if len(headline) else {}
    return {"kpis": figures, "trend": trend, "peaks": peaks, "timezone": user.timezone, "service": service}


def figures(data: dict[str, Any]) -> tuple[go.Figure, go.Figure, go.Figure]:
    """Volume trend, quality-rate trend, and the weekday × hour heatmap."""
    trend: pd.DataFrame = data["trend"]
    if trend.empty or not trend[["conversations", "messages"]].to_numpy().any():
        blank = empty_figure(t("No data for this period yet. Conversations appear here once customers use the widget."))
        return blank, blank, blank
    volume = go.Figure([
        go.Bar(x=trend["day"], y=trend["conversations"], name=t("Conversations_kpi")),
        go.Scatter(x=trend["day"], y=trend["messages"], name=t("Messages"), mode="lines+markers", yaxis="y2"),
    ])
    volume.update_layout(title=t("Conversations / messages"), xaxis=DAY_AXIS,
                         yaxis={"rangemode": "tozero", **COUNT_AXIS},
                         yaxis2={"overlaying": "y", "side": "right", "showgrid": False, "rangemode": "tozero",
                                 **COUNT_AXIS})
    rates = go.Figure([
        go.Scatter(x=trend["day"], y=trend[col], name=t(label), mode="lines+markers", connectgaps=False)
        for col, label in [("answer_rate", "Answer rate"), ("thumbs_up_rate", "Thumbs-up rate"),
                           ("handoff_rate", "Hand-off rate"), ("predicted_satisfaction", "Satisfaction_kpi")]
        if col in trend
    ])
    rates.update_layout(title=t("Answer, thumbs-up and hand-off rates"), xaxis=DAY_AXIS,
                        yaxis={"tickformat": ".0%", "range": [0, 1.05], "tickvals": [0, 0.25, 0.5, 0.75, 1]})
    return styled(volume), styled(rates), styled(heatmap(data["peaks"], data.get("timezone", "UTC")), 320)


# Days as 12-07 on the axis (no English month names), whole numbers only for counts.
DAY_AXIS = {"tickformat": "%m-%d", "hoverformat": "%Y-%m-%d"}
COUNT_AXIS = {"tickformat": ",d", "rangemode": "tozero"}


def _whole_step(grid: list[list[int]]) -> int:
    """A colour-bar step in whole messages, about four ticks (never 0.5 of a message)."""
    return max(1, math.ceil(max(max(row) for row in grid) / 4))


def heatmap(peaks: pd.DataFrame, timezone: str = "UTC") -> go.Figure:
    """Messages by weekday and hour of the tenant's time zone."""
    grid = [[0] * 24 for _ in range(7)]
    for row in peaks.itertuples(index=False):
        grid[int(row.weekday)][int(row.hour)] += int(row.messages)
    figure = go.Figure(go.Heatmap(z=grid, x=[f"{h:02d}:00" for h in range(24)], y=list(weekdays()),
                                  colorscale="Blues", colorbar={"tickformat": ",d", "dtick": _whole_step(grid)},
                                  hovertemplate="%{y} %{x} — %{z} " + t("messages in this hour") + "<extra></extra>"))
    figure.update_layout(title=t("Messages by weekday and hour ({zone})").format(zone=timezone),
                         yaxis={"autorange": "reversed"}, xaxis={"dtick": 3, "type": "category"})
    return figure


def layout(user: SignedInUser) -> html.Div:
    graph = {"displaylogo": False, "responsive": True}
    return html.Div([
        html.H2(t("Overview")),
        checklist(user),
        html.Div(id="ov-error"),
        dcc.Loading(html.Div(id="ov-kpis", className="kpis")),
        html.Div([dcc.Graph(id="ov-volume", config=graph), dcc.Graph(id="ov-rates", config=graph)],
                 className="grid2"),
        dcc.Graph(id="ov-heatmap", config=graph),
        html.Div(id="ov-service"),
    ])


def register(app: Any) -> None:
    @app.callback(Output("ov-kpis", "children"), Output("ov-volume", "figure"), Output("ov-rates", "figure"),
                  Output("ov-heatmap", "figure"), Output("ov-error", "children"), Output("ov-service", "children"),
                  Input("period", "start_date"), Input("period", "end_date"))
    def show(start: str | None, end: str | None) -> tuple[Any, ...]:
        user = auth.current_user()
        data, error = attempt(lambda: overview_data(user, period_of(start, end, user.timezone)))
        if error is not None or data is None:
            blank = empty_figure("")
            return [], blank, blank, blank, error, None
        cards = [kpi(label, data["kpis"].get(key), fmt) for key, label, fmt in KPIS]
        return (cards, *figures(data), None, human_service_section(data["service"]))
