"""FAQ questions embedded as queries, kept per chunk.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

Written by hand. Retrieval centres a customer's query nearer the mean of the tenant's FAQ questions
embedded as queries than the mean of its stored vectors (`knowledge.centre`). The indexer already
embeds each FAQ question as a query (half of the row's mixed vector); this keeps that vector in a
nullable column, NULL for prose and for rows indexed before this revision (their tenants are
centred as before until re-indexed). Adding a nullable column without a default rewrites nothing.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE chunks ADD COLUMN question_embedding vector(384)")


def downgrade() -> None:
    op.execute("ALTER TABLE chunks DROP COLUMN question_embedding")
