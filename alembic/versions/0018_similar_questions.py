"""Similar questions on FAQ rows, and the suggested wordings an admin turned down.

Revision ID: 0018_similar_questions
Revises: 0017_message_metadata
Create Date: 2026-12-07

Written by hand. `faq_overrides.similar_questions` keeps the wordings an admin set on an uploaded
row (NULL: the file's own, if its upload had a similar-questions column). Wordings themselves are
indexed as chunks beside their row (`knowledge.similar_questions`), so the chunks table is
unchanged. `phrasing_dismissals` remembers a suggested wording (from real traffic) an admin
dismissed for a row, so it is not suggested again; row-level security like every tenant table.
Adding a nullable column without a default rewrites nothing.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from core.settings import get_settings

revision: str = "0018_similar_questions"
down_revision: str | None = "0017_message_metadata"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE faq_overrides ADD COLUMN similar_questions jsonb")
    op.create_table(
        "phrasing_dismissals",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("document_id", sa.UUID(), nullable=False),
        sa.Column("source_ref", sa.Text(), nullable=False),
        sa.Column("phrasing_key", sa.Text(), nullable=False),
        sa.Column("dismissed_by", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_phrasing_dismissals_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_phrasing_dismissals_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phrasing_dismissals")),
    )
    op.create_index(
        "uq_phrasing_dismissals_row_key",
        "phrasing_dismissals",
        ["tenant_id", "document_id", "source_ref", "phrasing_key"],
        unique=True,
    )
    op.create_index(op.f("ix_phrasing_dismissals_tenant_id"), "phrasing_dismissals", ["tenant_id"], unique=False)
    op.execute("ALTER TABLE phrasing_dismissals ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE phrasing_dismissals FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON phrasing_dismissals USING "
        "(tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON phrasing_dismissals TO {get_settings().app_db_role}")


def downgrade() -> None:
    op.drop_table("phrasing_dismissals")
    op.execute("ALTER TABLE faq_overrides DROP COLUMN similar_questions")
