"""Credentials: password hashing, API and widget keys, signed login tokens.

Passwords use argon2. API keys are random 256-bit secrets, so a fast SHA-256 digest is a safe
lookup key (no brute force is possible against that much entropy); only the digest and a short
display prefix are stored. Login tokens are HMAC-signed, carry tenant, user, role and expiry, and
are re-checked against the user row on every request so a deactivated user loses access at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import NotAuthenticated
from core.settings import get_settings

API_KEY_PREFIX = "kefu_sk_"
WIDGET_KEY_PREFIX = "kefu_wk_"
TOKEN_PREFIX = "kefu_tk_"
# Who may act with a role's rights: owners and admins do everything; an analyst (reports, exports)
# and an agent (the inbox: reading conversations, replying) each keep to their own lane.
ROLE_GRANTED_TO = {
    "owner": frozenset({"owner"}),
    "admin": frozenset({"owner", "admin"}),
    "analyst": frozenset({"owner", "admin", "analyst"}),
    "agent": frozenset({"owner", "admin", "agent"}),
}

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Verifying against a real hash when the email is unknown keeps login timing uniform.
DUMMY_PASSWORD_HASH = _hasher.hash("kefu-timing-equaliser")


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def new_widget_key() -> str:
    return WIDGET_KEY_PREFIX + secrets.token_urlsafe(18)


def digest_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_display_prefix(key: str) -> str:
    return key[: len(API_KEY_PREFIX) + 6]


@dataclass(frozen=True)
class TokenClaims:
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    role: str
    expires_at: int


def _sign(payload: bytes) -> str:
    key = get_settings().secret_key.encode()
    return base64.urlsafe_b64encode(hmac.new(key, payload, hashlib.sha256).digest()).decode().rstrip("=")


def issue_token(tenant_id: uuid.UUID, user_id: uuid.UUID, role: str, ttl: int | None = None) -> str:
    ttl = ttl if ttl is not None else get_settings().token_ttl_seconds
    claims = {"t": str(tenant_id), "u": str(user_id), "r": role, "e": int(time.time()) + ttl}
    payload = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{TOKEN_PREFIX}{payload}.{_sign(payload.encode())}"


def read_token(token: str) -> TokenClaims:
    """Verify a login token's signature and expiry; raise NotAuthenticated otherwise."""
    try:
        payload, signature = token.removeprefix(TOKEN_PREFIX).split(".", 1)
        if not hmac.compare_digest(signature, _sign(payload.encode())):
            raise ValueError("bad signature")
        padded = payload + "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
        parsed = TokenClaims(uuid.UUID(claims["t"]), uuid.UUID(claims["u"]), str(claims["r"]), int(claims["e"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise NotAuthenticated("The login token is invalid; log in again.") from exc
    if parsed.expires_at < time.time():
        raise NotAuthenticated("The login token has expired; log in again.")
    return parsed


def role_allows(role: str, required: str) -> bool:
    """May a caller with `role` do what needs `required` (owner > admin > analyst | agent)."""
    return role in ROLE_GRANTED_TO[required]
