"""Foundation: extensions, tenancy, knowledge tables, row-level security, the app role.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Reviewed by hand: autogenerate knows nothing of extensions, RLS policies, roles or the
SECURITY DEFINER resolver functions below.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

from alembic import op
from core.settings import get_settings

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RLS_TABLES = ("users", "api_keys", "widget_keys", "documents", "chunks")


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _timestamps() -> list[sa.Column]:
    return [sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)]


def _tenant_fk() -> sa.Column:
    return sa.Column(
        "tenant_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    settings = get_settings()
    role = settings.app_db_role
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")

    op.create_table(
        "tenants",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("settings", postgresql.JSONB(), server_default="{}", nullable=False),
        *_timestamps(),
    )
    op.create_table(
        "users",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        _tenant_fk(),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default="true", nullable=False),
        *_timestamps(),
        sa.CheckConstraint("role IN ('owner', 'admin', 'analyst')", name="role"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        _tenant_fk(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        *_timestamps(),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("role IN ('owner', 'admin', 'analyst')", name="role"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_table(
        "widget_keys",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        _tenant_fk(),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("allowed_origins", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        *_timestamps(),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("key", name="uq_widget_keys_key"),
    )
    op.create_table(
        "documents",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        _tenant_fk(),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("filename", sa.String(300), nullable=False),
        sa.Column("source_type", sa.String(20), nullable=False),
        sa.Column("content_type", sa.String(200)),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("blob_key", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("chunk_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("indexed_version", sa.Integer(), server_default="0", nullable=False),
        *_timestamps(),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('queued', 'processing', 'ready', 'failed')", name="status"),
    )
    op.create_index("uq_documents_tenant_filename", "documents", ["tenant_id", "filename"], unique=True)
    op.create_table(
        "chunks",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        _tenant_fk(),
        sa.Column(
            "document_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source_ref", sa.Text()),
        sa.Column("metadata", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("embedding", Vector(384), nullable=False),
        sa.Column("lexical", postgresql.TSVECTOR(), nullable=False),
        *_timestamps(),
    )
    for table in RLS_TABLES:
        op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])
    op.create_index("ix_chunks_document_ordinal", "chunks", ["document_id", "ordinal"])
    # Lexical ranking: a tsvector we fill from our own zh/en tokeniser, searched through GIN.
    op.create_index("ix_chunks_lexical", "chunks", ["lexical"], postgresql_using="gin")
    # Dense ranking: an exact scan over the tenant's rows (btree on tenant_id above) is exact and
    # fast for small and medium tenants; a tenant past `tenant_hnsw_threshold` chunks gets its own
    # partial HNSW index (`USING hnsw (embedding vector_cosine_ops) WHERE tenant_id = …`), built
    # CONCURRENTLY by knowledge.vector_index. One global HNSW filtered by tenant loses most of a
    # small tenant's rows (see docs/retrieval.md), so there is deliberately none.

    # Row-level security on every tenant table; FORCE so the owner is subject to it as well.
    op.execute("ALTER TABLE tenants ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE tenants FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON tenants USING "
        "(id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)"
    )
    for table in RLS_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} USING "
            "(tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)"
        )

    # Credentials arrive before the tenant is known. These functions run as the owner and
    # return only what resolving one credential needs, never a listing.
    op.execute(
        """
        CREATE FUNCTION kefu_resolve_api_key(p_key_hash text)
        RETURNS TABLE (tenant_id uuid, key_id uuid, role text)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT k.tenant_id, k.id, k.role::text FROM api_keys k
            WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION kefu_resolve_widget_key(p_key text)
        RETURNS TABLE (tenant_id uuid, key_id uuid, allowed_origins text[])
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT w.tenant_id, w.id, w.allowed_origins FROM widget_keys w
            WHERE w.key = p_key AND w.revoked_at IS NULL
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION kefu_find_login(p_email text)
        RETURNS TABLE (user_id uuid, tenant_id uuid, password_hash text, role text, is_active boolean)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT u.id, u.tenant_id, u.password_hash, u.role::text, u.is_active FROM users u
            WHERE u.email = lower(p_email)
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION kefu_email_taken(p_email text) RETURNS boolean
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT EXISTS (SELECT 1 FROM users WHERE email = lower(p_email))
        $$
        """
    )

    # The restricted application role: not superuser, not owner, no BYPASSRLS.
    password = _quote_literal(settings.app_db_password)
    op.execute(
        f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
            END IF;
        END $$
        """
    )
    op.execute(f"ALTER ROLE {role} WITH LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD {password}")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
    op.execute(f"REVOKE ALL ON alembic_version FROM {role}")
    op.execute(f"GRANT SELECT ON alembic_version TO {role}")
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}"
    )
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}")
    for fn in ("kefu_resolve_api_key(text)", "kefu_resolve_widget_key(text)", "kefu_find_login(text)",
               "kefu_email_taken(text)"):
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {role}")


def downgrade() -> None:
    role = get_settings().app_db_role
    for fn in ("kefu_resolve_api_key(text)", "kefu_resolve_widget_key(text)", "kefu_find_login(text)",
               "kefu_email_taken(text)"):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    for table in ("chunks", "documents", "widget_keys", "api_keys", "users", "tenants"):
        op.drop_table(table)
    # The role is cluster-wide and may serve other databases; only its defaults here go.
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {role}"
    )
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM {role}")
