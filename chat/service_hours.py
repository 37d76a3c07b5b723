"""When people answer: a tenant's office hours, time zone and hand-off emails, in `tenants.settings["service"]`.

Outside office hours (or, once agents sign in to an inbox, when none is online) the widget says so
and asks for an email or phone number instead of promising a quick answer (chat.contact).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from core.models import Tenant

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
MAX_SPANS_PER_DAY = 4


def _default_hours() -> dict[str, list[str]]:
    return {day: (["09:00-18:00"] if day not in ("sat", "sun") else []) for day in DAYS}


@dataclass(frozen=True)
class ServiceSettings:
    # False: someone answers at any hour (the default until a tenant sets its hours).
    office_hours_enabled: bool = False
    timezone: str = "UTC"
    # Per weekday, spans "HH:MM-HH:MM" in the tenant's time zone (end 24:00 = midnight).
    hours: dict[str, list[str]] = field(default_factory=_default_hours)
    # Email the tenant's owners, admins and agents when a customer asks for a person (needs KEFU_SMTP_URL).
    handoff_emails: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _spans(day: str, raw: object) -> list[str]:
    if not isinstance(raw, list) or len(raw) > MAX_SPANS_PER_DAY:
        raise ValidationFailed(f'hours.{day} must be a list of at most {MAX_SPANS_PER_DAY} spans like "09:00-18:00".')
    for span in raw:
        match = _SPAN.match(span) if isinstance(span, str) else None
        if match is None or span[6:] == "24:01" or (match.group(3) == "24" and match.group(4) != "00"):
            raise ValidationFailed(f'hours.{day}: {span!r} is not a span like "09:00-18:00" (24-hour clock).')
        if span[:5] >= span[6:]:
            raise ValidationFailed(
                f"hours.{day}: {span} ends before it starts; split a span across midnight into two days."
            )
    return list(raw)


def validate(current: ServiceSettings, changes: dict[str, Any]) -> ServiceSettings:
    """Apply `changes`, refusing unknown keys, unknown time zones and malformed spans (422)."""
    known = set(ServiceSettings.__dataclass_fields__)
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ValidationFailed(f"Unknown service settings: {', '.join(unknown)}. Known: {', '.join(sorted(known))}.")
    for name in ("office_hours_enabled", "handoff_emails"):
        if name in changes and not isinstance(changes[name], bool):
            raise ValidationFailed(f"{name} must be true or false.")
    if "timezone" in changes:
        zone = changes["timezone"]
        if not isinstance(zone, str) or zone not in available_timezones():
            raise ValidationFailed(
                f"timezone {zone!r} is not an IANA time zone such as Asia/Shanghai or Europe/Berlin."
            )
    if "hours" in changes:
        raw = changes["hours"]
        if not isinstance(raw, dict) or set(raw) - set(DAYS):
            raise ValidationFailed(f'hours must map days ({", ".join(DAYS)}) to lists of spans like "09:00-18:00".')
        changes = {**changes, "hours": {day: _spans(day, raw.get(day, current.hours.get(day, []))) for day in DAYS}}
    return replace(current, **changes)


def from_stored(raw: dict[str, Any] | None) -> ServiceSettings:
    known = set(ServiceSettings.__dataclass_fields__)
    return ServiceSettings(**{k: v for k, v in (raw or {}).items() if k in known})


async def load(session: AsyncSession, tenant_id: uuid.UUID) -> ServiceSettings:
    stored = await session.scalar(select(Tenant.settings).where(Tenant.id == tenant_id))
    return from_stored((stored or {}).get("service"))


def load_sync(session: Session, tenant_id: uuid.UUID) -> ServiceSettings:
    stored = session.scalar(select(Tenant.settings).where(Tenant.id == tenant_id))
    return from_stored((stored or {}).get("service"))


def write(session: Session, tenant_id: uuid.UUID, changes: dict[str, Any]) -> ServiceSettings:
    """Validate and store `changes` (nothing is written when any value is refused)."""
    tenant = session.get(Tenant, tenant_id, with_for_update=True)
    if tenant is None:
        raise ValidationFailed("Unknown tenant.")
    updated = validate(from_stored((tenant.settings or {}).get("service")), changes)
    tenant.settings = {**(tenant.settings or {}), "service": updated.as_dict()}
    return updated


def _minutes(text: str) -> int:
    return int(text[:2]) * 60 + int(text[3:])


def is_open(settings: ServiceSettings, at: datetime | None = None) -> bool:
    """True when `at` (default now) falls inside the tenant's office hours, in its time zone."""
    if not settings.office_hours_enabled:
        return True
    try:
        zone = ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = (at or datetime.now(UTC)).astimezone(zone)
    minute = local.hour * 60 + local.minute
    spans = settings.hours.get(DAYS[local.weekday()], [])
    return any(_minutes(s[:5]) <= minute < _minutes(s[6:]) for s in spans)
