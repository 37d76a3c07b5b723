"""Small building blocks every page uses: notices, KPI cards, tables, empty charts, error handling."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pandas as pd
import plotly.graph_objects as go
from dash import dash_table, html

from analytics.period import Period
from core.errors import KefuError, ValidationFailed
from dash_app.i18n import t

log = logging.getLogger(__name__)
T = TypeVar("T")
FONT = "system-ui, -apple-system, 'Segoe UI', 'PingFang SC', 'Microsoft YaHei', sans-serif"


def notice(message: str, kind: str = "info") -> html.Div:
    """A short message in the page; kind is info, success or error."""
    return html.Div(message, className=f"notice notice-{kind}", role="alert" if kind == "error" else "status")


def attempt(action: Callable[[], T]) -> tuple[T | None, html.Div | None]:
    """Run an action; a Kefu error (bad input, wrong role, not found) becomes an error notice.

    Anything else is logged and shown as a generic failure, so a callback never answers with a
    traceback and the page stays usable.
    """
    try:
        return action(), None
    except KefuError as exc:
        return None, notice(exc.detail, "error")
    except Exception:
        log.exception("admin app action failed")
        return None, notice("Something went wrong; the error was logged. Try again.", "error")


def kpi(label: str, value: Any, fmt: str = "{:,}") -> html.Div:
    shown = "–" if value is None or (isinstance(value, float) and pd.isna(value)) else fmt.format(value)
    return html.Div([html.Div(shown, className="kpi-value"), html.Div(t(label), className="kpi-label")],
                    className="kpi")


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Table rows of a DataFrame with every value displayable (dates, lists and NaN as text)."""
    return [{c: _cell(v) for c, v in row.items()} for row in frame.to_dict("records")]


def table(frame: pd.DataFrame, table_id: str, *, columns: Sequence[str] | None = None, page_size: int = 15,
          row_selectable: str | bool = False, keep: Sequence[str] = ()) -> dash_table.DataTable:
    """A read-only table of a DataFrame; `keep` columns travel with the rows without being shown."""
    columns = list(columns or frame.columns)
    rows = records(frame[[*columns, *[k for k in keep if k not in columns]]])
    return dash_table.DataTable(
        id=table_id, data=rows, columns=[{"name": c.replace("_", " "), "id": c} for c in columns],
        page_size=page_size, sort_action="native", row_selectable=row_selectable,
        style_table={"overflowX": "auto"}, style_cell={"textAlign": "left", "maxWidth": "420px", "whiteSpace": "normal",
                                                        "fontSize": "13px", "fontFamily": FONT},
        style_header={"fontWeight": "600", "fontFamily": FONT},
    )


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def empty_figure(message: str) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(template="plotly_white", xaxis={"visible": False}, yaxis={"visible": False}, height=260,
                         annotations=[{"text": message, "showarrow": False, "font": {"size": 14}}],
                         margin={"l": 20, "r": 20, "t": 20, "b": 20})
    return figure


def styled(figure: go.Figure, height: int = 300) -> go.Figure:
    figure.update_layout(height=height, margin={"l": 40, "r": 20, "t": 40, "b": 40}, template="plotly_white",
                         legend={"orientation": "h", "y": -0.2})
    return figure


def section(title: str, *children: Any, section_id: str | None = None) -> html.Section:
    props = {"id": section_id} if section_id else {}
    return html.Section([html.H3(t(title)), *children], className="card", **props)


def as_uuid(value: object, what: str = "id") -> uuid.UUID:
    """An id sent back by the browser, checked; anything else is a 422, never a 500."""
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise ValidationFailed(f"{value!r} is not a valid {what}.") from None


def period_of(start: str | None, end: str | None) -> Period:
    """The header's date range as a reporting period (the last 30 days when unset)."""
    return Period.parse(start[:10] if start else None, end[:10] if end else None)
