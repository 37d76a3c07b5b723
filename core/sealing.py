"""Secrets stored encrypted (Fernet) with keys derived from KEFU_SECRET_KEY, one key per purpose.

A tenant's identity secret and its model API keys are sealed before they reach the database and
unsealed only where they are used. Changing KEFU_SECRET_KEY makes stored secrets unreadable:
`unseal` then answers None and the tenant enters them again.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

from core.settings import get_settings


def _fernet(purpose: str) -> Fernet:
    digest = hashlib.sha256(f"kefu {purpose}|".encode() + get_settings().secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(value: str, purpose: str) -> str:
    """`value` encrypted for storage under the key of `purpose`."""
    return _fernet(purpose).encrypt(value.encode()).decode()


def unseal(sealed: str | None, purpose: str) -> str | None:
    """The stored value in clear; None when absent or unreadable (KEFU_SECRET_KEY changed)."""
    if not sealed:
        return None
    try:
        return _fernet(purpose).decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError):
        return None
