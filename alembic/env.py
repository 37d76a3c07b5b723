"""Alembic environment: migrations run as the owning role from Kefu's settings."""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import create_engine, pool

from alembic import context
from core.db import owner_url
from core.models import Base

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata

# Per-tenant partial HNSW and GIN indexes are created at run time by knowledge.vector_index,
# not by migrations, so the drift check must not report them.
DYNAMIC_INDEX_PREFIXES = ("ix_chunks_hnsw_t_", "ix_chunks_lexical_t_")


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (type_ == "index" and name is not None and name.startswith(DYNAMIC_INDEX_PREFIXES))


def run_migrations_offline() -> None:
    context.configure(
        url=owner_url().render_as_string(hide_password=False),
        target_metadata=target_metadata,
        literal_binds=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        engine = create_engine(owner_url(), poolclass=pool.NullPool)
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
    else:
        _run(connectable)


def _run(connection: Any) -> None:
    connection.dialect.ischema_names["vector"] = Vector
    context.configure(connection=connection, target_metadata=target_metadata, include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
