"""Identity verification of a tenant's signed-in customers (as Intercom's and Crisp's).

The tenant's server knows who is signed in on its site; the widget does not. So the site renders
the widget tag with the user's id and an HMAC of it made with the tenant's identity secret:

    data-user-id="42"  data-user-hash = hex(HMAC-SHA256(secret, "42"))

and, optionally, a name and email signed together with the id:

    data-user-name, data-user-email, data-user-details-hash = hex(HMAC-SHA256(secret, "42\\nAda\\nada@x.org"))

(the canonical string is id, name and email joined by a newline, an absent one as ""). Only a
holder of the secret can make a hash, so a hash that verifies proves the site vouched for the id.
The secret is stored encrypted with a key derived from KEFU_SECRET_KEY; changing KEFU_SECRET_KEY
makes stored secrets unreadable, and each tenant then rotates its secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from core import sealing
from core.errors import NotAuthenticated, ValidationFailed

SECRET_PREFIX = "kefu_is_"
# Ids of the tenant's own users: numbers, UUIDs, emails, "auth0|123"... never spaces, slashes or
# control characters (the id appears in URL paths, e.g. the erasure route).
USER_ID = re.compile(r"^[^\s/\\?#%\x00-\x1f\x7f]{1,200}$")
MAX_NAME_CHARS = 200
MAX_EMAIL_CHARS = 320
_HASH = re.compile(r"^[0-9a-fA-F]{64}$")


def new_identity_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


_PURPOSE = "identity secret v1"  # the derivation every stored identity secret was sealed with


def seal(secret: str) -> str:
    """The secret encrypted for storage."""
    return sealing.seal(secret, _PURPOSE)


def unseal(sealed: str | None) -> str | None:
    """The stored secret in clear; None when absent or unreadable (KEFU_SECRET_KEY changed)."""
    return sealing.unseal(sealed, _PURPOSE)


def user_hash(secret: str, user_id: str) -> str:
    """hex HMAC-SHA256(secret, user id): what the tenant's server puts in `data-user-hash`."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def details_hash(secret: str, user_id: str, name: str | None, email: str | None) -> str:
    """hex HMAC-SHA256(secret, id + "\\n" + name + "\\n" + email): signs the optional name and email."""
    canonical = "\n".join((user_id, name or "", email or ""))
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class UserClaim:
    """What a visitor says about who they are: checked, not yet verified."""

    id: str
    hash: str
    name: str | None = None
    email: str | None = None
    details_hash: str | None = None


@dataclass(frozen=True)
class VerifiedUser:
    id: str
    name: str | None = None
    email: str | None = None


def check_user_id(user_id: Any) -> str:
    if not isinstance(user_id, str) or not USER_ID.match(user_id):
        raise ValidationFailed("user.id must be 1-200 characters without spaces, '/', '\\', '?', '#' or '%'.")
    return user_id


def parse_claim(raw: Any) -> UserClaim | None:
    """A `user` object from a chat body or socket frame ({id, hash, name?, email?, details_hash?})."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValidationFailed('user must be an object: {"id": "...", "hash": "<hex HMAC-SHA256 of the id>"}.')
    unknown = sorted(set(raw) - {"id", "hash", "name", "email", "details_hash"})
    if unknown:
        raise ValidationFailed(f"Unknown user fields: {', '.join(unknown)}. "
                               "Known: id, hash, name, email, details_hash.")
    user_id = check_user_id(raw.get("id"))
    digest = raw.get("hash")
    if not isinstance(digest, str) or not digest:
        raise ValidationFailed("user.hash is required: the hex HMAC-SHA256 of user.id made with the identity secret.")
    name, email = _optional_text(raw, "name", MAX_NAME_CHARS), _optional_text(raw, "email", MAX_EMAIL_CHARS)
    signed = raw.get("details_hash")
    if (name or email) and not signed:
        raise ValidationFailed("user.name and user.email must be signed: send user.details_hash, the hex "
                               "HMAC-SHA256 of id, name and email joined by newlines (docs/widget.md).")
    if signed is not None and not isinstance(signed, str):
        raise ValidationFailed("user.details_hash must be a hex string.")
    return UserClaim(user_id, digest, name, email, signed or None)


def _optional_text(raw: dict[str, Any], field: str, limit: int) -> str | None:
    value = raw.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit or any(c in value for c in "\n\r\x00"):
        raise ValidationFailed(f"user.{field} must be one line of text of at most {limit} characters.")
    return value


def verify_claim(secret: str | None, claim: UserClaim) -> VerifiedUser:
    """The verified user, or `NotAuthenticated` (401) when a hash does not match (constant time)."""
    if secret is None:
        raise NotAuthenticated("Identity verification is not set up for this site: the site sent a signed-in "
                               "user, but the tenant has no identity secret. An admin can create one in the "
                               "settings.")
    expected = user_hash(secret, claim.id)
    given = claim.hash if _HASH.match(claim.hash) else "0" * 64
    if not hmac.compare_digest(expected, given.lower()):
        raise NotAuthenticated("The signed-in user could not be verified: user.hash is not the HMAC-SHA256 of "
                               "user.id made with this site's identity secret (was the secret rotated?).")
    if claim.details_hash is None:
        return VerifiedUser(claim.id)
    expected = details_hash(secret, claim.id, claim.name, claim.email)
    given = claim.details_hash if _HASH.match(claim.details_hash) else "0" * 64
    if not hmac.compare_digest(expected, given.lower()):
        raise NotAuthenticated("The signed-in user's name and email could not be verified: user.details_hash "
                               "is not the HMAC-SHA256 of id, name and email joined by newlines.")
    return VerifiedUser(claim.id, claim.name, claim.email)
