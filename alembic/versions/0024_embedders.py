"""Embedders as data: every chunk records its embedder, any dimension, re-embedding a tenant.

Revision ID: 0024_embedders
Revises: 0023_rollup_zone
Create Date: 2026-12-07

Written by hand (issue 21, item 3):
- `embedders` (name, model, dimension): one row per kind of vector; `chunks.embedder_id` says which
  made each chunk's vectors and `tenants.embedder_id` which one the tenant's searches use. The rows
  already stored get the embedder configured when this runs (their column was `vector(384)`), as a
  fast default: no table rewrite.
- `chunks.embedding` and `question_embedding` become `vector` of any dimension. Each tenant's partial
  HNSW index is on `(embedding::vector(D))` for its embedder only (`knowledge.vector_index`), so the
  existing ones are rebuilt here in that form (a 134k-chunk tenant takes about two minutes).
- `reembeds` (one job per tenant at a time) and `reembed_vectors` (the new vectors staged while the
  old ones keep answering; `knowledge.reembed` swaps them in one transaction), with row-level security.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op
from core.settings import get_settings

revision: str = "0024_embedders"
down_revision: str | None = "0023_rollup_zone"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
_HNSW_PREFIX = "ix_chunks_hnsw_t_"
_HNSW_WITH = "m = 16, ef_construction = 128"


def _legacy_spec() -> tuple[str, str, int]:
    """What the stored 384-dimensional vectors were made with: the embedder configured now."""
    from knowledge.embedding import DIM, configured_spec

    spec = configured_spec()
    return spec.name, spec.model, DIM


def _rls(table: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_isolation ON {table} USING (tenant_id = {_TENANT})")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {get_settings().app_db_role}")


def upgrade() -> None:
    role = get_settings().app_db_role
    op.create_table(
        "embedders",
        sa.Column("id", sa.SmallInteger(), sa.Identity(), nullable=False),
        sa.Column("name", sa.String(20), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("dimension", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("dimension BETWEEN 1 AND 2000", name="ck_embedders_dimension"),
        sa.UniqueConstraint("name", "model", "dimension", name="uq_embedders_name_model_dimension"),
        sa.PrimaryKeyConstraint("id", name="pk_embedders"),
    )
    op.execute(f"GRANT SELECT, INSERT ON embedders TO {role}")
    name, model, dim = _legacy_spec()
    legacy = op.get_bind().scalar(
        sa.text("INSERT INTO embedders (name, model, dimension) VALUES (:n, :m, :d) RETURNING id"),
        {"n": name, "m": model, "d": dim})

    # A constant default is stored once in the catalogue (no rewrite of a large table); dropping it
    # afterwards keeps that value for the rows that exist.
    op.execute(f"ALTER TABLE chunks ADD COLUMN embedder_id smallint NOT NULL DEFAULT {int(legacy)} "
               "CONSTRAINT fk_chunks_embedder_id_embedders REFERENCES embedders (id)")
    op.execute("ALTER TABLE chunks ALTER COLUMN embedder_id DROP DEFAULT")
    op.execute("ALTER TABLE tenants ADD COLUMN embedder_id smallint "
               "CONSTRAINT fk_tenants_embedder_id_embedders REFERENCES embedders (id)")
    for table in ("tenants", "chunks"):
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"UPDATE tenants t SET embedder_id = {int(legacy)} "
               "WHERE EXISTS (SELECT 1 FROM chunks c WHERE c.tenant_id = t.id)")
    for table in ("tenants", "chunks"):
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")

    # The partial HNSW indexes name a typed column; they are rebuilt on the cast for the legacy embedder.
    indexes = [row.relname for row in op.get_bind().execute(sa.text(
        "SELECT relname FROM pg_class WHERE relkind = 'i' AND relname LIKE :p"), {"p": _HNSW_PREFIX + "%"})]
    for index in indexes:
        op.execute(f'DROP INDEX IF EXISTS "{index}"')
    op.execute("ALTER TABLE chunks ALTER COLUMN embedding TYPE vector")
    op.execute("ALTER TABLE chunks ALTER COLUMN question_embedding TYPE vector")
    for index in indexes:
        suffix = index[len(_HNSW_PREFIX):]
        if len(suffix) != 32:
            continue  # a half-done rebuild's leftover (`…_new`): the worker builds it again if needed
        tenant = f"'{suffix[:8]}-{suffix[8:12]}-{suffix[12:16]}-{suffix[16:20]}-{suffix[20:]}'::uuid"
        op.execute(f'CREATE INDEX "{index}" ON chunks USING hnsw ((embedding::vector({dim})) vector_cosine_ops) '
                   f"WITH ({_HNSW_WITH}) WHERE tenant_id = {tenant} AND embedder_id = {int(legacy)}")

    op.create_table(
        "reembeds",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True),
                  sa.ForeignKey("tenants.id", ondelete="CASCADE", name="fk_reembeds_tenant_id_tenants"),
                  nullable=False),
        sa.Column("embedder_id", sa.SmallInteger(),
                  sa.ForeignKey("embedders.id", name="fk_reembeds_embedder_id_embedders"), nullable=False),
        sa.Column("previous_embedder_id", sa.SmallInteger(),
                  sa.ForeignKey("embedders.id", name="fk_reembeds_previous_embedder_id_embedders"), nullable=True),
        sa.Column("status", sa.String(20), nullable=False, server_default="queued"),
        sa.Column("total", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("embedded", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="ck_reembeds_status"),
        sa.PrimaryKeyConstraint("id", name="pk_reembeds"),
    )
    op.create_index("ix_reembeds_tenant_created", "reembeds", ["tenant_id", "created_at"])
    # One re-embedding of a tenant at a time.
    op.create_index("uq_reembeds_tenant_active", "reembeds", ["tenant_id"], unique=True,
                    postgresql_where=sa.text("status IN ('queued', 'running')"))
    _rls("reembeds")
    op.execute(
        """
        CREATE TABLE reembed_vectors (
            reembed_id uuid NOT NULL CONSTRAINT fk_reembed_vectors_reembed_id_reembeds
                REFERENCES reembeds (id) ON DELETE CASCADE,
            chunk_id bigint NOT NULL CONSTRAINT fk_reembed_vectors_chunk_id_chunks
                REFERENCES chunks (id) ON DELETE CASCADE,
            tenant_id uuid NOT NULL CONSTRAINT fk_reembed_vectors_tenant_id_tenants
                REFERENCES tenants (id) ON DELETE CASCADE,
            embedding vector NOT NULL,
            question_embedding vector,
            CONSTRAINT pk_reembed_vectors PRIMARY KEY (reembed_id, chunk_id)
        )
        """
    )
    # Deleting a chunk looks here for its staged vector (the cascade).
    op.create_index("ix_reembed_vectors_chunk_id", "reembed_vectors", ["chunk_id"])
    _rls("reembed_vectors")


def downgrade() -> None:
    op.drop_table("reembed_vectors")
    op.drop_table("reembeds")
    indexes = [row.relname for row in op.get_bind().execute(sa.text(
        "SELECT relname FROM pg_class WHERE relkind = 'i' AND relname LIKE :p"), {"p": _HNSW_PREFIX + "%"})]
    for index in indexes:
        op.execute(f'DROP INDEX IF EXISTS "{index}"')
    # Fails if any tenant holds vectors of another dimension: re-embed it at 384 first.
    op.execute("ALTER TABLE chunks ALTER COLUMN embedding TYPE vector(384)")
    op.execute("ALTER TABLE chunks ALTER COLUMN question_embedding TYPE vector(384)")
    op.drop_column("tenants", "embedder_id")
    op.drop_column("chunks", "embedder_id")
    op.drop_table("embedders")
