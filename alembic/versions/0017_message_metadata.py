"""Messages get a metadata column: which "did you mean" suggestion a customer chose.

Revision ID: 0017_message_metadata
Revises: 0020_notify
Create Date: 2026-12-07

Written by hand. A customer message sent by choosing a suggestion (issue 18) records
{"suggestion_chosen": {"source_ref", "question"}} so analytics and the similar-questions work see
which entry was right. A constant default: no table rewrite.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017_message_metadata"
down_revision: str | None = "0020_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE messages ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}'::jsonb")


def downgrade() -> None:
    op.execute("ALTER TABLE messages DROP COLUMN metadata")
