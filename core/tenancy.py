"""Tenants, their users and credentials: create, authenticate, resolve keys.

Credentials arrive before the tenant is known, so resolution goes through the SECURITY DEFINER
functions of the first migration; everything else runs in a tenant-scoped session.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core import audit, identity
from core.audit import Actor
from core.db import anonymous_session_sync, tenant_session_sync
from core.errors import Conflict, NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from core.models import KEY_ROLES, ROLES, ApiKey, Tenant, User, WidgetKey
from core.security import (
    DUMMY_PASSWORD_HASH,
    digest_key,
    hash_password,
    key_display_prefix,
    new_api_key,
    new_widget_key,
    role_allows,
    verify_password,
)
from core.versions import bump_tenant_version_sync, bump_widget_keys_version

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8


@dataclass(frozen=True)
class CreatedTenant:
    tenant_id: uuid.UUID
    name: str
    admin_user_id: uuid.UUID
    admin_email: str
    admin_api_key: str
    widget_key: str


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved from a login token or an API key."""

    tenant_id: uuid.UUID
    role: str
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None


def _check_user_input(email: str, password: str, role: str) -> str:
    email = email.strip().lower()
    if not EMAIL_RE.match(email):
        raise ValidationFailed(f"{email!r} is not a valid email address.")
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(f"The password must have at least {MIN_PASSWORD} characters.")
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}.")
    return email


FOREIGN_EMAIL = "This email address cannot be used for a new user; choose another address."


def _email_taken(email: str) -> bool:
    with anonymous_session_sync() as session:
        return bool(session.scalar(text("SELECT kefu_email_taken(:e)"), {"e": email}))


def create_tenant(
    name: str, admin_email: str, admin_password: str, *, origins: list[str] | None = None
) -> CreatedTenant:
    """Create a tenant with its owner, an owner API key and a widget key (one transaction)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed("The tenant name must be 1-200 characters.")
    email = _check_user_input(admin_email, admin_password, "owner")
    if _email_taken(email):  # the operator's command: saying so leaks nothing they cannot see
        raise Conflict(f"A user with email {email} already exists.")
    tenant_id = uuid.uuid4()
    api_key, widget_key = new_api_key(), new_widget_key()
    user_id = uuid.uuid4()
    with tenant_session_sync(tenant_id) as session:
        session.add(Tenant(id=tenant_id, name=name, settings={},
                           identity_secret=identity.seal(identity.new_identity_secret())))
        session.flush()
        session.add(User(id=user_id, tenant_id=tenant_id, email=email,
                         password_hash=hash_password(admin_password), role="owner"))
        session.add(ApiKey(tenant_id=tenant_id, name="initial owner key", prefix=key_display_prefix(api_key),
                           key_hash=digest_key(api_key), role="owner"))
        session.add(WidgetKey(tenant_id=tenant_id, key=widget_key, allowed_origins=origins or []))
    return CreatedTenant(tenant_id, name, user_id, email, api_key, widget_key)


def add_user(session: Session, tenant_id: uuid.UUID, email: str, password: str, role: str, *,
             actor: Actor | None = None, display_name: str | None = None) -> User:
    """Add a user to the tenant (roles: owner, admin, analyst, agent); 409 if the email is taken."""
    email = _check_user_input(email, password, role)
    display_name = (display_name or "").strip() or None
    if display_name is not None and len(display_name) > 200:
        raise ValidationFailed("The display name must be at most 200 characters.")
    if _email_taken(email):
        # Say which only for this tenant's own users: another tenant's users stay unnamed.
        if session.scalar(select(User.id).where(User.tenant_id == tenant_id, User.email == email)) is not None:
            raise Conflict(f"{email} is already a user of this tenant.")
        raise Conflict(FOREIGN_EMAIL)
    user = User(tenant_id=tenant_id, email=email, password_hash=hash_password(password), role=role,
                display_name=display_name)
    session.add(user)
    session.flush()
    audit.record(session, tenant_id, actor, "users.add", email, {"role": role})
    return user


def check_grantable(granter_role: str, role: str) -> None:
    """Nobody hands out more than they have: an admin cannot make owners."""
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}.")
    if not role_allows(granter_role, role):
        raise PermissionDenied(f"You are {granter_role}; you cannot grant the {role} role.")


def display_name_of(user: User) -> str:
    """The name customers see on a person's replies."""
    return user.display_name or user.email.split("@", 1)[0]


