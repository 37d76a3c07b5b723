"""Website sources on the Knowledge page: add a site, sync it, watch each page's result as it runs.

The work is `knowledge.commands` (add, sync, delete) and `knowledge.sources.store` (reads), as in
the API; the tables refresh themselves while a sync is queued or crawling.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from dash import Input, Output, State, ctx, dcc, html, no_update

from core.db import tenant_session_sync
from core.errors import ValidationFailed
from dash_app import auth
from dash_app.auth import SignedInUser
from dash_app.components import as_uuid, attempt, grid, notice, records, section, selected_ids
from dash_app.formats import when, zone
from dash_app.i18n import t
from knowledge import commands
from knowledge.sources import store

SOURCE_COLUMNS = ["url", "status", "schedule", "pages_seen", "pages_indexed", "pages_unchanged", "pages_removed",
                  "pages_failed", "pages_skipped", "last_sync_at", "error", "id"]
PAGE_COLUMNS = ["result", "url", "title", "error", "fetched_at"]
RUNNING = ("queued", "crawling")


def source_rows(user: SignedInUser) -> list[dict[str, Any]]:
    tz = zone(user.timezone)
    with tenant_session_sync(user.tenant_id) as session:
        return [{"id": str(s.id), "url": s.url, "status": s.status, "schedule": t(s.schedule),
                 "pages_seen": s.pages_seen, "pages_indexed": s.pages_indexed, "pages_unchanged": s.pages_unchanged,
                 "pages_removed": s.pages_removed, "pages_failed": s.pages_failed, "pages_skipped": s.pages_skipped,
                 "last_sync_at": when(s.last_sync_at, tz),
                 "error": s.error or ""} for s in store.list_sources(session, user.tenant_id)]


def page_rows(user: SignedInUser, source_id: str | None) -> list[dict[str, Any]]:
    """The latest sync's result per page of one source, most recent first (up to 500)."""
    if not source_id:
        return []
    tz = zone(user.timezone)
    with tenant_session_sync(user.tenant_id) as session:
        rows, _ = store.list_pages(session, user.tenant_id, as_uuid(source_id, "source id"), limit=500)
        return [{"result": t(p.result), "url": p.url, "title": p.title or "", "error": p.error or "",
                 "fetched_at": when(p.fetched_at, tz, seconds=True)} for p in rows]


def add_source(user: SignedInUser, url: str | None, max_pages: Any, schedule: str | None, include: str | None,
               exclude: str | None) -> str:
    auth.require(user, "admin")
    pages = None if max_pages in (None, "") else _whole(max_pages)
    source = commands.add_website_source(user.tenant_id, url, max_pages=pages, schedule=schedule or "off",
                                         include=include or None, exclude=exclude or None)
    return str(source.id)


def sync_source(user: SignedInUser, source_id: str | None) -> None:
    auth.require(user, "admin")
    commands.sync_source_now(user.tenant_id, _selected(source_id))


def delete_source(user: SignedInUser, source_id: str | None) -> None:
    auth.require(user, "admin")
    commands.delete_source(user.tenant_id, _selected(source_id))


def _selected(source_id: str | None) -> Any:
    if not source_id:
        raise ValidationFailed("Select a website in the table first.")
    return as_uuid(source_id, "source id")


