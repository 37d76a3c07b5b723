"""Re-tokenise every stored chunk: English words are now stemmed by Snowball's English stemmer.

Revision ID: 0025_snowball_stems
Revises: 0024_embedders
Create Date: 2026-12-07

Written by hand (issue 24): `knowledge.lexical` stems Latin words with `snowballstemmer`'s English
(Porter2) stemmer instead of a hand-written light Porter stemmer. Queries are stemmed the new way at
once, so every chunk's `lexical` column is recomputed from its text by the same function the
indexer uses (`knowledge.lexical.tsvector_literal`), in batches, and written only where it changed.
The statement-level triggers of migration 0011 keep `term_frequencies` in step with the updates.

Downgrade leaves the tokens as they are: the light stemmer is no longer in the code base, and an
older release reading Snowball's tokens only loses some English keyword matches until its chunks
are indexed again.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0025_snowball_stems"
down_revision: str | None = "0024_embedders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500
_TABLES = ("chunks", "term_frequencies")


def retokenise(connection: sa.Connection, batch: int = BATCH, tenant_id: str | None = None) -> int:
    """Recompute `chunks.lexical` from `chunks.text` for every row, or one tenant's (as the owner, RLS
    relaxed by the caller); returns how many rows changed."""
    from knowledge.lexical import tsvector_literal

    only = "" if tenant_id is None else "AND tenant_id = CAST(:tenant AS uuid)"
    changed, after = 0, 0
    while True:
        rows = connection.execute(
            sa.text(f"SELECT id, text FROM chunks WHERE id > :after {only} ORDER BY id LIMIT :n"),
            {"after": after, "n": batch, "tenant": tenant_id},
        ).all()
        if not rows:
            return changed
        result = connection.execute(
            sa.text(
                """
                UPDATE chunks c SET lexical = CAST(v.lexical AS tsvector)
                FROM unnest(CAST(:ids AS bigint[]), CAST(:lexicals AS text[])) AS v(id, lexical)
                WHERE c.id = v.id AND c.lexical IS DISTINCT FROM CAST(v.lexical AS tsvector)
                """
            ),
            {"ids": [r.id for r in rows], "lexicals": [tsvector_literal(r.text) for r in rows]},
        )
        changed += result.rowcount
        after = rows[-1].id


def upgrade() -> None:
    # As the owner: FORCE would hide every row from a non-superuser owner with no tenant set.
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    retokenise(op.get_bind())
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    pass
