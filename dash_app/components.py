"""Small building blocks every page uses: notices, KPI cards, tables (AG Grid), empty charts, error handling."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import dash_ag_grid as dag
import pandas as pd
import plotly.graph_objects as go
from dash import html

from analytics.period import Period
from core.errors import KefuError, ValidationFailed
from dash_app.i18n import error_text, language, t

log = logging.getLogger(__name__)
T = TypeVar("T")
FONT = "system-ui, -apple-system, 'Segoe UI', 'PingFang SC', 'Microsoft YaHei', sans-serif"


def notice(message: str, kind: str = "info") -> html.Div:
    """A short message in the page; kind is info, success or error."""
    return html.Div(t(message) if isinstance(message, str) else message, className=f"notice notice-{kind}",
                    role="alert" if kind == "error" else "status")


def attempt(action: Callable[[], T]) -> tuple[T | None, html.Div | None]:
    """Run an action; a Kefu error (bad input, wrong role, not found) becomes an error notice.

    Anything else is logged and shown as a generic failure, so a callback never answers with a
    traceback and the page stays usable.
    """
    try:
        return action(), None
    except KefuError as exc:
        return None, notice(error_text(exc.detail), "error")
    except Exception:
        log.exception("admin app action failed")
        return None, notice("Something went wrong; the error was logged. Try again.", "error")


def kpi(label: str, value: Any, fmt: str | Callable[[Any], str] = "{:,}") -> html.Div:
    """A headline figure; `fmt` is a format string or a function such as `formats.percent`."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        shown = "–"
    else:
        shown = fmt(value) if callable(fmt) else fmt.format(value)
    return html.Div([html.Div(shown, className="kpi-value"), html.Div(t(label), className="kpi-label")],
                    className="kpi")


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Table rows of a DataFrame with every value displayable (dates, lists and NaN as text)."""
    return [{c: _cell(v) for c, v in row.items()} for row in frame.to_dict("records")]


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, bool):
        return t("yes") if value else t("no")
    if isinstance(value, int | float | str):
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


def period_of(start: str | None, end: str | None, zone: str = "UTC") -> Period:
    """The header's date range as a reporting period of days in `zone`, the tenant's (the last 30 days when unset)."""
    return Period.parse(start[:10] if start else None, end[:10] if end else None, zone=zone)


# --- Tables on AG Grid (issue 22): sort, filter, paging, row selection and CSV export in every table ----------
GRID_ZH = {
    "page": "第", "of": "/", "to": "至", "more": "更多", "firstPage": "首页", "lastPage": "末页", "nextPage": "下一页",
    "previousPage": "上一页", "pageSizeSelectorLabel": "每页行数：", "ariaPageSizeSelectorLabel": "每页行数",
    "noRowsToShow": "暂无数据", "noMatchingRows": "没有匹配的行", "loadingOoo": "加载中…", "exportingOoo": "导出中…",
    "filterOoo": "筛选…", "equals": "等于", "notEqual": "不等于", "contains": "包含", "notContains": "不包含",
    "startsWith": "开头是", "endsWith": "结尾是", "blank": "为空", "notBlank": "不为空", "andCondition": "且",
    "orCondition": "或", "lessThan": "小于", "greaterThan": "大于", "inRange": "介于", "applyFilter": "应用",
    "resetFilter": "重置", "clearFilter": "清除", "selectAll": "全选", "searchOoo": "搜索…", "blanks": "（空白）",
    "ariaRowSelect": "按空格键选择此行", "ariaRowDeselect": "按空格键取消选择此行",
    "ariaRowSelectAll": "按空格键选择所有行", "ariaRowToggleSelection": "按空格键切换选择",
    "ariaFilterInput": "筛选输入", "ariaColumnFiltered": "已筛选", "ariaFilteringOperator": "筛选条件",
    "sortAscending": "升序", "sortDescending": "降序", "sortUnSort": "取消排序",
}


def grid(frame: pd.DataFrame, grid_id: str, *, columns: Sequence[str] | None = None, page_size: int = 15,
         select: str | None = None, keep: Sequence[str] = (), export_name: str | None = None,
         wide: Sequence[str] = (), headers: Mapping[str, str] | None = None) -> html.Div:
    """A table of a DataFrame: sortable, filterable, paged; `select` is "single" or "multi" (a checkbox
    column); rows are identified by their `id` column when it is there, so a selection survives a
    refresh. `keep` columns travel with the rows without being shown; `wide` columns get more room;
    `headers` gives a column an English title of its own (translated like every title).
    """
    columns = list(columns or frame.columns)
    rows = records(frame[[*columns, *[k for k in keep if k not in columns]]])
    titles = {c: t(headers[c]) if headers and c in headers else header(c) for c in columns}
    defs = [{"field": c, "headerName": titles[c], "flex": 3 if c in wide else 1,
             "minWidth": 220 if c in wide else 175 if _is_time(c) else 140 if c == "visitor" else 110,
             "tooltipField": c if c in wide else None} for c in columns]
    options: dict[str, Any] = {"pagination": True, "paginationPageSize": page_size,
                               "paginationPageSizeSelector": False, "domLayout": "autoHeight",
                               "enableCellTextSelection": True, "tooltipShowDelay": 300,
                               # every column is in the page (and in find-in-page), also on a phone
                               "suppressColumnVirtualisation": True}
    if select:
        options["rowSelection"] = {"mode": "multiRow" if select == "multi" else "singleRow",
                                   "enableClickSelection": True, "checkboxes": True,
                                   "headerCheckbox": select == "multi"}
    if language() == "zh":
        options["localeText"] = GRID_ZH
    props: dict[str, Any] = {"getRowId": "params.data.id"} if "id" in frame.columns else {}
    return dag.AgGrid(
        id=grid_id, rowData=rows, columnDefs=[{k: v for k, v in d.items() if v is not None} for d in defs],
        # headers wrap onto a second line rather than end in "…" in a narrow column (a phone)
        defaultColDef={"sortable": True, "filter": True, "resizable": True, "wrapText": False,
                       "wrapHeaderText": True, "autoHeaderHeight": True, "cellClass": "grid-cell"},
        dashGridOptions=options, selectedRows=[], className="kefu-grid", style={"width": "100%"},
        csvExportParams={"fileName": f"{export_name or grid_id}.csv"}, **props,
    )


def header(column: str) -> str:
    """A column's title: 'started_at' → 'Started at' / '开始时间'."""
    words = t(column.replace("_", " "))
    if language() != "en":
        return words
    return _ACRONYMS.get(words, words[:1].upper() + words[1:])


_ACRONYMS = {"csat": "CSAT", "mrr": "MRR", "top1": "Top-1", "url": "URL", "id": "ID"}


def _is_time(column: str) -> bool:
    """Columns holding a date and time (2026-12-07 14:05), which must never be cut."""
    return column == "at" or column.endswith("_at")


def grid_export_button(grid_id: str) -> html.Button:
    """'Export CSV' for a grid: the rows as shown, with the filter and sort applied."""
    return html.Button(t("Export CSV"), id=f"{grid_id}-export", className="secondary")


def register_grid_export(app: Any, grid_id: str) -> None:
    from dash import Input, Output

    app.clientside_callback("function(n) { return Boolean(n); }", Output(grid_id, "exportDataAsCsv"),
                            Input(f"{grid_id}-export", "n_clicks"), prevent_initial_call=True)


def selected_ids(rows: list[dict[str, Any]] | None) -> list[str]:
    """The `id` of each selected grid row."""
    return [str(r["id"]) for r in rows or [] if isinstance(r, dict) and r.get("id") is not None]
