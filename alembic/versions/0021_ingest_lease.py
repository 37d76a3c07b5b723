"""Ingestion leases: a document being indexed says until when its worker vouches for it.

Revision ID: 0021_ingest_lease
Revises: 0022_providers
Create Date: 2026-12-07

A worker that claims a document sets `lease_until` and renews it while it works; the lost-job sweep
re-sends every `processing` document whose lease has run out (its worker died), found through a
partial index. Rows already `processing` at upgrade time have no lease and count as expired.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0021_ingest_lease"
down_revision: str | None = "0022_providers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("documents", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_documents_processing", "documents", ["lease_until"], postgresql_where=sa.text("status = 'processing'")
    )


def downgrade() -> None:
    op.drop_index("ix_documents_processing", table_name="documents")
    op.drop_column("documents", "lease_until")
