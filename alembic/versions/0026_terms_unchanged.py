"""Term counts: an UPDATE counts only the chunks whose tokens (or tenant) changed.

Revision ID: 0026_terms_unchanged
Revises: 0025_snowball_stems
Create Date: 2026-12-07

Written by hand (issue 21). The statement-level UPDATE trigger of migration 0011 subtracted every
term of every updated chunk and added them back, whatever the UPDATE changed. A re-embedding's
switch (`knowledge.reembed`) updates all of a tenant's chunks but only their vectors, so it
rewrote every `term_frequencies` row of the tenant inside the switch transaction for nothing.
Now the UPDATE branch counts only the rows whose `lexical` or `tenant_id` differs (the multiset
difference of the transition tables on id, tenant and tokens); when none does it takes no lock
and writes nothing.

A column list (`AFTER UPDATE OF lexical`) would have been simpler, but PostgreSQL refuses
transition tables on triggers with column lists, and it would fire on an unchanged `lexical`
named in a SET anyway (migration 0025 writes only rows whose tokens changed, so it is unaffected).
INSERT and DELETE are counted as before. Downgrade restores 0011's function.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026_terms_unchanged"
down_revision: str | None = "0025_snowball_stems"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _terms_of(rows: str) -> str:
    """(tenant_id, term, df) of a set of chunk rows, with the chunk count under the empty term."""
    return f"""
        SELECT tenant_id, term, count(*)::integer AS df FROM (
            SELECT r.tenant_id, t.term FROM {rows} r, unnest(tsvector_to_array(r.lexical)) AS t(term)
            UNION ALL
            SELECT r.tenant_id, '' FROM {rows} r
        ) s GROUP BY tenant_id, term"""


_LOCK = """
    PERFORM pg_advisory_xact_lock(hashtextextended('kefu_term_frequencies ' || t::text, 0))
    FROM (SELECT DISTINCT r.tenant_id AS t FROM {rows} r ORDER BY 1) s;"""
_SUBTRACT = """
    UPDATE term_frequencies f SET df = f.df - d.df
    FROM ({terms}) d
    WHERE f.tenant_id = d.tenant_id AND f.term = d.term;"""
_ADD = """
    INSERT INTO term_frequencies AS f (tenant_id, term, df)
    SELECT tenant_id, term, df FROM ({terms}) d ORDER BY tenant_id, term
    ON CONFLICT (tenant_id, term) DO UPDATE SET df = f.df + excluded.df;"""


def _count(old: str | None, new: str | None) -> str:
    """Lock every tenant involved (new rows' first, as 0011 does), subtract the old rows, add the new."""
    steps = [_LOCK.format(rows=rows) for rows in (new, old) if rows]
    if old:
        steps.append(_SUBTRACT.format(terms=_terms_of(old)))
    if new:
        steps.append(_ADD.format(terms=_terms_of(new)))
    return "\n".join(steps)


# The rows of an UPDATE whose tokens or tenant changed, old side and new side: a multiset difference
# (a sort of each side by id), which unchanged rows cancel out of. Not a join: the planner knows
# nothing of transition tables and picked a nested loop (0.4 s for 2,000 rows).
_COLUMNS = "id, tenant_id, lexical"
_CHANGED_OLD = f"(SELECT {_COLUMNS} FROM old_rows EXCEPT ALL SELECT {_COLUMNS} FROM new_rows)"
_CHANGED_NEW = f"(SELECT {_COLUMNS} FROM new_rows EXCEPT ALL SELECT {_COLUMNS} FROM old_rows)"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION kefu_count_chunk_terms() RETURNS trigger
        LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                {_count(None, "new_rows")}
            ELSIF TG_OP = 'DELETE' THEN
                {_count("old_rows", None)}
            ELSIF EXISTS {_CHANGED_OLD} THEN  -- a changed row is on both sides, or on neither
                {_count(_CHANGED_OLD, _CHANGED_NEW)}
            END IF;
            RETURN NULL;
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION kefu_count_chunk_terms() RETURNS trigger
        LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
        BEGIN
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                PERFORM pg_advisory_xact_lock(hashtextextended('kefu_term_frequencies ' || t::text, 0))
                FROM (SELECT DISTINCT tenant_id AS t FROM new_rows ORDER BY 1) s;
            END IF;
            IF TG_OP IN ('DELETE', 'UPDATE') THEN
                PERFORM pg_advisory_xact_lock(hashtextextended('kefu_term_frequencies ' || t::text, 0))
                FROM (SELECT DISTINCT tenant_id AS t FROM old_rows ORDER BY 1) s;
                UPDATE term_frequencies f SET df = f.df - d.df
                FROM ({_terms_of("old_rows")}) d
                WHERE f.tenant_id = d.tenant_id AND f.term = d.term;
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                INSERT INTO term_frequencies AS f (tenant_id, term, df)
                SELECT tenant_id, term, df FROM ({_terms_of("new_rows")}) d ORDER BY tenant_id, term
                ON CONFLICT (tenant_id, term) DO UPDATE SET df = f.df + excluded.df;
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
