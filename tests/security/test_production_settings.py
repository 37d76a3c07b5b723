"""In production mode no secret may keep its development default, and a process refuses to start with one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from core.settings import DEV_APP_DB_PASSWORD, DEV_SECRET, Settings
from tests.e2e.conftest import ROOT, free_port

STRONG = "k" * 16 + "9f3c1e7a2b6d4058"  # 32 characters


def production(**overrides: object) -> Settings:
    return Settings(_env_file=None, env="production", **overrides)  # type: ignore[call-arg]


def test_the_development_secret_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="KEFU_SECRET_KEY must be set"):
        production(secret_key=DEV_SECRET, app_db_password="db-" + STRONG)


def test_a_short_secret_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="32\\+ characters"):
        production(secret_key="short-but-not-default", app_db_password="db-" + STRONG)


def test_the_development_database_password_is_refused() -> None:
    with pytest.raises(ValidationError, match="KEFU_APP_DB_PASSWORD"):
        production(secret_key=STRONG, app_db_password=DEV_APP_DB_PASSWORD)


def test_an_explicit_app_database_url_replaces_the_password_setting() -> None:
    settings = production(secret_key=STRONG, app_database_url="postgresql://kefu_app:s3cret@db/kefu")
    assert settings.env == "production"


def test_real_secrets_are_accepted() -> None:
    settings = production(secret_key=STRONG, app_db_password="db-" + STRONG)
    assert settings.secret_key == STRONG


@pytest.mark.parametrize("env", ["development", "test"])
def test_development_and_test_keep_working_on_defaults(env: str) -> None:
    assert Settings(_env_file=None, env=env).secret_key == DEV_SECRET  # type: ignore[call-arg]


def test_the_api_process_refuses_to_start_in_production_with_default_secrets() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "KEFU_SECRET", "KEFU_APP_DB"))}
    env.update({"KEFU_ENV": "production", "PYTHONPATH": str(ROOT)})
    started = subprocess.run([sys.executable, "-m", "backend.cli", "api", "--port", str(free_port())],
                             env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert started.returncode != 0
    assert "KEFU_SECRET_KEY must be set" in started.stderr
