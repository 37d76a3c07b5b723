"""Evaluation runs and their failures (a tenant's labelled question sets, scored).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

Written by hand after autogenerate: row-level security and an explicit grant to the app role for
both tables, and the identity sequence grant for the failures' ids.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op
from core.settings import get_settings

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RLS_TABLES = ("evaluation_runs", "evaluation_failures")


def upgrade() -> None:
    op.create_table(
        "evaluation_runs",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("questions", sa.Integer(), nullable=False),
        sa.Column("in_scope", sa.Integer(), nullable=False),
        sa.Column("top1", sa.Float(), nullable=True),
        sa.Column("mrr", sa.Float(), nullable=True),
        sa.Column("recall_at_5", sa.Float(), nullable=True),
        sa.Column("answer_rate", sa.Float(), nullable=True),
        sa.Column("handoff_rate", sa.Float(), nullable=True),
        sa.Column("accuracy", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_evaluation_runs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_runs")),
    )
    op.create_index(op.f("ix_evaluation_runs_tenant_id"), "evaluation_runs", ["tenant_id"], unique=False)
    op.create_index(
        "ix_evaluation_runs_tenant_created", "evaluation_runs", ["tenant_id", "created_at"], unique=False
    )
    op.create_table(
        "evaluation_failures",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("expected", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("top_ref", sa.Text(), nullable=True),
        sa.Column("top_text", sa.Text(), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["evaluation_runs.id"], name=op.f("fk_evaluation_failures_run_id_evaluation_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_evaluation_failures_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_failures")),
    )
    op.create_index(op.f("ix_evaluation_failures_tenant_id"), "evaluation_failures", ["tenant_id"], unique=False)
    op.create_index("ix_evaluation_failures_run_row", "evaluation_failures", ["run_id", "row"], unique=False)
    role = get_settings().app_db_role
    for table in RLS_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} USING "
            "(tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)"
        )
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {role}")
    op.execute(f"GRANT USAGE, SELECT ON SEQUENCE evaluation_failures_id_seq TO {role}")


def downgrade() -> None:
    op.drop_index("ix_evaluation_failures_run_row", table_name="evaluation_failures")
    op.drop_index(op.f("ix_evaluation_failures_tenant_id"), table_name="evaluation_failures")
    op.drop_table("evaluation_failures")
    op.drop_index("ix_evaluation_runs_tenant_created", table_name="evaluation_runs")
    op.drop_index(op.f("ix_evaluation_runs_tenant_id"), table_name="evaluation_runs")
    op.drop_table("evaluation_runs")
