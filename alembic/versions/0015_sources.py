"""Website knowledge sources and their pages; documents know the source and URL they came from.

Revision ID: 0015_sources
Revises: 0014_identity
Create Date: 2026-12-07

Written by hand: row-level security and the app-role grants for `sources` and `source_pages`, the
partial indexes the worker's schedule and the pages listing read. `documents.source_id` cascades,
so deleting a source deletes its pages' documents and (by their own cascade) their chunks.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from core.settings import get_settings

revision: str = "0015_sources"
down_revision: str | None = "0014_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _isolate(table: str) -> None:
    op.create_index(op.f(f"ix_{table}_tenant_id"), table, ["tenant_id"], unique=False)
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING "
        "(tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {get_settings().app_db_role}")


def upgrade() -> None:
    now = sa.text("now()")
    op.create_table(
        "sources",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("max_pages", sa.Integer(), nullable=False),
        sa.Column("max_depth", sa.Integer(), nullable=False),
        sa.Column("schedule", sa.String(length=10), nullable=False),
        sa.Column("include", sa.dialects.postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("exclude", sa.dialects.postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("run_id", sa.UUID(), nullable=False),
        *[sa.Column(name, sa.Integer(), server_default="0", nullable=False)
          for name in ("pages_seen", "pages_indexed", "pages_unchanged", "pages_removed", "pages_failed",
                       "pages_skipped")],
        sa.Column("sync_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.CheckConstraint("status IN ('queued', 'crawling', 'ready', 'failed')", name=op.f("ck_sources_status")),
        sa.CheckConstraint("schedule IN ('off', 'daily', 'weekly')", name=op.f("ck_sources_schedule")),
        sa.CheckConstraint("type IN ('website')", name=op.f("ck_sources_type")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_sources_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sources")),
    )
    op.create_index("ix_sources_next_sync", "sources", ["next_sync_at"], unique=False,
                    postgresql_where=sa.text("schedule <> 'off'"))
    _isolate("sources")

    op.create_table(
        "source_pages",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("source_id", sa.UUID(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("url_key", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("depth", sa.Integer(), server_default="0", nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("links", sa.dialects.postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("document_id", sa.UUID(), nullable=True),
        sa.Column("run_id", sa.UUID(), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.CheckConstraint("result IN ('indexed', 'unchanged', 'failed', 'removed', 'skipped')",
                           name=op.f("ck_source_pages_result")),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], name=op.f("fk_source_pages_source_id_sources"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"],
                                name=op.f("fk_source_pages_document_id_documents"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_source_pages_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_pages")),
    )
    op.create_index("uq_source_pages_source_url", "source_pages", ["source_id", "url_key"], unique=True)
    op.create_index("ix_source_pages_document", "source_pages", ["document_id"], unique=False)
    _isolate("source_pages")

    op.add_column("documents", sa.Column("source_id", sa.UUID(), nullable=True))
    op.add_column("documents", sa.Column("url", sa.Text(), nullable=True))
    op.create_foreign_key(op.f("fk_documents_source_id_sources"), "documents", "sources", ["source_id"], ["id"],
                          ondelete="CASCADE")
    op.create_index("ix_documents_source", "documents", ["source_id"], unique=False,
                    postgresql_where=sa.text("source_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_documents_source", table_name="documents")
    op.drop_constraint(op.f("fk_documents_source_id_sources"), "documents", type_="foreignkey")
    op.drop_column("documents", "url")
    op.drop_column("documents", "source_id")
    for table in ("source_pages", "sources"):
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.drop_table(table)
