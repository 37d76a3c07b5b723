"""Accuracy: live accuracy from customers' thumbs, and evaluation runs on a labelled question set.

An admin uploads a CSV (question, expected FAQ id or expected answer); the file is checked at once
and queued, a worker (`knowledge.tasks.score_evaluation_run`) scores retrieval and stores the run
with its failures, so runs before and after a knowledge change can be compared side by side. The
runs table polls while a run is queued or running and shows done runs' scores or failed runs' errors.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html, no_update

from analytics import grounding, reports
from analytics.period import Period
from chat import commands as chat_commands
from core.audit import Actor
from core.db import tenant_session_sync
from core.errors import ValidationFailed
from dash_app import auth
from dash_app.auth import SignedInUser
from dash_app.components import as_uuid, attempt, empty_figure, grid, notice, records, section, selected_ids, styled
from dash_app.formats import count, percent, when, zone
from dash_app.i18n import language, t
from knowledge import commands, evaluation, thresholds

RUN_SHOWN = ["name", "status", "created_at", "questions", "top1", "mrr", "recall_at_5", "answer_rate", "accuracy",
             "failures", "error"]
PENDING = ("queued", "running")


def live_accuracy(user: SignedInUser, period: Period) -> pd.DataFrame:
    with tenant_session_sync(user.tenant_id) as session:
        return reports.live_accuracy(session, user.tenant_id, period)


def accuracy_figure(frame: pd.DataFrame) -> go.Figure:
    if frame.empty or not frame[["thumbs_up", "thumbs_down", "answered", "fallbacks"]].to_numpy().any():
        return empty_figure(t("No feedback yet in this period. Thumbs from customers in the widget appear here; run an "
                                "evaluation below to measure accuracy now."))
    answered = frame["answered"] / (frame["answered"] + frame["fallbacks"]).where(lambda s: s > 0)
    figure = go.Figure([
        go.Bar(x=frame["day"], y=frame["thumbs_up"], name=t("Thumbs up"), marker_color="#2e7d32"),
        go.Bar(x=frame["day"], y=-frame["thumbs_down"], name=t("Thumbs down"), marker_color="#c62828"),
        go.Scatter(x=frame["day"], y=frame["up_rate"], name=t("Thumbs-up rate"), yaxis="y2", mode="lines+markers"),
        go.Scatter(x=frame["day"], y=answered, name=t("Answer rate"), yaxis="y2", mode="lines+markers"),
    ])
    figure.update_layout(barmode="relative", title=t("Live accuracy from feedback"),
                         xaxis={"tickformat": "%m-%d", "hoverformat": "%Y-%m-%d"},
                         yaxis={"tickformat": ",d", "dtick": max(1, math.ceil(
                             max(frame["thumbs_up"].max(), frame["thumbs_down"].max()) / 3))},
                         yaxis2={"overlaying": "y", "side": "right", "tickformat": ".0%", "range": [0, 1.05],
                                 "tickvals": [0, 0.25, 0.5, 0.75, 1]})
    return styled(figure)


def grounded(user: SignedInUser, period: Period) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The grounded rate per day and the flagged answers of `period` (chat.grounding's checks)."""
    with tenant_session_sync(user.tenant_id) as session:
        return (grounding.grounded_daily(session, user.tenant_id, period),
                grounding.flagged_answers(session, user.tenant_id, period))


def grounded_figure(frame: pd.DataFrame) -> go.Figure:
    if frame.empty or not frame["checked"].any():
        return empty_figure(t("No model-written answers in this period yet."))
    figure = go.Figure([
        go.Bar(x=frame["day"], y=frame["grounded"], name=t("Grounded"), marker_color="#2e7d32"),
        go.Bar(x=frame["day"], y=frame["checked"] - frame["grounded"], name=t("Flagged"), marker_color="#ef6c00"),
        go.Scatter(x=frame["day"], y=frame["rate"], name=t("Grounded rate"), yaxis="y2", mode="lines+markers",
                   connectgaps=False),
    ])
    figure.update_layout(barmode="stack", title=t("Model answers supported by the knowledge"),
                         yaxis2={"overlaying": "y", "side": "right", "tickformat": ".0%", "range": [0, 1.05],
                                 "tickvals": [0, 0.25, 0.5, 0.75, 1]})
    return styled(figure)


