"""Settings → office hours and hand-off emails, and outbound webhooks with their deliveries.

Office hours decide what the widget promises after a hand-off (chat.contact); webhooks receive
signed POSTs of hand-offs, customer messages, resolutions and CSAT (docs/notifications.md). Both
write through `chat.commands`, like the API. Webhook URLs are shown to admins only (a receiver
URL, such as a chat app's incoming hook, is often a secret itself).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from dash import Input, Output, State, ctx, dcc, html, no_update

from chat import commands, service_hours, webhooks
from chat.service_hours import DAYS, ServiceSettings
from core.audit import Actor
from core.db import tenant_session_sync
from core.errors import ValidationFailed
from core.models import WEBHOOK_EVENTS
from dash_app import auth
from dash_app.auth import SignedInUser
from dash_app.components import as_uuid, attempt, grid, notice, records, section
from dash_app.i18n import t

DAY_NAMES = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}
TIMEZONES = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "UTC",
)
HOOK_COLUMNS = ["url", "events", "delivered", "failed", "pending"]
DELIVERY_COLUMNS = ["created_at", "event", "status", "attempts", "last_status_code", "last_error"]


def service_settings(user: SignedInUser) -> ServiceSettings:
    with tenant_session_sync(user.tenant_id) as session:
        return service_hours.load_sync(session, user.tenant_id)


def save_service(
    user: SignedInUser, enabled: bool, timezone: str, day_texts: list[str | None], emails: bool
) -> ServiceSettings:
    """Store office hours typed as "09:00-12:00, 13:00-18:00" per day (admin)."""
    auth.require(user, "admin")
    hours = {
        day: [span.strip() for span in (text or "").replace("，", ",").split(",") if span.strip()]
        for day, text in zip(DAYS, day_texts, strict=True)
    }
    return commands.save_service_settings(
        user.tenant_id,
        {"office_hours_enabled": bool(enabled), "timezone": timezone, "hours": hours, "handoff_emails": bool(emails)},
        actor=Actor("user", user.user_id),
    )


def hook_rows(user: SignedInUser) -> list[dict[str, Any]]:
    auth.require(user, "admin")
    with tenant_session_sync(user.tenant_id) as session:
        return [
            {
                "id": h["id"],
                "url": h["url"],
                "events": ", ".join(h["events"]),
                "delivered": h["deliveries"]["delivered"],
                "failed": h["deliveries"]["failed"],
                "pending": h["deliveries"]["pending"] + h["deliveries"]["sending"],
            }
            for h in webhooks.list_webhooks(session, user.tenant_id)
        ]


def add_hook(user: SignedInUser, url: str | None, events: list[str] | None) -> dict[str, Any]:
    auth.require(user, "admin")
    return commands.create_webhook(user.tenant_id, (url or "").strip(), events or [], actor=Actor("user", user.user_id))


def delete_hook(user: SignedInUser, hook_id: str | None) -> None:
    auth.require(user, "admin")
    if not hook_id:
        raise ValidationFailed(t("Select a webhook first."))
    commands.delete_webhook(user.tenant_id, as_uuid(hook_id, "webhook"), actor=Actor("user", user.user_id))


def delivery_rows(user: SignedInUser, hook_id: str | None) -> list[dict[str, Any]]:
    auth.require(user, "admin")
    if not hook_id:
        return []
    with tenant_session_sync(user.tenant_id) as session:
        items = webhooks.deliveries(session, user.tenant_id, as_uuid(hook_id, "webhook"), 50)["items"]
    return [
        {
            "created_at": d["created_at"].strftime("%Y-%m-%d %H:%M:%S"),
            "event": d["event"],
            "status": t(d["status"]),
            "attempts": len(d["attempts"]),
            "last_status_code": d["last_status_code"],
            "last_error": d["last_error"] or "",
        }
        for d in items
    ]


def _hours_form(settings: ServiceSettings, admin: bool) -> list[Any]:
    state = t("Open now") if service_hours.is_open(settings) else t("Closed now")
    days = [
        html.Div(
            [
                html.Label(t(DAY_NAMES[day]), htmlFor=f"hours-{day}"),
                dcc.Input(
                    id=f"hours-{day}",
                    value=", ".join(settings.hours.get(day, [])),
                    placeholder=t("closed"),
                    disabled=not admin,
                ),
            ],
            className="day",
        )
        for day in DAYS
    ]
    zones = list(dict.fromkeys([settings.timezone, *TIMEZONES]))
    return [
        html.P(
            t(
                "Outside office hours, or when no agent has the inbox open, the chat says that no one can answer "
                "right now and asks the customer for an email or phone number; replies written later are emailed "
                "to them."
            ),
            className="muted",
        ),
        dcc.Checklist(
            id="hours-enabled",
            options=[{"label": t("Use office hours"), "value": "on"}],
            value=["on"] if settings.office_hours_enabled else [],
            inputClassName="check",
        ),
        html.Div(
            [
                html.Label(t("Time zone"), htmlFor="hours-timezone"),
                dcc.Dropdown(
                    id="hours-timezone", options=zones, value=settings.timezone, clearable=False, disabled=not admin
                ),
            ],
            className="zone",
        ),
        html.P(t("Hours per day, like 09:00-12:00, 13:00-18:00 (empty = closed all day)."), className="muted"),
        html.Div(days, className="days"),
        dcc.Checklist(
            id="hours-emails",
            options=[{"label": t("Email staff about each new hand-off"), "value": "on"}],
            value=["on"] if settings.handoff_emails else [],
            inputClassName="check",
        ),
        html.Div(
            [
                html.Button(t("Save"), id="hours-save", disabled=not admin),
                html.Span(state, id="hours-state", className="muted"),
            ],
            className="row",
        ),
        html.Div(id="hours-result"),
    ]


def _webhooks_part(user: SignedInUser) -> list[Any]:
    frame = pd.DataFrame(hook_rows(user), columns=["id", *HOOK_COLUMNS])
    return [
        html.P(
            t(
                "Kefu POSTs each event as JSON, signed in X-Kefu-Signature (HMAC-SHA256 of the body with the "
                "webhook's secret); failed deliveries are retried, then marked failed."
            ),
            className="muted",
        ),
        grid(frame, "hooks-table", columns=HOOK_COLUMNS, keep=["id"], select="single", page_size=10, wide=["url"]),
        html.Div(
            [
                html.Label(t("Receiver URL"), htmlFor="hooks-url"),
                dcc.Input(id="hooks-url", type="url", placeholder="https://example.com/kefu-events", className="wide"),
            ]
        ),
        dcc.Checklist(
            id="hooks-events",
            options=list(WEBHOOK_EVENTS),
            value=["handoff.requested"],
            inline=True,
            inputClassName="check",
        ),
        html.Div(
            [
                html.Button(t("Add webhook"), id="hooks-add", disabled=True),
                html.Button(t("Delete selected"), id="hooks-delete", className="danger", disabled=True),
            ],
            className="row",
        ),
        html.Div(id="hooks-result"),
        html.H4(t("Deliveries of the selected webhook")),
        grid(pd.DataFrame([], columns=DELIVERY_COLUMNS), "hooks-deliveries", page_size=10),
    ]


def layout(user: SignedInUser) -> html.Div:
    admin = user.can("admin")
    parts = [section("Office hours", *_hours_form(service_settings(user), admin), section_id="office-hours")]
    if admin:
        parts.append(section("Webhooks", *_webhooks_part(user), section_id="webhooks"))
    return html.Div(parts)


def register(app: Any) -> None:
    @app.callback(
        Output("hours-result", "children"),
        Output("hours-state", "children"),
        Input("hours-save", "n_clicks"),
        State("hours-enabled", "value"),
        State("hours-timezone", "value"),
        *[State(f"hours-{day}", "value") for day in DAYS],
        State("hours-emails", "value"),
        prevent_initial_call=True,
    )
    def save_hours(_: Any, enabled: list[str], zone: str, *rest: Any) -> tuple[Any, Any]:
        *day_texts, emails = rest
        saved, error = attempt(
            lambda: save_service(
                auth.current_user(), "on" in (enabled or []), zone, list(day_texts), "on" in (emails or [])
            )
        )
        if error is not None or saved is None:
            return error, no_update
        return (notice(t("Saved."), "success"), t("Open now") if service_hours.is_open(saved) else t("Closed now"))

    @app.callback(
        Output("hooks-result", "children"),
        Output("hooks-table", "rowData"),
        Input("hooks-add", "n_clicks"),
        Input("hooks-delete", "n_clicks"),
        State("hooks-url", "value"),
        State("hooks-events", "value"),
        State("hooks-table", "selectedRows"),
        prevent_initial_call=True,
    )
    def change(
        _: Any,
        __: Any,
        url: str | None,
        events: list[str] | None,
        selected: list[dict[str, Any]] | None,
    ) -> tuple[Any, Any]:
        user = auth.current_user()
        if ctx.triggered_id == "hooks-add":
            created, error = attempt(lambda: add_hook(user, url, events))
            message = (
                html.Div(
                    [
                        t("Added. Copy the signing secret now; it is not shown again:"),
                        html.Pre(created["secret"], className="snippet", id="hooks-secret"),
                    ],
                    className="notice notice-success",
                )
                if created
                else None
            )
        else:
            hook_id = selected[0]["id"] if selected else None
            _, error = attempt(lambda: delete_hook(user, hook_id))
            message = notice(t("Deleted."), "success")
        if error is not None:
            return error, no_update
        return message, records(pd.DataFrame(hook_rows(user), columns=["id", *HOOK_COLUMNS]))

    @app.callback(
        Output("hooks-add", "disabled"),
        Output("hooks-delete", "disabled"),
        Input("hooks-url", "value"),
        Input("hooks-events", "value"),
        Input("hooks-table", "selectedRows"),
    )
    def buttons(url: str | None, events: list[str] | None, selected: list[dict[str, Any]] | None) -> tuple[bool, bool]:
        """Add needs a URL and an event; Delete needs a selected webhook."""
        return not ((url or "").strip() and events), not selected

    @app.callback(
        Output("hooks-deliveries", "rowData"),
        Input("hooks-table", "selectedRows"),
        prevent_initial_call=True,
    )
    def show_deliveries(selected: list[dict[str, Any]] | None) -> Any:
        hook_id = selected[0]["id"] if selected else None
        rows, error = attempt(lambda: delivery_rows(auth.current_user(), hook_id))
        return rows if error is None else []
