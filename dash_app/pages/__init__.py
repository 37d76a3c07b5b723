"""The admin app's pages, in menu order. Each module has `layout(user)` and `register(app)`.

Page modules keep the work in plain functions that take the signed-in user (`SignedInUser`) and
return data or raise `KefuError`; the Dash callbacks only read the current user, call them and
render. Tests call the functions directly with users of different tenants and roles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from dash_app.pages import (
    accuracy,
    conversations,
    export,
    gaps,
    knowledge,
    overview,
    records,
    satisfaction,
    settings,
    status,
)


@dataclass(frozen=True)
class Page:
    slug: str
    path: str
    title: str
    module: ModuleType

    @property
    def layout(self) -> Callable[[Any], Any]:
        return self.module.layout  # type: ignore[no-any-return]

    @property
    def register(self) -> Callable[[Any], None]:
        return self.module.register  # type: ignore[no-any-return]


PAGES: tuple[Page, ...] = (
    Page("overview", "/", "Overview", overview),
    Page("conversations", "/conversations", "Conversations", conversations),
    Page("knowledge", "/knowledge", "Knowledge", knowledge),
    Page("records", "/records", "Records", records),
    Page("accuracy", "/accuracy", "Accuracy", accuracy),
    Page("satisfaction", "/satisfaction", "Satisfaction", satisfaction),
    Page("gaps", "/gaps", "Knowledge gaps", gaps),
    Page("export", "/export", "Export", export),
    Page("status", "/status", "Status", status),
    Page("settings", "/settings", "Settings", settings),
)


def page_for(pathname: str | None) -> Page:
    """The page for a URL path; unknown paths show the overview."""
    path = (pathname or "/").rstrip("/") or "/"
    return next((page for page in PAGES if page.path == path), PAGES[0])
