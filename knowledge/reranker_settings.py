"""A tenant's own reranker: on/off, its `/rerank` endpoint, and the curve fitted for it.

Stored in `tenants.settings["reranker"]`; the endpoint's API key is write-only, sealed at rest in
`tenants.reranker_secret` (core.sealing, its own purpose) and never returned, logged, audited or
exported: views show `reranker_api_key_set`. Admins change these through the bot settings
(`PUT /api/v1/settings/bot`, Settings → Reranker in the admin app); `chat.bot_settings` hands the
`reranker*` fields here, so the write stays one transaction and one version bump.

Which reranker a search then uses (`knowledge.reranker.resolve`): none when `reranker` is off;
the tenant's endpoint when it set a URL; else the operator's (`KEFU_RERANK_*`, off unless set).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field, fields, replace
from threading import Lock
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Session

from core import sealing
from core.errors import ValidationFailed
from core.models import Tenant
from core.outbound import UnsafeDestinationError, resolve_destination
from core.settings import get_settings

APIS = ("cohere", "tei")  # cohere: Jina, Cohere, Infinity, vLLM ({documents, top_n}); tei: Hugging Face TEI
_PURPOSE = "reranker api key v1"
_KEY_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))  # printable ASCII without spaces
_CACHE_SECONDS = 30.0  # how long a lookup serves while Redis gives no knowledge version


@dataclass(frozen=True)
class RerankerSettings:
    enabled: bool = True  # off: no reranker for this tenant, not even the operator's
    url: str | None = None  # the tenant's `/rerank` endpoint; None: the operator's reranker, if any
    api: str = "cohere"
    model: str | None = None
    # The logistic curve from the tenant reranker's top score to the bot's confidence, as
    # bench/rerank_calibration.py prints it for the tenant's labelled questions. None: not fitted,
    # and the answer gate keeps the fused score's curve (the reranker only reorders).
    confidence_centre: float | None = None
    confidence_scale: float | None = None
    sealed_key: str | None = field(default=None, repr=False, compare=False)

    @property
    def api_key(self) -> str | None:
        return sealing.unseal(self.sealed_key, _PURPOSE)

    def stored(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "sealed_key"}


# The names in the bot settings API and the admin app, and the setting each one is.
API_FIELDS = {"reranker": "enabled", "reranker_url": "url", "reranker_api": "api", "reranker_model": "model",
              "reranker_confidence_centre": "confidence_centre", "reranker_confidence_scale": "confidence_scale"}
KEY_FIELD = "reranker_api_key"
ALL_FIELDS = (*API_FIELDS, KEY_FIELD)


def from_stored(raw: dict[str, Any] | None, sealed_key: str | None = None) -> RerankerSettings:
    known = {f.name for f in fields(RerankerSettings)} - {"sealed_key"}
    return RerankerSettings(**{k: v for k, v in (raw or {}).items() if k in known}, sealed_key=sealed_key)


def public_view(settings: RerankerSettings) -> dict[str, Any]:
    """The settings under their API names; the key only as `reranker_api_key_set`."""
    return {**{name: getattr(settings, attr) for name, attr in API_FIELDS.items()},
            "reranker_api_key_set": bool(settings.api_key)}


def validate(current: RerankerSettings, changes: dict[str, Any]) -> RerankerSettings:
    """`current` with the API-named `changes` applied; 422 naming the field for a refused value."""
    updated: dict[str, Any] = {}
    for name, value in changes.items():
        if name == KEY_FIELD:
            continue
        if name == "reranker":
            if not isinstance(value, bool):
                raise ValidationFailed("reranker must be true or false.")
        elif name == "reranker_url":
            value = check_url(value)
        elif name == "reranker_api":
            if value not in APIS:
                raise ValidationFailed(f"reranker_api must be one of {', '.join(APIS)}.")
        elif name == "reranker_model":
            if value is not None and (not isinstance(value, str) or len(value) > 200):
                raise ValidationFailed("reranker_model must be text of at most 200 characters.")
            value = value.strip() or None if isinstance(value, str) else None
        elif name in ("reranker_confidence_centre", "reranker_confidence_scale"):
            value = _curve_number(name, value)
        updated[API_FIELDS[name]] = value
    result = replace(current, **updated)
    if (result.confidence_centre is None) != (result.confidence_scale is None):
        raise ValidationFailed("reranker_confidence_centre and reranker_confidence_scale are set together "
                               "(both as bench/rerank_calibration.py prints them) or both left empty.")
    return result


def _curve_number(name: str, value: Any) -> float | None:
    if value is None or value == "":
        return None
    low, high = (-1000.0, 1000.0) if name.endswith("centre") else (0.0001, 1000.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValidationFailed(f"{name} must be a number between {low:g} and {high:g} (or empty).")
    return float(value)


def check_url(value: Any) -> str | None:
    """The endpoint's URL as stored: http(s), a host, no credentials; '' or None clears it."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value) > 500:
        raise ValidationFailed("reranker_url must be a URL of at most 500 characters.")
    try:
        url = httpx.URL(value.strip())
    except (httpx.InvalidURL, ValueError) as exc:
        raise ValidationFailed(f"reranker_url is not a valid URL: {exc}.") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ValidationFailed("reranker_url must start with http:// or https:// and name a host, "
                               "e.g. https://rerank.example.com/rerank.")
    if url.userinfo:
        raise ValidationFailed("reranker_url must not contain a user name or password; use reranker_api_key.")
    return str(url)


