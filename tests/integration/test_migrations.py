"""The schema is built only by migrations: head has no drift and downgrade/upgrade round-trips."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from alembic import command
from core.migrations import alembic_config
from core.models import TENANT_TABLES

pytestmark = pytest.mark.integration


@pytest.fixture
def scratch_database(database: URL):
    name = f"kefu_migrations_{uuid.uuid4().hex[:8]}"
    admin = create_engine(database, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(database.set(database=name))
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def _run(engine, fn, *args) -> None:
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        fn(config, *args)


def test_upgrade_check_downgrade_upgrade(scratch_database) -> None:
    _run(scratch_database, command.upgrade, "head")
    _run(scratch_database, command.check)  # raises if the models and the schema disagree
    with scratch_database.connect() as conn:
        extensions = set(conn.scalars(text("SELECT extname FROM pg_extension")))
        rls = dict(conn.execute(text(
            "SELECT relname, relrowsecurity AND relforcerowsecurity FROM pg_class "
            "WHERE relkind = 'r' AND relname = ANY(:names)"), {"names": ["tenants", *TENANT_TABLES]}).all())
    assert {"vector", "pg_trgm"} <= extensions
    assert rls == dict.fromkeys(("tenants", *TENANT_TABLES), True)
    _run(scratch_database, command.downgrade, "base")
    with scratch_database.connect() as conn:
        assert conn.scalar(text("SELECT to_regclass('chunks')")) is None
    _run(scratch_database, command.upgrade, "head")
    _run(scratch_database, command.check)
