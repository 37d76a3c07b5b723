"""A tenant's own reranker: the sealed API key of its `/rerank` endpoint.

Revision ID: 0028_tenant_reranker
Revises: 0027_lexical_idf_ranking
Create Date: 2026-12-07

Written by hand (issue 21 item 4). `tenants.reranker_secret` holds the key Fernet-sealed under its
own purpose (knowledge.reranker_settings), beside `model_secrets`, which `knowledge` may not read
(it belongs to `chat`); the rest of the setting lives in `tenants.settings["reranker"]`.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0028_tenant_reranker"
down_revision: str | None = "0027_lexical_idf_ranking"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("reranker_secret", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("tenants", "reranker_secret")
