"""The first-run checklist on the overview: upload FAQ, try a question, copy the tag, allow your site, invite.

Each step is ticked from what is stored, never from a click on the checklist itself: a ready
document, a customer question in any conversation, the Copy button on Settings → Widget (the one
step that leaves no other trace, so it is recorded), a widget key with allowed origins, a second user.
"""

from __future__ import annotations

from dataclasses import dataclass

from dash import dcc, html
from sqlalchemy import func, select

from core.db import tenant_session_sync
from core.models import Document, Message, Tenant, User, WidgetKey
from dash_app.auth import SignedInUser
from dash_app.i18n import t


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    hint: str
    href: str
    done: bool


def steps(user: SignedInUser) -> list[Step]:
    """The five steps with their state for the user's tenant."""
    tid = user.tenant_id
    with tenant_session_sync(tid) as session:
        documents = (
            session.scalar(
                select(func.count()).select_from(Document).where(Document.tenant_id == tid, Document.status == "ready")
            )
            or 0
        )
        asked = (
            session.scalar(select(Message.id).where(Message.tenant_id == tid, Message.role == "customer").limit(1))
            is not None
        )
        settings = session.scalar(select(Tenant.settings).where(Tenant.id == tid)) or {}
        allowed = (
            session.scalar(
                select(func.count())
                .select_from(WidgetKey)
                .where(
                    WidgetKey.tenant_id == tid,
                    WidgetKey.revoked_at.is_(None),
                    func.cardinality(WidgetKey.allowed_origins) > 0,
                )
            )
            or 0
        )
        users = (
            session.scalar(
                select(func.count()).select_from(User).where(User.tenant_id == tid, User.is_active.is_(True))
            )
            or 0
        )
    copied = bool((settings.get("onboarding") or {}).get("tag_copied"))
    return [
        Step(
            "faq",
            "Upload your FAQ",
            "A CSV or XLSX with question and answer columns, or any document.",
            "/knowledge",
            documents > 0,
        ),
        Step(
            "ask",
            "Try a question",
            "Ask it something a customer would ask, in the widget or under Knowledge → Try a question.",
            "/knowledge",
            asked,
        ),
        Step("tag", "Copy the widget tag", "Paste the script tag before </body> on your site.", "/settings", copied),
        Step(
            "origins", "Allow your site", "List the web addresses allowed to show the widget.", "/settings", allowed > 0
        ),
        Step(
            "invite",
            "Invite a colleague",
            "Add someone who will answer hand-offs or read reports.",
            "/settings",
            users > 1,
        ),
    ]


def checklist(user: SignedInUser) -> html.Section | None:
    """The checklist card, or nothing once every step is done."""
    found = steps(user)
    done = sum(step.done for step in found)
    if done == len(found):
        return None
    items = [
        html.Li(
            [
                html.Span("✓" if step.done else str(n), className="step-mark"),
                html.Div(
                    [html.Strong(t(step.title)), html.Div(t(step.hint), className="muted small")], className="grow"
                ),
                html.Span(t("Done"), className="step-state ok")
                if step.done
                else dcc.Link(t("Open"), href=step.href, className="step-go", id=f"onb-go-{step.key}"),
            ],
            className="step done" if step.done else "step",
            id=f"onb-{step.key}",
        )
        for n, step in enumerate(found, 1)
    ]
    progress = t("{done} of {total} done").format(done=done, total=len(found))
    return html.Section(
        [
            html.Div(
                [html.H3(t("Get started")), html.Span(progress, className="muted", id="onb-progress")],
                className="row spread",
            ),
            html.P(t("Five steps to a working assistant on your site."), className="muted"),
            html.Ol(items, className="steps"),
        ],
        className="card onboarding",
        id="onboarding",
    )