def check_destination(url: str) -> None:
    """Refuse (422) an endpoint whose host resolves to an address the SSRF guard forbids.

    The same rule as the tenant's model and speech-to-text endpoints (KEFU_LLM_ALLOW_PRIVATE_HOSTS),
    checked again at every call against what the host resolves to then.
    """
    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        asyncio.run(resolve_destination(parsed.raw_host.decode("ascii"), port,
                                        allow_private=get_settings().llm_allow_private_hosts))
    except UnsafeDestinationError as exc:
        hint = (" (an operator may allow model hosts on private networks with KEFU_LLM_ALLOW_PRIVATE_HOSTS)"
                if "private" in str(exc) else "")
        raise ValidationFailed(f"reranker_url is not allowed: {exc}{hint}.") from exc


def sealed_key(value: Any) -> str | None:
    """The sealed key after a write: None or "" removes it; refuses what no vendor issues."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= 500 or not set(value.strip()) <= _KEY_CHARS:
        raise ValidationFailed("reranker_api_key must be the key as the vendor issued it: 1-500 printable "
                               "characters without spaces (or null to remove it).")
    return sealing.seal(value.strip(), _PURPOSE)


def apply(tenant: Tenant, changes: dict[str, Any]) -> RerankerSettings:
    """Validate and set the `reranker*` changes on a locked tenant row (the caller commits)."""
    current = from_stored((tenant.settings or {}).get("reranker"), tenant.reranker_secret)
    updated = validate(current, changes)
    secret = sealed_key(changes[KEY_FIELD]) if KEY_FIELD in changes \
        else tenant.reranker_secret
    tenant.settings = {**(tenant.settings or {}), "reranker": updated.stored()}
    tenant.reranker_secret = secret
    forget(tenant.id)
    return replace(updated, sealed_key=secret)


def load_sync(session: Session, tenant_id: uuid.UUID) -> RerankerSettings:
    row = session.execute(select(Tenant.settings, Tenant.reranker_secret).where(Tenant.id == tenant_id)).first()
    return from_stored((row[0] or {}).get("reranker"), row[1]) if row else from_stored(None)


_SELECT = text("SELECT settings -> 'reranker', reranker_secret FROM tenants WHERE id = :t")


class _Lookups:
    """tenant → (knowledge version, when read, its settings): a search reads them once per version."""

    def __init__(self) -> None:
        self._items: dict[uuid.UUID, tuple[int | None, float, RerankerSettings]] = {}
        self._lock = Lock()

    def get(self, tenant_id: uuid.UUID, version: int | None) -> RerankerSettings | None:
        with self._lock:
            entry = self._items.get(tenant_id)
        if entry is None or entry[0] != version or time.monotonic() - entry[1] > _CACHE_SECONDS:
            return None
        return entry[2]

    def put(self, tenant_id: uuid.UUID, version: int | None, found: RerankerSettings) -> None:
        with self._lock:
            self._items[tenant_id] = (version, time.monotonic(), found)
            if len(self._items) > 10_000:
                self._items.pop(next(iter(self._items)))

    def forget(self, tenant_id: uuid.UUID) -> None:
        with self._lock:
            self._items.pop(tenant_id, None)


_lookups = _Lookups()


def forget(tenant_id: uuid.UUID) -> None:
    _lookups.forget(tenant_id)


async def for_search(connection: AsyncConnection, tenant_id: uuid.UUID, version: int | None) -> RerankerSettings:
    """The tenant's reranker settings for a search (read once per knowledge version)."""
    found = _lookups.get(tenant_id, version)
    if found is None:
        row = (await connection.execute(_SELECT, {"t": tenant_id})).first()
        found = from_stored(row[0], row[1]) if row else from_stored(None)
        _lookups.put(tenant_id, version, found)
    return found


def for_search_sync(session: Session, tenant_id: uuid.UUID, version: int | None) -> RerankerSettings:
    found = _lookups.get(tenant_id, version)
    if found is None:
        row = session.execute(_SELECT, {"t": tenant_id}).first()
        found = from_stored(row[0], row[1]) if row else from_stored(None)
        _lookups.put(tenant_id, version, found)
    return found
