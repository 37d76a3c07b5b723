"""Credentials: tokens, keys, password hashing and production secret checks."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from core.errors import NotAuthenticated
from core.security import (
    digest_key,
    hash_password,
    issue_token,
    new_api_key,
    read_token,
    role_allows,
    verify_password,
)
from core.settings import Settings


def test_token_round_trip_carries_tenant_user_and_role() -> None:
    tenant, user = uuid.uuid4(), uuid.uuid4()
    claims = read_token(issue_token(tenant, user, "analyst", ttl=60))
    assert (claims.tenant_id, claims.user_id, claims.role) == (tenant, user, "analyst")


def test_tampered_or_expired_tokens_are_rejected() -> None:
    token = issue_token(uuid.uuid4(), uuid.uuid4(), "analyst", ttl=60)
    signature = token.split(".")[1]
    forged = issue_token(uuid.uuid4(), uuid.uuid4(), "owner", ttl=60).split(".")[0] + "." + signature
    with pytest.raises(NotAuthenticated, match="invalid"):
        read_token(forged)
    with pytest.raises(NotAuthenticated, match="expired"):
        read_token(issue_token(uuid.uuid4(), uuid.uuid4(), "owner", ttl=-1))
    with pytest.raises(NotAuthenticated):
        read_token("kefu_tk_garbage")


def test_passwords_hash_and_verify() -> None:
    hashed = hash_password("correct horse")
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong horse")
    assert not verify_password("not-a-hash", "x")


def test_production_passwords_are_argon2id_at_its_recommended_cost(monkeypatch) -> None:
    """The suite hashes at argon2's lowest cost (tests/conftest.py); Kefu itself uses the RFC 9106 profile."""
    from argon2 import profiles

    from core import security
    from tests.conftest import PRODUCTION_PASSWORD_HASHER

    recommended = profiles.RFC_9106_LOW_MEMORY
    assert (PRODUCTION_PASSWORD_HASHER.time_cost, PRODUCTION_PASSWORD_HASHER.memory_cost,
            PRODUCTION_PASSWORD_HASHER.parallelism) == (recommended.time_cost, recommended.memory_cost,
                                                        recommended.parallelism)
    monkeypatch.setattr(security, "_hasher", PRODUCTION_PASSWORD_HASHER)
    hashed = hash_password("correct horse")
    assert hashed.startswith(f"$argon2id$v=19$m={recommended.memory_cost},t={recommended.time_cost},")
    assert verify_password(hashed, "correct horse") and not verify_password(hashed, "wrong horse")


def test_api_keys_are_random_and_stored_as_digests() -> None:
    a, b = new_api_key(), new_api_key()
    assert a != b and len(a) > 40
    assert digest_key(a) != digest_key(b) and len(digest_key(a)) == 64


def test_role_order_owner_admin_analyst() -> None:
    assert role_allows("owner", "admin") and role_allows("admin", "admin") and role_allows("admin", "analyst")
    assert not role_allows("analyst", "admin") and not role_allows("admin", "owner")
    assert not role_allows("stranger", "analyst")


def test_production_refuses_development_secrets() -> None:
    with pytest.raises(ValidationError, match="KEFU_SECRET_KEY"):
        Settings(env="production")
    with pytest.raises(ValidationError, match="KEFU_APP_DB_PASSWORD"):
        Settings(env="production", secret_key="x" * 40)
    ok = Settings(env="production", secret_key="x" * 40, app_db_password="a-real-password")
    assert ok.env == "production"