def create_api_key(session: Session, tenant_id: uuid.UUID, name: str, role: str, *,
                   actor: Actor | None = None) -> tuple[ApiKey, str]:
    """A new API key; the secret is returned once and only its digest is stored."""
    if role not in KEY_ROLES:
        raise ValidationFailed(f"An API key's role must be one of {', '.join(KEY_ROLES)}.")
    secret = new_api_key()
    key = ApiKey(tenant_id=tenant_id, name=name[:200] or "api key", prefix=key_display_prefix(secret),
                 key_hash=digest_key(secret), role=role)
    session.add(key)
    session.flush()
    audit.record(session, tenant_id, actor, "api_keys.create", f"{key.name} ({key.prefix}…)", {"role": role})
    return key, secret


def revoke_api_key(session: Session, tenant_id: uuid.UUID, key_id: uuid.UUID, *, actor: Actor | None = None) -> None:
    key = session.scalars(select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.id == key_id)).first()
    if key is None:
        raise NotFound(f"No API key {key_id} in this tenant.")
    if key.revoked_at is None:
        audit.record(session, tenant_id, actor, "api_keys.revoke", f"{key.name} ({key.prefix}…)")
    key.revoked_at = key.revoked_at or datetime.now(UTC)


def revoke_widget_key(tenant_id: uuid.UUID, key_id: uuid.UUID, *, actor: Actor | None = None) -> None:
    """Revoke a widget key in its own transaction; every API process refuses it from the next request."""
    with tenant_session_sync(tenant_id) as session:
        key = session.scalars(select(WidgetKey).where(WidgetKey.tenant_id == tenant_id, WidgetKey.id == key_id)).first()
        if key is None:
            raise NotFound(f"No widget key {key_id} in this tenant.")
        if key.revoked_at is None:
            audit.record(session, tenant_id, actor, "widget_keys.revoke", key.key[:16] + "…")
        key.revoked_at = key.revoked_at or datetime.now(UTC)
    bump_widget_keys_version()  # after the commit, so no process can re-cache the key as valid


def identity_secret(tenant_id: uuid.UUID) -> str:
    """The tenant's identity-verification secret in clear (for owners and admins), created if it has none."""
    with tenant_session_sync(tenant_id) as session:
        tenant = session.get(Tenant, tenant_id, with_for_update=True)
        if tenant is None:
            raise NotFound("No such tenant.")
        secret = identity.unseal(tenant.identity_secret)
        if secret is None:
            secret = identity.new_identity_secret()
            tenant.identity_secret = identity.seal(secret)
            audit.record(session, tenant_id, None, "identity_secret.create", "identity secret")
    return secret


def rotate_identity_secret(tenant_id: uuid.UUID, *, actor: Actor | None = None) -> str:
    """Replace the identity secret; hashes made with the old one stop verifying at once."""
    secret = identity.new_identity_secret()
    with tenant_session_sync(tenant_id) as session:
        tenant = session.get(Tenant, tenant_id, with_for_update=True)
        if tenant is None:
            raise NotFound("No such tenant.")
        tenant.identity_secret = identity.seal(secret)
        audit.record(session, tenant_id, actor, "identity_secret.rotate", "identity secret")
    bump_tenant_version_sync(tenant_id)  # every API process re-reads the secret (chat.identity)
    return secret


MAX_RETENTION_DAYS = 36500


def set_retention(tenant_id: uuid.UUID, days: int | None, *, actor: Actor | None = None) -> int | None:
    """Keep conversations `days` days after their last message (None: forever); the worker deletes older ones."""
    if days is not None and (isinstance(days, bool) or not isinstance(days, int)
                             or not 1 <= days <= MAX_RETENTION_DAYS):
        raise ValidationFailed(f"retention_days must be a whole number from 1 to {MAX_RETENTION_DAYS}, "
                               "or null to keep conversations.")
    with tenant_session_sync(tenant_id) as session:
        tenant = session.get(Tenant, tenant_id, with_for_update=True)
        if tenant is None:
            raise NotFound("No such tenant.")
        if tenant.retention_days != days:
            audit.record(session, tenant_id, actor, "settings.retention", "conversation retention",
                         {"from": tenant.retention_days, "to": days})
        tenant.retention_days = days
    return days


