"""Partial indexes for lost-job recovery: pending questions and queued uploads.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05

Written by hand. `backend.recovery.sweep` looks every 15 s for customer messages still `pending` and
documents still `queued` across tenants. Rows in those states are few at any moment, so a partial
index each keeps the scan proportional to them rather than to every message and document stored.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_messages_pending", "messages", ["created_at"], postgresql_where=sa.text("status = 'pending'"))
    op.create_index("ix_documents_queued", "documents", ["updated_at"], postgresql_where=sa.text("status = 'queued'"))


def downgrade() -> None:
    op.drop_index("ix_documents_queued", table_name="documents")
    op.drop_index("ix_messages_pending", table_name="messages")
