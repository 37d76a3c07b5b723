"""The embeddable widget: its script, what it asks the API at start-up, and the demo shop page.

`GET /widget/kefu.js` is the one file a tenant's site loads. It is served gzipped when the browser
accepts it, with an ETag and a short cache lifetime (the URL carries no version, so browsers
revalidate every few minutes and pick up a new release without the tenant changing their tag).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import html
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, put
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy import select

from backend.api.auth import CurrentPrincipal, requires
from backend.api.widget_auth import CurrentWidget, resolve_widget
from backend.api.widget_identity import header_asker
from backend.api.widget_sources import conversation_sources
from chat import contact
from chat.engine import settings_for
from chat.voice import transcription_config
from core import tenancy
from core.audit import Actor
from core.db import tenant_session
from core.errors import KefuError, NotFound, ValidationFailed
from core.identity import USER_ID
from core.models import WidgetKey
from core.security import role_allows
from core.settings import get_settings
from core.widget_appearance import WidgetAppearance, load_appearance, save_appearance, widget_tag

WIDGET_DIR = Path(__file__).resolve().parents[3] / "widget"
SCRIPT = WIDGET_DIR / "kefu.js"
SHOP_PAGE = WIDGET_DIR / "demo" / "shop.html"
CACHE_CONTROL = "public, max-age=300, stale-while-revalidate=86400"
WIDGET_KEY = re.compile(r"^[A-Za-z0-9_-]{8,100}$")


@dataclass(frozen=True)
class _Served:
    mtime_ns: int
    plain: bytes
    gzipped: bytes
    etag: str


_served: _Served | None = None


def widget_script() -> _Served:
    """The script and its gzip form, re-read only when the file changes (edits show up without a restart)."""
    global _served
    try:
        mtime_ns = SCRIPT.stat().st_mtime_ns
    except FileNotFoundError as exc:
        raise NotFound("The widget script is not installed (widget/kefu.js is missing).") from exc
    if _served is None or _served.mtime_ns != mtime_ns:
        plain = SCRIPT.read_bytes()
        _served = _Served(
            mtime_ns, plain, gzip.compress(plain, 9, mtime=0), '"' + hashlib.sha256(plain).hexdigest()[:32] + '"'
        )
    return _served




@get(
    "/widget/kefu.js",
    summary="The widget script (one tag on the tenant's site)",
    include_in_schema=False,
    sync_to_thread=False,
)
def serve_widget_script(request: Request[Any, Any, Any]) -> Response[bytes]:
    served = widget_script()
    headers = {
        "Cache-Control": CACHE_CONTROL,
        "ETag": served.etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    media_type = "text/javascript; charset=utf-8"
    if served.etag in request.headers.get("if-none-match", ""):
        return Response(b"", status_code=304, headers=headers, media_type=media_type)
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        return Response(served.gzipped, headers={**headers, "Content-Encoding": "gzip"}, media_type=media_type)
    return Response(served.plain, headers=headers, media_type=media_type)


@get("/demo/shop", summary="A sample shop page with the widget installed", include_in_schema=False)
async def demo_shop(
    request: Request[Any, Any, Any],
    key: Annotated[str, QueryParameter()],
    lang: Annotated[str, QueryParameter(required=False)] = "",
    user: Annotated[str, QueryParameter(required=False)] = "",
    hash: Annotated[str, QueryParameter(required=False)] = "",  # the query parameter is named hash
) -> Response[str]:
    """Off in production: it exists so a newcomer running `kefu demo` sees the widget working.

    The tag carries the tenant's widget settings. `user` and `hash` play the shop's server signing
    in a customer (`kefu demo` prints such a link): the page only passes them on, it signs nothing.
    """
    if get_settings().env == "production":
        raise NotFound("The demo shop is available only outside production.")
    if not WIDGET_KEY.match(key):
        raise ValidationFailed("key must be a widget key (letters, digits, '_' or '-').")
    if lang not in ("", "zh", "en"):
        raise ValidationFailed("lang must be 'zh' or 'en' (or left out to follow the browser).")
    user_hash = hash
    if bool(user) != bool(user_hash) or (user and not (USER_ID.match(user) and _HEX_HASH.match(user_hash))):
        raise ValidationFailed("Give both user (a user id) and hash (its 64-hex-digit signature), or neither.")
    base = str(request.base_url).rstrip("/")
    appearance, shop_name = await _appearance_of(request)
    extra = {"lang": lang} if lang else {}
    if user:
        extra |= {"user-id": user, "user-hash": user_hash}
    signed_in = (f'<p class="signed-in">Signed in as customer {html.escape(user)} · 已登录客户 {html.escape(user)}</p>'
                 if user else "")
    page = (SHOP_PAGE.read_text(encoding="utf-8")
            .replace("<!--KEFU_WIDGET-->", widget_tag(base, key, appearance, shop_name, extra))
            .replace("<!--KEFU_SIGNED_IN-->", signed_in))
    return Response(
        page,
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


_HEX_HASH = re.compile(r"^[0-9a-fA-F]{64}$")


async def _appearance_of(request: Request[Any, Any, Any]) -> tuple[WidgetAppearance, str]:
    """The widget settings of the key's tenant; defaults for a key that is unknown or revoked."""
    try:
        widget = await resolve_widget(request)
    except KefuError:
        return WidgetAppearance(), "Lotus Tea House · 莲花茶舍"
    async with tenant_session(widget.tenant_id) as session:
        return await session.run_sync(load_appearance, widget.tenant_id)


