"""Human service figures (analytics.human_service) as the Overview and Conversations pages show them:
hand-off volume, time to first human response and to resolve, in total, per agent and per day."""

from __future__ import annotations

from typing import Any

import pandas as pd
from dash import html

from analytics import human_service
from analytics.period import Period
from core.db import tenant_session_sync
from dash_app.auth import SignedInUser
from dash_app.components import grid, kpi, section
from dash_app.formats import duration_ms
from dash_app.i18n import t


def service_data(user: SignedInUser, period: Period) -> dict[str, Any]:
    """Totals, per-agent and per-day hand-off figures of the user's tenant for the period."""
    with tenant_session_sync(user.tenant_id) as session:
        return {"totals": human_service.totals(session, user.tenant_id, period),
                "agents": human_service.by_agent(session, user.tenant_id, period),
                "days": human_service.by_day(session, user.tenant_id, period)}


def _seconds(value: Any) -> str:
    return duration_ms(None if value is None or pd.isna(value) else float(value) * 1000)


SERVICE_KPIS = [("handoffs", "Hand-offs", "{:,.0f}"), ("first_response_p50_s", "First human response p50", _seconds),
                ("first_response_p90_s", "First human response p90", _seconds),
                ("resolve_p50_s", "Time to resolve p50", _seconds), ("resolved", "Resolved by a person", "{:,.0f}")]
SERVICE_COLUMNS = {"handoffs": "Hand-offs", "answered": "Answered by a person", "resolved": "Resolved by a person",
                   "first_response_p50_s": "First human response p50", "resolve_p50_s": "Time to resolve p50"}


def _service_table(frame: pd.DataFrame, key: str, table_id: str) -> Any:
    shown = frame[[key, *SERVICE_COLUMNS]].copy()
    for column in ("first_response_p50_s", "resolve_p50_s"):
        shown[column] = shown[column].map(_seconds)
    if key == "agent":
        shown["agent"] = shown["agent"].map(lambda name: t(name) if name == "(unassigned)" else name)
    if key == "day":
        shown = shown[shown["handoffs"] > 0].assign(day=lambda f: f["day"].astype(str))
    titles = {key: "Agent" if key == "agent" else "Day", **SERVICE_COLUMNS}
    return grid(shown, table_id, page_size=10, headers=titles)


def human_service_section(service: dict[str, Any], prefix: str = "ov") -> Any:
    """Hand-off volume and how fast people answered and resolved, per agent and per day.

    `prefix` keeps the element ids unique per page (`ov-agents` on the overview, `cv-agents` on conversations).
    """
    totals = service["totals"]
    return section("Human service",
                   html.Div([kpi(label, totals.get(key), fmt) for key, label, fmt in SERVICE_KPIS], className="kpis"),
                   html.Div([
                       html.Div([html.H4(t("Per agent")),
                                 _service_table(service["agents"], "agent", f"{prefix}-agents")]),
                       html.Div([html.H4(t("Per day")),
                                 _service_table(service["days"], "day", f"{prefix}-service-days")]),
                   ], className="grid2"), section_id=f"{prefix}-service-section")
