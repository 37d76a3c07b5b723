"""Daily rollups keyed by the tenant's own days: the zone each row was computed in.

Revision ID: 0023_rollup_zone
Revises: 0018_similar_questions
Create Date: 2026-12-07

Written by hand (issue 22): `analytics_daily.zone` records the IANA time zone a row's `day` and
`messages_by_hour` are in. Existing rows were computed in UTC; a tenant with another zone gets its
rows recomputed in its zone by the next `refresh_rollups` (analytics.rollups drops rows of a zone
that is no longer the tenant's and refreshes every day).
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0023_rollup_zone"
down_revision: str | None = "0018_similar_questions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("analytics_daily", sa.Column("zone", sa.Text(), nullable=False, server_default="UTC"))


def downgrade() -> None:
    op.drop_column("analytics_daily", "zone")
