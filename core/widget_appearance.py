"""How the widget looks on a tenant's site: colour, corner, title, avatar and starter questions.

Stored in `tenants.settings["widget"]` and written into the tag that the admin app and the API
hand out (`widget_tag`): the launcher must look right before the widget makes any request. The
greeting is the bot's (`chat.bot_settings`), fetched when the panel opens, so changing it needs
no new tag.
"""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import asdict, dataclass, fields, replace
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.audit import Actor
from core.db import tenant_session_sync
from core.errors import ValidationFailed
from core.models import Tenant

DEFAULT_COLOR = "#2f6f4f"
POSITIONS = ("right", "left")
MAX_STARTERS = 6
MAX_STARTER_CHARS = 120
MAX_TITLE_CHARS = 80
_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class WidgetAppearance:
    color: str = DEFAULT_COLOR
    position: str = "right"
    title: str = ""  # "": the shop's (tenant's) name
    avatar: str = ""  # an http(s) image URL, or "" for none
    starters: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "starters": list(self.starters)}


def validate_appearance(current: WidgetAppearance, changes: dict[str, Any]) -> WidgetAppearance:
    """Apply `changes`, refusing unknown keys and values a tag could not carry (422 with the rule)."""
    known = {f.name for f in fields(WidgetAppearance)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ValidationFailed(f"Unknown widget settings: {', '.join(unknown)}. Known: {', '.join(sorted(known))}.")
    clean: dict[str, Any] = {}
    if "color" in changes:
        color = str(changes["color"] or "").strip()
        if not _HEX_COLOR.match(color):
            raise ValidationFailed("color must be a hex colour like #2f6f4f.")
        clean["color"] = color.lower()
    if "position" in changes:
        if changes["position"] not in POSITIONS:
            raise ValidationFailed("position must be right or left.")
        clean["position"] = changes["position"]
    if "title" in changes:
        title = " ".join(str(changes["title"] or "").split())
        if len(title) > MAX_TITLE_CHARS:
            raise ValidationFailed(f"title must be at most {MAX_TITLE_CHARS} characters.")
        clean["title"] = title
    if "avatar" in changes:
        clean["avatar"] = _avatar(str(changes["avatar"] or "").strip())
    if "starters" in changes:
        clean["starters"] = _starters(changes["starters"])
    return replace(current, **clean)


def _avatar(url: str) -> str:
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or len(url) > 500 or '"' in url:
        raise ValidationFailed("avatar must be an https:// address of an image (at most 500 characters).")
    return url


def _starters(value: Any) -> tuple[str, ...]:
    items = value.splitlines() if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(q, str) for q in items):
        raise ValidationFailed("starters must be a list of questions (one per line).")
    questions = [" ".join(q.replace("|", "/").split()) for q in items]
    questions = [q for q in questions if q]
    if len(questions) > MAX_STARTERS:
        raise ValidationFailed(f"Give at most {MAX_STARTERS} starter questions.")
    if any(len(q) > MAX_STARTER_CHARS for q in questions):
        raise ValidationFailed(f"Each starter question must be at most {MAX_STARTER_CHARS} characters.")
    return tuple(questions)


def from_stored(raw: dict[str, Any] | None) -> WidgetAppearance:
    known = {f.name for f in fields(WidgetAppearance)}
    values = {k: v for k, v in (raw or {}).items() if k in known}
    if "starters" in values:
        values["starters"] = tuple(values["starters"] or ())
    return WidgetAppearance(**values)


def load_appearance(session: Session, tenant_id: uuid.UUID) -> tuple[WidgetAppearance, str]:
    """The tenant's widget appearance and the shop's name (the default title)."""
    row = session.execute(select(Tenant.settings, Tenant.name).where(Tenant.id == tenant_id)).first()
    if row is None:
        return WidgetAppearance(), ""
    return from_stored((row.settings or {}).get("widget")), row.name


def save_appearance(tenant_id: uuid.UUID, changes: dict[str, Any], *, actor: Actor | None = None) -> WidgetAppearance:
    """Validate and store widget settings; a refused value leaves everything as it was."""
    with tenant_session_sync(tenant_id) as session:
        tenant = session.get(Tenant, tenant_id, with_for_update=True)
        if tenant is None:
            raise ValidationFailed("Unknown tenant.")
        updated = validate_appearance(from_stored((tenant.settings or {}).get("widget")), changes)
        tenant.settings = {**(tenant.settings or {}), "widget": updated.as_dict()}
        audit.record(session, tenant_id, actor, "settings.widget", "widget appearance", {"changed": sorted(changes)})
    return updated


def tag_attributes(appearance: WidgetAppearance, shop_name: str) -> dict[str, str]:
    """The tag's data-* attributes for this appearance (defaults left out, the shop's name as title)."""
    attributes = {"title": appearance.title or shop_name}
    if appearance.color != DEFAULT_COLOR:
        attributes["color"] = appearance.color
    if appearance.position != "right":
        attributes["position"] = appearance.position
    if appearance.avatar:
        attributes["avatar"] = appearance.avatar
    if appearance.starters:
        attributes["starters"] = "|".join(appearance.starters)
    return {k: v for k, v in attributes.items() if v}


def widget_tag(
    base_url: str, widget_key: str, appearance: WidgetAppearance, shop_name: str, extra: dict[str, str] | None = None
) -> str:
    """The `<script>` tag to paste on the shop's site, every value HTML-escaped."""
    attributes = {"key": widget_key, **tag_attributes(appearance, shop_name), **(extra or {})}
    data = "".join(f' data-{name}="{html.escape(value)}"' for name, value in attributes.items())
    return f'<script src="{html.escape(base_url.rstrip("/"))}/widget/kefu.js"{data} async></script>'