def flagged_table(frame: pd.DataFrame) -> Any:
    if frame.empty:
        return notice(t("No flagged answers in this period."))
    return grid(frame, "acc-flagged", columns=["created_at", "question", "unsupported", "draft", "action"],
                wide=["question", "unsupported", "draft"])


def evaluation_runs(user: SignedInUser) -> pd.DataFrame:
    with tenant_session_sync(user.tenant_id) as session:
        return evaluation.list_runs(session, user.tenant_id)


def start_evaluation(user: SignedInUser, filename: str, contents: str, name: str | None) -> str:
    """Check an uploaded labelled set and queue its run for a worker (admin); returns the run id."""
    auth.require(user, "admin")
    _, _, encoded = (contents or "").partition("base64,")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed(f"{filename} did not arrive intact; upload it again.") from None
    return str(commands.queue_evaluation(user.tenant_id, data, name=name or filename))


def run_status(runs: pd.DataFrame) -> Any:
    """A line about the newest run: still queued or running, finished with its scores, or failed and why."""
    if runs.empty:
        return None
    run = runs.iloc[0]
    name, status = run["name"], run["status"]
    if status == "queued":
        return notice(t("“{name}” is queued; it starts when a worker is free.").format(name=name))
    if status == "running":
        return notice(t("“{name}” is running…").format(name=name))
    if status == "failed":
        return notice(t("“{name}” failed: {error}").format(name=name, error=run["error"] or t("unknown error")),
                      "error")
    failed = count(run["failures"] or 0, "{n} failure", "{n} failures")
    return notice(t("“{name}” is done: accuracy {accuracy}, top-1 {top1}, {failures}. Select it to see them.").format(
        name=name, accuracy=percent(run["accuracy"]), top1=percent(run["top1"]), failures=failed), "success")


def _readable_runs(runs: pd.DataFrame, timezone: str = "UTC") -> pd.DataFrame:
    """Runs with local times, percentages and the status in the reader's language."""
    tz = zone(timezone)
    shown = runs.assign(id=runs["run_id"].astype(str), status=runs["status"].map(t),
                        created_at=runs["created_at"].map(lambda v: when(v, tz)))
    for column in ("top1", "mrr", "recall_at_5", "answer_rate", "accuracy"):
        if column in shown:
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else percent(v))
    return shown


def _run_rows(runs: pd.DataFrame, timezone: str = "UTC") -> list[dict[str, Any]]:
    return records(_readable_runs(runs, timezone)[[*RUN_SHOWN, "id"]])


def failures(user: SignedInUser, run_id: str) -> pd.DataFrame:
    with tenant_session_sync(user.tenant_id) as session:
        return evaluation.run_failures(session, user.tenant_id, as_uuid(run_id, "evaluation run id"))


def threshold_report(user: SignedInUser, run_id: str, target: float) -> thresholds.ThresholdReport:
    with tenant_session_sync(user.tenant_id) as session:
        return evaluation.threshold_report(session, user.tenant_id, as_uuid(run_id, "evaluation run id"), target)


def current_threshold(user: SignedInUser) -> float:
    return evaluation.tenant_threshold(user.tenant_id)


def apply_threshold(user: SignedInUser, run_id: str, target: float) -> float:
    """Set the bot's threshold to the run's recommendation for `target` precision (admin); returns it."""
    auth.require(user, "admin")
    settings, _ = chat_commands.apply_recommended_threshold(
        user.tenant_id, as_uuid(run_id, "evaluation run id"), target, actor=Actor("user", user.user_id))
    return settings.confidence_threshold


def threshold_figure(found: thresholds.ThresholdReport, current: float) -> go.Figure:
    """Precision, coverage and right answers against the threshold, with the current and recommended ones."""
    x = [p.threshold for p in found.points]
    figure = go.Figure([
        go.Scatter(x=x, y=[p.precision for p in found.points], name=t("Precision"), mode="lines"),
        go.Scatter(x=x, y=[p.coverage for p in found.points], name=t("Coverage"), mode="lines"),
        go.Scatter(x=x, y=[p.right for p in found.points], name=t("Answered right"), mode="lines",
                   line={"dash": "dot"}),
    ])
    figure.add_hline(y=found.target_precision, line={"color": "#888", "dash": "dash"})
    figure.add_vline(x=current, line={"color": "#c62828"}, annotation_text=t("now"), annotation_position="top left")
    if found.recommended is not None:
        figure.add_vline(x=found.recommended, line={"color": "#2e7d32"}, annotation_text=t("recommended"),
                         annotation_position="top right")
    # The title is the heading above the graph and the legend sits on top: on a phone a Plotly title
    # and a bottom legend crowd the plot out.
    styled(figure, height=360).update_layout(
        xaxis={"title": t("Confidence threshold"), "range": [0, 1]}, yaxis={"tickformat": ".0%", "range": [0, 1.05]},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        margin={"l": 40, "r": 10, "t": 50, "b": 40})
    return figure


