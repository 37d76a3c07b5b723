"""Who is signed in to the admin app, and may they do this.

Login uses the same users, passwords and roles as the API (`core.tenancy`). The Flask session
cookie (signed with `KEFU_SECRET_KEY`, HttpOnly, SameSite=Lax) holds only the user id and
tenant id; the user row is re-read on every request, so a deactivated user or a changed role
takes effect at once. Every callback that changes something calls `require()` itself: hiding a
button from an analyst is a courtesy, not the check.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import flask
from sqlalchemy import select

from core.db import anonymous_session_sync, tenant_session_sync
from core.errors import NotAuthenticated, PermissionDenied
from core.login_throttle import begin_login_attempt_sync, login_succeeded_sync
from core.models import Tenant, User
from core.security import role_allows
from core.tenancy import FIND_LOGIN, check_login, tenant_timezone

_SESSION_KEYS = ("user_id", "tenant_id")


@dataclass(frozen=True)
class SignedInUser:
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    role: str
    tenant_name: str = ""
    timezone: str = "UTC"  # the tenant's (Settings → Time zone): every time shown is in it

    def can(self, role: str) -> bool:
        return role_allows(self.role, role)


def authenticate(email: str, password: str, address: str) -> SignedInUser:
    """Check an email and password; raise NotAuthenticated with one message for any mismatch.

    Attempts share the API's brute-force counter (per account and client address), so switching
    between the API and this form does not buy more guesses.
    """
    email = (email or "").strip().lower()
    begin_login_attempt_sync(email, address)
    with anonymous_session_sync() as session:
        row = session.execute(FIND_LOGIN, {"e": email}).first()
    principal = check_login(row, password or "")
    assert principal.user_id is not None
    login_succeeded_sync(email, address)
    return load_user(principal.tenant_id, principal.user_id)


def load_user(tenant_id: uuid.UUID, user_id: uuid.UUID) -> SignedInUser:
    """The user as stored now; NotAuthenticated if they are gone or deactivated."""
    with tenant_session_sync(tenant_id) as session:
        user = session.scalars(select(User).where(User.id == user_id)).first()
        tenant_name = session.scalar(select(Tenant.name).where(Tenant.id == tenant_id)) or ""
        if user is None or not user.is_active:
            raise NotAuthenticated("This user no longer has access; sign in again.")
        return SignedInUser(tenant_id, user.id, user.email, user.role, tenant_name,
                            tenant_timezone(session, tenant_id))


def sign_in(user: SignedInUser) -> None:
    flask.session.clear()
    flask.session["user_id"] = str(user.user_id)
    flask.session["tenant_id"] = str(user.tenant_id)
    flask.session.permanent = True


def sign_out() -> None:
    language = flask.session.get("lang")
    flask.session.clear()
    if language:
        flask.session["lang"] = language


def current_user() -> SignedInUser:
    """The signed-in user of this request (cached per request); NotAuthenticated otherwise."""
    cached = flask.g.get("kefu_user")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    if not all(key in flask.session for key in _SESSION_KEYS):
        raise NotAuthenticated("Sign in to use the admin app.")
    try:
        tenant_id, user_id = uuid.UUID(flask.session["tenant_id"]), uuid.UUID(flask.session["user_id"])
    except (ValueError, TypeError) as exc:
        raise NotAuthenticated("Sign in again.") from exc
    user = load_user(tenant_id, user_id)
    flask.g.kefu_user = user
    return user


def require(user: SignedInUser, role: str) -> None:
    """Refuse the action unless `user` has at least `role` (owner > admin > analyst)."""
    if not user.can(role):
        raise PermissionDenied(f"This needs the {role} role; you are signed in as {user.role}.")
