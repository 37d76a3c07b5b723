"""Status: is the service running well for this tenant — database, Redis, workers, queues, backlog, rates, latency."""

from __future__ import annotations

import time
from typing import Any

import redis
from dash import Input, Output, dcc, html
from sqlalchemy import text

from analytics import reports
from analytics.period import Period
from core.db import tenant_session_sync
from core.redis import sync_redis
from dash_app import auth
from dash_app.auth import SignedInUser
from dash_app.components import attempt, kpi, period_of, section
from dash_app.formats import duration_ms, percent
from dash_app.i18n import t


def _check_database(user: SignedInUser) -> tuple[bool, str]:
    started = time.perf_counter()
    try:
        with tenant_session_sync(user.tenant_id) as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:
        return False, type(exc).__name__
    return True, duration_ms((time.perf_counter() - started) * 1000)


def _check_redis() -> tuple[bool, str]:
    try:
        client = sync_redis()
        started = time.perf_counter()
        client.ping()
        elapsed = (time.perf_counter() - started) * 1000
        workers = _worker_heartbeats(client)
    except redis.RedisError as exc:
        return False, type(exc).__name__
    return True, t("{ms} ms; {n} processes used the work queues in the last minute").format(
        ms=f"{elapsed:.0f}", n=workers)


def _worker_heartbeats(client: redis.Redis) -> int:
    """Processes (workers, API, this app) that touched the Redis broker in the last minute (Dramatiq heartbeats)."""
    now_ms = int(time.time() * 1000)
    return int(client.zcount("kefu:__heartbeats__", now_ms - 60_000, "+inf") or 0)


def status_data(user: SignedInUser, period: Period) -> dict[str, Any]:
    """Health checks plus the tenant's service figures for the period."""
    database_ok, database_detail = _check_database(user)
    redis_ok, redis_detail = _check_redis()
    figures: dict[str, Any] = {}
    if database_ok:
        with tenant_session_sync(user.tenant_id) as session:
            figures = reports.service_status(session, user.tenant_id, period)
    return {"database": (database_ok, database_detail), "redis": (redis_ok, redis_detail), **figures}


def _health(name: str, state: tuple[bool, str]) -> html.Div:
    ok, detail = state
    return html.Div([html.Span("●", className="dot ok" if ok else "dot bad"), html.Strong(f" {t(name)} "),
                     html.Span(t("up") if ok else t("down"), className="ok" if ok else "bad"),
                     html.Span(f" — {detail}", className="muted")], className="health")


def layout(user: SignedInUser) -> html.Div:
    return html.Div([
        html.H2(t("Status")),
        dcc.Interval(id="st-interval", interval=10_000),
        dcc.Loading(html.Div(id="st-body")),
    ])


def register(app: Any) -> None:
    @app.callback(Output("st-body", "children"), Input("st-interval", "n_intervals"),
                  Input("period", "start_date"), Input("period", "end_date"))
    def show(_: Any, start: str | None, end: str | None) -> Any:
        user = auth.current_user()
        data, error = attempt(lambda: status_data(user, period_of(start, end, user.timezone)))
        if error is not None or data is None:
            return error
        depths = data.get("queue_depths") or {}
        return html.Div([
            section("Services", _health("Database", data["database"]), _health("Redis / work queues", data["redis"])),
            section("Queues", html.Div([kpi(t("{queue} queue").format(queue=t(queue)), depth)
                                        for queue, depth in depths.items()],
                                       className="kpis")),
            section("Ingestion backlog", html.Div([
                kpi("Documents queued", data.get("documents_queued")),
                kpi("Documents processing", data.get("documents_processing")),
                kpi("Documents failed", data.get("documents_failed")),
            ], className="kpis")),
            section("This tenant's traffic", html.Div([
                kpi("Error rate", data.get("error_rate"), lambda v: percent(v, 1)),
                kpi("Fallback rate", data.get("fallback_rate"), lambda v: percent(v, 1)),
                kpi("Reply latency p50", data.get("llm_latency_p50_ms"), duration_ms),
                kpi("Reply latency p95", data.get("llm_latency_p95_ms"), duration_ms),
            ], className="kpis")),
        ])