def threshold_panel(user: SignedInUser, run_id: str, target: float) -> Any:
    """The selected run's threshold report: the curve, what the recommendation means, and the apply button."""
    found, error = attempt(lambda: threshold_report(user, run_id, target))
    if error is not None or found is None:
        return error
    current = current_threshold(user)
    now = found.at(current)
    reason = found.reason_zh if language() == "zh" else found.reason
    lines = [html.P(t("Now ({threshold}): precision {precision}, coverage {coverage}.").format(
                 threshold=f"{current:.2f}", precision=percent(now.precision), coverage=percent(now.coverage))),
             notice(reason, "success" if found.recommended is not None else "info")]
    can_apply = found.recommended is not None and user.can("admin") and abs(found.recommended - current) > 1e-9
    label = t("Apply threshold") + (f" {found.recommended:.2f}" if found.recommended is not None else "")
    return html.Div([
        html.H4(t("Precision and coverage by confidence threshold")),
        dcc.Graph(figure=threshold_figure(found, current), config={"displaylogo": False}, id="acc-threshold-graph"),
        *lines,
        html.Button(label, id="acc-apply", disabled=not can_apply),
    ])


def _runs_table(frame: pd.DataFrame, timezone: str = "UTC") -> Any:
    frame = _readable_runs(frame, timezone)
    return grid(frame, "acc-runs", columns=[c for c in RUN_SHOWN if c in frame], select="single", keep=["id"],
                wide=["name", "error"])


def layout(user: SignedInUser) -> html.Div:
    admin = user.can("admin")
    runs = evaluation_runs(user)
    uploader = dcc.Upload(id="acc-upload", className="upload", disabled=not admin,
                          children=html.Div(["Upload a labelled set: a CSV with the columns ", html.Code("question"),
                                             " and ", html.Code("expected"),
                                             " (the FAQ id that should answer; ids separated by |; "
                                             "empty = the bot should not answer)"]))
    return html.Div([
        html.H2(t("Accuracy")),
        section("Live accuracy", dcc.Loading(dcc.Graph(id="acc-live", config={"displaylogo": False}))),
        section("Grounded answers",
                html.P(t("Each sentence a model writes is checked against the passages and tool results it was "
                         "given; unsupported sentences are flagged, dropped or replaced as set in Settings → Model."),
                       className="muted"),
                dcc.Loading(dcc.Graph(id="acc-grounded", config={"displaylogo": False})),
                html.H4(t("Flagged answers")),
                html.Div(id="acc-flagged-box"), section_id="grounded"),
        section("Evaluation runs",
                dcc.Input(id="acc-name", placeholder="run name (optional)", disabled=not admin),
                uploader if admin else notice(t("Only admins can change this.")),
                dcc.Loading(html.Div(id="acc-result")),
                html.Div(run_status(runs), id="acc-status"),
                html.Div(notice("No evaluation runs yet. Upload a labelled set above to measure how often the right "
                                "answer is found.") if runs.empty else None),
                html.Div(_runs_table(runs, user.timezone), id="acc-runs-box"),
                dcc.Interval(id="acc-interval", interval=1500, disabled=not runs["status"].isin(PENDING).any()),
                dcc.Store(id="acc-refresh", data=0),
                html.H4(t("Failures of the selected run")),
                html.Div(id="acc-failures")),
        section("Confidence threshold",
                html.P(t("Select a finished run: it shows how many answers are right and how many questions get "
                         "answered at each threshold, and which threshold reaches your target precision. "
                         "Without labelled questions the default threshold stays."), className="muted"),
                html.Div([html.Label(t("Target precision"), htmlFor="acc-target"),
                          dcc.Dropdown(id="acc-target", clearable=False, value=thresholds.DEFAULT_TARGET,
                                       options=[{"label": f"{v:.0%}", "value": v} for v in thresholds.TARGETS])],
                         className="row"),
                html.Div(id="acc-threshold"),
                html.Div(id="acc-apply-result")),
    ])