RESOLVE_API_KEY = text("SELECT tenant_id, key_id, role FROM kefu_resolve_api_key(:h)")
RESOLVE_WIDGET_KEY = text("SELECT tenant_id, key_id, allowed_origins FROM kefu_resolve_widget_key(:k)")
FIND_LOGIN = text("SELECT user_id, tenant_id, password_hash, role, is_active FROM kefu_find_login(:e)")


ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-]+(:\d{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
MAX_ORIGINS = 50


def set_widget_origins(tenant_id: uuid.UUID, key_id: uuid.UUID, lines: list[str], *,
                       actor: Actor | None = None) -> list[str]:
    """Replace a widget key's allowed origins (scheme://host[:port]); every API process drops its cached key."""
    origins = list(dict.fromkeys(line.strip().rstrip("/").lower() for line in lines if line.strip()))
    bad = [o for o in origins if not ORIGIN.match(o)]
    if bad:
        raise ValidationFailed(f"Not an origin: {', '.join(bad)}. Write scheme://host[:port], "
                               "e.g. https://shop.example.com.")
    if len(origins) > MAX_ORIGINS:
        raise ValidationFailed(f"At most {MAX_ORIGINS} origins per widget key.")
    with tenant_session_sync(tenant_id) as session:
        key = session.scalars(select(WidgetKey).where(WidgetKey.tenant_id == tenant_id,
                                                      WidgetKey.id == key_id)).first()
        if key is None:
            raise NotFound("No such widget key in this tenant.")
        if list(key.allowed_origins) != origins:
            audit.record(session, tenant_id, actor, "widget_keys.origins", key.key[:16] + "…", {"origins": origins})
        key.allowed_origins = origins
    bump_widget_keys_version()  # after the commit: an origin taken away stops working at once
    return origins


def check_login(row: object | None, password: str) -> Principal:
    """Verify a password against a `kefu_find_login` row (constant work when the user is unknown)."""
    if row is None:
        verify_password(DUMMY_PASSWORD_HASH, password)
        raise NotAuthenticated("Wrong email or password.")
    if not verify_password(row.password_hash, password) or not row.is_active:  # type: ignore[attr-defined]
        raise NotAuthenticated("Wrong email or password.")
    return Principal(tenant_id=row.tenant_id, role=row.role, user_id=row.user_id)  # type: ignore[attr-defined]


def tenant_timezone(session: Session, tenant_id: uuid.UUID) -> str:
    """The tenant's IANA time zone (Settings → Time zone); 'UTC' until one is chosen."""
    stored = session.scalar(select(Tenant.settings).where(Tenant.id == tenant_id)) or {}
    name = stored.get("timezone")
    return name if isinstance(name, str) and _known_zone(name) else "UTC"


def set_timezone(tenant_id: uuid.UUID, name: str, *, actor: Actor | None = None) -> str:
    """Store the tenant's time zone, an IANA name such as Asia/Shanghai; charts, tables and exports use it."""
    name = (name or "").strip()
    if not _known_zone(name):
        raise ValidationFailed(f"{name!r} is not a time zone; use an IANA name such as Asia/Shanghai or Europe/Berlin.")
    with tenant_session_sync(tenant_id) as session:
        tenant = session.get(Tenant, tenant_id, with_for_update=True)
        if tenant is None:
            raise NotFound("No such tenant.")
        before = (tenant.settings or {}).get("timezone")
        if before != name:
            audit.record(session, tenant_id, actor, "settings.timezone", "time zone",
                         {"from": before or "UTC", "to": name})
        tenant.settings = {**(tenant.settings or {}), "timezone": name}
    return name


def _known_zone(name: str) -> bool:
    import zoneinfo

    if not name or len(name) > 64 or name.startswith("/") or ".." in name:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


ONBOARDING_MARKS = ("tag_copied",)


def mark_onboarding(tenant_id: uuid.UUID, mark: str) -> None:
    """Remember a first-run step that leaves no other trace (the widget tag was copied)."""
    if mark not in ONBOARDING_MARKS:
        raise ValidationFailed(f"Unknown onboarding step {mark!r}.")
    with tenant_session_sync(tenant_id) as session:
        tenant = session.get(Tenant, tenant_id, with_for_update=True)
        if tenant is None:
            raise NotFound("No such tenant.")
        done = dict((tenant.settings or {}).get("onboarding") or {})
        if not done.get(mark):
            tenant.settings = {**(tenant.settings or {}), "onboarding": {**done, mark: True}}


def adopt_timezone(tenant_id: uuid.UUID, name: str, *, actor: Actor | None = None) -> str | None:
    """Store `name` as the tenant's time zone only if none was chosen yet (the browser's default)."""
    with tenant_session_sync(tenant_id) as session:
        stored = session.scalar(select(Tenant.settings).where(Tenant.id == tenant_id)) or {}
    if stored.get("timezone"):
        return None
    return set_timezone(tenant_id, name, actor=actor)
