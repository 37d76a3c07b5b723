"""Export: conversations, messages, feedback or daily metrics of a period as CSV, Parquet or XLSX.

Two ways: the Download button hands the file to the browser through `dcc.Download`, and the link
below it streams the same file from `/export/…` in chunks (better for very large tenants).
Analysts may export; exports always cover only the signed-in user's tenant.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from dash import Input, Output, State, dcc, html, no_update

from analytics import exports
from analytics.period import Period
from core.errors import ValidationFailed
from dash_app import auth
from dash_app.auth import SignedInUser
from dash_app.components import attempt, notice, period_of, section
from dash_app.formats import count
from dash_app.i18n import t

DATASET_LABELS = {"conversations": "Conversations", "messages": "Messages", "feedback": "Feedback",
                  "daily": "Daily figures"}


def check_choice(dataset: str | None, fmt: str | None) -> tuple[str, str]:
    if dataset not in exports.DATASETS:
        raise ValidationFailed(f"dataset must be one of {', '.join(exports.DATASETS)}.")
    if fmt not in exports.FORMATS:
        raise ValidationFailed(f"format must be one of {', '.join(exports.FORMATS)}.")
    return dataset, fmt


def export_file(user: SignedInUser, dataset: str | None, fmt: str | None, period: Period) -> tuple[str, bytes]:
    """The export as (file name, bytes) for the browser download (analyst and up)."""
    auth.require(user, "analyst")
    dataset, fmt = check_choice(dataset, fmt)
    data = b"".join(exports.iter_export(user.tenant_id, dataset, fmt, period, user.timezone))
    return exports.export_filename(dataset, fmt, period), data


def stream_link(dataset: str, fmt: str, period: Period) -> str:
    query = urlencode({"dataset": dataset, "format": fmt, "start": period.start.isoformat(),
                       "end": period.end.isoformat()})
    return f"/export/file?{query}"


def layout(user: SignedInUser) -> html.Div:
    return html.Div([
        html.H2(t("Export")),
        section("Export", html.Div([
            html.Div([html.Label(t("Dataset")),
                      dcc.Dropdown(id="ex-dataset", options=[{"label": DATASET_LABELS.get(d, d), "value": d}
                                                            for d in exports.DATASETS],
                                   value="conversations", clearable=False)]),
            html.Div([html.Label(t("Format")),
                      dcc.RadioItems(id="ex-format", options=[{"label": f.upper() if f != "parquet" else "Parquet",
                                                               "value": f} for f in exports.FORMATS],
                                     value="csv", inline=True)]),
            html.Button(t("Download"), id="ex-download-button"),
        ], className="row"),
            html.P(["The period is the one chosen at the top. Large exports: ",
                    html.A("stream the file directly", id="ex-stream-link", href="#")], className="muted"),
            html.P(t("Time zone of the timestamps: {zone}.").format(zone=user.timezone), className="muted"),
            dcc.Loading(html.Div(id="ex-result")),
            dcc.Download(id="ex-download")),
    ])


def _size(n: int) -> str:
    """A file size as people read it: 812 bytes, 14.2 KB, 3.1 MB."""
    if n < 1024:
        return count(n, "{n} byte", "{n} bytes")
    return f"{n / 1024:,.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:,.1f} MB"


def register(app: Any) -> None:
    @app.callback(Output("ex-download", "data"), Output("ex-result", "children"),
                  Input("ex-download-button", "n_clicks"), State("ex-dataset", "value"), State("ex-format", "value"),
                  State("period", "start_date"), State("period", "end_date"), prevent_initial_call=True)
    def download(_: Any, dataset: str, fmt: str, start: str | None, end: str | None) -> tuple[Any, Any]:
        user = auth.current_user()
        result, error = attempt(lambda: export_file(user, dataset, fmt, period_of(start, end, user.timezone)))
        if error is not None or result is None:
            return no_update, error
        filename, data = result
        return dcc.send_bytes(data, filename), notice(f"{filename}: {_size(len(data))}", "success")

    @app.callback(Output("ex-stream-link", "href"), Input("ex-dataset", "value"), Input("ex-format", "value"),
                  Input("period", "start_date"), Input("period", "end_date"))
    def link(dataset: str, fmt: str, start: str | None, end: str | None) -> str:
        user = auth.current_user()
        period, error = attempt(lambda: period_of(start, end, user.timezone))
        return stream_link(dataset, fmt, period) if period is not None and error is None else "#"