def register(app: Any) -> None:
    @app.callback(Output("acc-live", "figure"), Input("period", "start_date"), Input("period", "end_date"))
    def live(start: str | None, end: str | None) -> go.Figure:
        from dash_app.components import period_of

        user = auth.current_user()
        frame, error = attempt(lambda: live_accuracy(user, period_of(start, end, user.timezone)))
        return accuracy_figure(frame) if frame is not None else empty_figure(str(error.children if error else ""))

    @app.callback(Output("acc-grounded", "figure"), Output("acc-flagged-box", "children"),
                  Input("period", "start_date"), Input("period", "end_date"))
    def grounded_answers(start: str | None, end: str | None) -> tuple[go.Figure, Any]:
        from dash_app.components import period_of

        user = auth.current_user()
        frames, error = attempt(lambda: grounded(user, period_of(start, end, user.timezone)))
        if frames is None:
            return empty_figure(str(error.children if error else "")), error
        return grounded_figure(frames[0]), flagged_table(frames[1])

    @app.callback(Output("acc-result", "children"), Output("acc-refresh", "data"), Input("acc-upload", "contents"),
                  State("acc-upload", "filename"), State("acc-name", "value"), State("acc-refresh", "data"),
                  prevent_initial_call=True)
    def run(contents: str | None, filename: str | None, name: str | None, counter: int | None) -> tuple[Any, Any]:
        user = auth.current_user()
        _, error = attempt(lambda: start_evaluation(user, filename or "questions.csv", contents or "", name))
        if error is not None:
            return error, no_update
        return notice("Queued; the run is scored in the background and appears below.", "success"), (counter or 0) + 1

    @app.callback(Output("acc-runs", "rowData"), Output("acc-status", "children"), Output("acc-interval", "disabled"),
                  Input("acc-interval", "n_intervals"), Input("acc-refresh", "data"), prevent_initial_call=True)
    def refresh_runs(_: Any, __: Any) -> tuple[Any, Any, bool]:
        user = auth.current_user()
        runs = evaluation_runs(user)
        return _run_rows(runs, user.timezone), run_status(runs), not runs["status"].isin(PENDING).any()

    @app.callback(Output("acc-threshold", "children"), Input("acc-runs", "selectedRows"),
                  Input("acc-target", "value"), Input("acc-apply-result", "children"), prevent_initial_call=True)
    def show_thresholds(selected: list[dict[str, Any]] | None, target: float | None, _: Any) -> Any:
        ids = selected_ids(selected)
        if not ids:
            return notice(t("Select a finished run above."))
        if (selected or [{}])[0].get("status", t("done")) != t("done"):
            return notice(t("This run has not finished yet."))
        return threshold_panel(auth.current_user(), ids[0], float(target or thresholds.DEFAULT_TARGET))

    @app.callback(Output("acc-apply-result", "children"), Input("acc-apply", "n_clicks"),
                  State("acc-runs", "selectedRows"), State("acc-target", "value"), prevent_initial_call=True)
    def apply(clicks: int | None, selected: list[dict[str, Any]] | None, target: float | None) -> Any:
        ids = selected_ids(selected)
        if not clicks or not ids:
            return no_update
        user = auth.current_user()
        applied, error = attempt(lambda: apply_threshold(user, ids[0], float(target or thresholds.DEFAULT_TARGET)))
        if error is not None:
            return error
        return notice(t("Applied: the bot now answers from confidence") + f" {applied:.2f}.", "success")

    @app.callback(Output("acc-failures", "children"), Input("acc-runs", "selectedRows"), prevent_initial_call=True)
    def show_failures(selected: list[dict[str, Any]] | None) -> Any:
        ids = selected_ids(selected)
        if not ids:
            return None
        status = (selected or [{}])[0].get("status", t("done"))
        if status in [t(p) for p in PENDING]:
            return notice("This run has not finished yet.")
        if status == t("failed"):
            return notice("This run failed; see its error above.", "error")
        user = auth.current_user()
        frame, error = attempt(lambda: failures(user, ids[0]))
        if error is not None or frame is None:
            return error
        if frame.empty:
            return notice("No failures in this run.", "success")
        return grid(frame, "acc-failures-table", wide=["question"])