class WidgetController(Controller):
    """What the widget asks besides chatting: its configuration and the sources of its answers."""

    path = "/api/v1/widget"
    tags = ["widget"]

    @get("/config", summary="Greeting, language and voice availability for the widget (also checks key and origin)")
    async def config(self, widget: CurrentWidget) -> dict[str, Any]:
        settings = await settings_for(widget.tenant_id)
        return {"greeting": settings.greeting, "language": settings.language,
                "service": await contact.availability(widget.tenant_id),
                "voice": voice_config(settings)}

    @get("/conversations/{conversation_id:uuid}/sources", summary="Passages cited by the conversation's answers")
    async def sources(
        self,
        request: Request[Any, Any, Any],
        widget: CurrentWidget,
        conversation_id: FromPath[uuid.UUID],
        visitor_id: Annotated[str | None, QueryParameter(required=False)] = None,
        message_id: Annotated[uuid.UUID | None, QueryParameter(required=False)] = None,
    ) -> dict[str, Any]:
        asker = await header_asker(request, widget, visitor_id)
        found = await conversation_sources(widget.tenant_id, conversation_id, asker, message_id)
        return {"conversation_id": str(conversation_id), "sources": found}


@get(
    "/api/v1/settings/widget",
    guards=[requires("analyst")],
    tags=["settings"],
    summary="The tag to paste on the tenant's site, per widget key, with its allowed origins",
)
async def widget_install(request: Request[Any, Any, Any], principal: CurrentPrincipal) -> dict[str, Any]:
    """Owners and admins also get the identity secret (analysts never: it lets its holder sign in as anyone)."""
    base = str(request.base_url).rstrip("/")
    async with tenant_session(principal.tenant_id) as session:
        appearance, shop_name = await session.run_sync(load_appearance, principal.tenant_id)
        keys = (
            await session.scalars(
                select(WidgetKey).where(WidgetKey.revoked_at.is_(None)).order_by(WidgetKey.created_at)
            )
        ).all()
        install: dict[str, Any] = {
            "script_url": f"{base}/widget/kefu.js",
            "options": ["data-color", "data-position", "data-title", "data-avatar", "data-starters", "data-greeting",
                        "data-lang", *USER_OPTIONS],
            "appearance": appearance.as_dict(),
            "keys": [
                {"widget_key": k.key, "allowed_origins": list(k.allowed_origins),
                 "snippet": widget_tag(base, k.key, appearance, shop_name)}
                for k in keys
            ],
        }
    if role_allows(principal.role, "admin"):
        install["identity_secret"] = await asyncio.to_thread(tenancy.identity_secret, principal.tenant_id)
    return install


@put(
    "/api/v1/settings/widget/appearance",
    guards=[requires("admin")],
    tags=["settings"],
    summary="Change the widget's look (colour, position, title, avatar, starters); the tag carries it",
)
async def change_widget_appearance(principal: CurrentPrincipal, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Fields left out keep their value; `GET /api/v1/settings/widget` then hands out the new tag."""
    look = await asyncio.to_thread(lambda: save_appearance(principal.tenant_id, data, actor=Actor.of(principal)))
    return look.as_dict()


def voice_config(settings: Any) -> dict[str, Any]:
    """Whether the widget shows its microphone, and the recording limits it enforces itself."""
    app = get_settings()
    return {"available": transcription_config(settings) is not None,
            "max_seconds": int(app.voice_max_seconds), "max_bytes": app.voice_max_bytes}


# Identity verification of signed-in customers (core.identity, docs/widget.md).
USER_OPTIONS = ["data-user-id", "data-user-hash", "data-user-name", "data-user-email", "data-user-details-hash"]