def _whole(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationFailed("Max pages must be a whole number.") from None


def layout(user: SignedInUser) -> html.Section:
    admin = user.can("admin")
    form = html.Div([
        html.Label(t("Website address"), htmlFor="src-url"),
        dcc.Input(id="src-url", type="url", className="wide", placeholder="https://shop.example.com/help/"),
        html.Div([
            html.Div([html.Label(t("Max pages"), htmlFor="src-max-pages"),
                      dcc.Input(id="src-max-pages", type="number", min=1, step=1, placeholder="200")]),
            html.Div([html.Label(t("Re-sync"), htmlFor="src-schedule"),
                      dcc.Dropdown(id="src-schedule", clearable=False, value="weekly", style={"minWidth": "140px"},
                                   options=[{"label": t(k.capitalize()), "value": k}
                                            for k in ("off", "daily", "weekly")])]),
            html.Div([html.Label(t("Only URLs like"), htmlFor="src-include"),
                      dcc.Input(id="src-include", type="text", placeholder="/help/*")]),
            html.Div([html.Label(t("Never URLs like"), htmlFor="src-exclude"),
                      dcc.Input(id="src-exclude", type="text", placeholder="*/login*")]),
        ], className="row"),
        html.Button(t("Add website"), id="src-add", disabled=True),
    ], className="editor")
    rows = source_rows(user)
    return section(
        "Website sources",
        html.P(t("A website is crawled (sitemap, or links from the start page), one document per page; "
                 "re-syncs embed only pages that changed and remove pages gone from the site."), className="muted"),
        form if admin else notice(t("Only admins can change this.")),
        html.Div(id="src-result"),
        notice("No websites yet. Add your help centre's address to index its pages.") if not rows else None,
        grid(_shown(rows), "src-table", columns=SOURCE_COLUMNS[:-1], select="single", keep=["id"], page_size=5,
             wide=["url"]),
        # Enabled only when they can act (src-buttons below): a website selected, by an admin.
        html.Div([html.Button(t("Sync now"), id="src-sync", disabled=True),
                  html.Button(t("Delete"), id="src-delete", className="danger", disabled=True)],
                 className="row"),
        html.H4(t("Pages of the selected website")),
        grid(pd.DataFrame([], columns=PAGE_COLUMNS), "src-pages", page_size=10, wide=["url", "title"]),
        dcc.Interval(id="src-interval", interval=1500, disabled=not any(r["status"] in RUNNING for r in rows)),
        section_id="sources",
    )


def _shown(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=SOURCE_COLUMNS)
    return frame.assign(status=frame["status"].map(t))


def register(app: Any) -> None:
    @app.callback(Output("src-table", "rowData"), Output("src-pages", "rowData"), Output("src-interval", "disabled"),
                  Input("src-interval", "n_intervals"), Input("src-table", "selectedRows"),
                  Input("src-result", "children"))
    def refresh(_: Any, selected: list[dict[str, Any]] | None, __: Any) -> tuple[Any, Any, bool]:
        user = auth.current_user()
        rows = source_rows(user)
        chosen = ([*selected_ids(selected), None])[0] or (rows[0]["id"] if len(rows) == 1 else None)
        found, _error = attempt(lambda: page_rows(user, chosen))
        return (records(_shown(rows)),
                records(pd.DataFrame(found or [], columns=PAGE_COLUMNS)),
                not any(r["status"] in RUNNING for r in rows))

    @app.callback(Output("src-sync", "disabled"), Output("src-delete", "disabled"),
                  Input("src-table", "selectedRows"))
    def row_buttons(selected: list[dict[str, Any]] | None) -> tuple[bool, bool]:
        idle = not selected or not auth.current_user().can("admin")
        return idle, idle

    @app.callback(Output("src-add", "disabled"), Input("src-url", "value"))
    def add_button(url: str | None) -> bool:
        return not (url or "").strip()

    @app.callback(Output("src-result", "children"), Output("src-interval", "disabled", allow_duplicate=True),
                  Input("src-add", "n_clicks"), Input("src-sync", "n_clicks"), Input("src-delete", "n_clicks"),
                  State("src-url", "value"), State("src-max-pages", "value"), State("src-schedule", "value"),
                  State("src-include", "value"), State("src-exclude", "value"), State("src-table", "selectedRows"),
                  prevent_initial_call=True)
    def change(_: Any, __: Any, ___: Any, url: str | None, max_pages: Any, schedule: str | None,
               include: str | None, exclude: str | None, selected: list[dict[str, Any]] | None) -> tuple[Any, Any]:
        user = auth.current_user()
        button, chosen = ctx.triggered_id, ([*selected_ids(selected), None])[0]
        if button == "src-add":
            _, error = attempt(lambda: add_source(user, url, max_pages, schedule, include, exclude))
            done = t("Added; the crawl has started and its pages appear below as they are done.")
        elif button == "src-sync":
            _, error = attempt(lambda: sync_source(user, chosen))
            done = t("Sync queued; changed pages are re-indexed, unchanged ones cost only a fetch.")
        else:
            _, error = attempt(lambda: delete_source(user, chosen))
            done = t("Deleted the website and its pages' documents.")
        if error is not None:
            return error, no_update
        return notice(done, "success"), False
