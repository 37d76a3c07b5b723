"""Chunk rows up to a page stay whole in the table: no TOAST for the vectors a search reads.

Revision ID: 0016_inline_chunk_rows
Revises: 0015_sources
Create Date: 2026-12-07

Written by hand. PostgreSQL moves a row's largest values out of line once the row passes ~2 kB
(`toast_tuple_target`, default 2032 bytes). A FAQ row carries two 1.5 kB vectors, so both went to
the TOAST table, and every search paid an index probe into it for each vector it read: the exact
scan of a small tenant and again each candidate's four vector products (a 719-row tenant read
4,815 buffers per search, most of them TOAST). With the target at a page, rows stay whole unless
they are larger than a page. Applies to rows written from now on (a re-upload rewrites a
document's rows); nothing is rewritten here.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016_inline_chunk_rows"
down_revision: str | None = "0015_sources"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE chunks SET (toast_tuple_target = 8160)")


def downgrade() -> None:
    op.execute("ALTER TABLE chunks RESET (toast_tuple_target)")
