"""Per-tenant model keys and grounding checks of model-written answers.

Revision ID: 0022_providers
Revises: 0019_inbox
Create Date: 2026-12-07

Written by hand (issue 21):
- `tenants.model_secrets`: the tenant's model API keys (primary and fallback) as one Fernet-sealed
  JSON object (chat.model_keys); the rest of the model choice lives in `tenants.settings["bot"]`.
- `answer_checks`: one row per model-written answer checked sentence by sentence against its cited
  passages and tool results (chat.grounding), with row-level security like every tenant table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op
from core.settings import get_settings

revision: str = "0022_providers"
down_revision: str | None = "0019_inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("model_secrets", sa.Text(), nullable=True))
    op.create_table(
        "answer_checks",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("message_id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("sentences", sa.Integer(), nullable=False),
        sa.Column("supported", sa.Integer(), nullable=False),
        sa.Column("grounded", sa.Boolean(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("flagged", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("question", sa.String(length=2000), server_default="", nullable=False),
        sa.Column("draft", sa.String(length=8000), server_default="", nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_answer_checks_message_id_messages"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_answer_checks_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answer_checks")),
    )
    op.create_index(op.f("ix_answer_checks_tenant_id"), "answer_checks", ["tenant_id"], unique=False)
    op.create_index(op.f("ix_answer_checks_message_id"), "answer_checks", ["message_id"], unique=False)
    op.create_index("ix_answer_checks_tenant_at", "answer_checks", ["tenant_id", "created_at"], unique=False)
    op.execute("ALTER TABLE answer_checks ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE answer_checks FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON answer_checks USING "
        "(tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON answer_checks TO {get_settings().app_db_role}")


def downgrade() -> None:
    op.drop_index("ix_answer_checks_tenant_at", table_name="answer_checks")
    op.drop_index(op.f("ix_answer_checks_message_id"), table_name="answer_checks")
    op.drop_index(op.f("ix_answer_checks_tenant_id"), table_name="answer_checks")
    op.drop_table("answer_checks")
    op.drop_column("tenants", "model_secrets")
