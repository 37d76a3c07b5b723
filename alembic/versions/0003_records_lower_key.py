"""Case-insensitive record key lookups use an index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_records_collection_lower_key", "records", ["collection_id", sa.text("lower(key)")])


def downgrade() -> None:
    op.drop_index("ix_records_collection_lower_key", table_name="records")
