"""Overrides of uploaded FAQ rows; evaluation runs become background jobs with a status.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05

Written by hand: row-level security and the app-role grant for `faq_overrides`; existing
evaluation runs were all scored synchronously, so they become `done`.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from core.settings import get_settings

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NULLABLE_SCORES = ("questions", "in_scope", "accuracy", "failures")


def upgrade() -> None:
    op.create_table(
        "faq_overrides",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("document_id", sa.UUID(), nullable=False),
        sa.Column("source_ref", sa.Text(), nullable=False),
        sa.Column("question", sa.Text(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("disabled", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("base_question", sa.Text(), nullable=True),
        sa.Column("base_answer", sa.Text(), nullable=True),
        sa.Column("file_question", sa.Text(), nullable=True),
        sa.Column("file_answer", sa.Text(), nullable=True),
        sa.Column("revision", sa.Integer(), server_default="1", nullable=False),
        sa.Column("updated_by", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name=op.f("fk_faq_overrides_document_id_documents"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_faq_overrides_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_overrides")),
    )
    op.create_index(op.f("ix_faq_overrides_tenant_id"), "faq_overrides", ["tenant_id"], unique=False)
    op.create_index("uq_faq_overrides_document_ref", "faq_overrides", ["document_id", "source_ref"], unique=True)
    op.execute("ALTER TABLE faq_overrides ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE faq_overrides FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON faq_overrides USING "
        "(tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON faq_overrides TO {get_settings().app_db_role}")

    op.add_column("evaluation_runs", sa.Column("status", sa.String(length=20), server_default="done", nullable=False))
    op.add_column("evaluation_runs", sa.Column("error", sa.Text(), nullable=True))
    op.add_column("evaluation_runs", sa.Column("input_blob_key", sa.Text(), nullable=True))
    op.add_column("evaluation_runs", sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("evaluation_runs", sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        "status", "evaluation_runs", "status IN ('queued', 'running', 'done', 'failed')"
    )
    for column in _NULLABLE_SCORES:
        op.alter_column("evaluation_runs", column, nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM evaluation_runs WHERE status <> 'done'")
    for column in _NULLABLE_SCORES:
        op.alter_column("evaluation_runs", column, nullable=False)
    op.drop_constraint(op.f("ck_evaluation_runs_status"), "evaluation_runs", type_="check")
    for column in ("finished_at", "started_at", "input_blob_key", "error", "status"):
        op.drop_column("evaluation_runs", column)
    op.drop_index("uq_faq_overrides_document_ref", table_name="faq_overrides")
    op.drop_index(op.f("ix_faq_overrides_tenant_id"), table_name="faq_overrides")
    op.drop_table("faq_overrides")
