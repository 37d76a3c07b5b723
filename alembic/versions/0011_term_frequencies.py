"""Term frequencies kept by triggers; lexical candidates read a small tenant's own rows.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

Written by hand. Retrieval weights query terms by IDF, which needs how many of the tenant's chunks
hold each term. Migration 0006 counted GIN matches per term (capped at 1,000), which for common
terms in a 100k+-chunk tenant was the slowest part of a search whenever the per-process cache
(knowledge.term_stats) missed. Now `term_frequencies` holds the counts, one row per (tenant, term),
and the row for the empty term (no tsvector can hold it) counts the tenant's chunks:

- statement-level triggers on `chunks` (transition tables: one aggregate per INSERT or DELETE
  statement, not one per row) add and subtract. A per-tenant advisory lock, taken before any
  count row, makes concurrent writers of one tenant take their turn instead of deadlocking on
  count rows locked in different orders across statements; other tenants never wait. Counts that
  fall to 0 stay as 0 rows (they read as absent). Subtractions only UPDATE, so a tenant deleted
  with everything it owns (ON DELETE CASCADE) never re-inserts a count for itself;
- `kefu_term_frequencies(text[])` is a lookup (SECURITY INVOKER: row-level security applies);
- `kefu_lexical_candidates` uses the tenant's partial GIN when it has a valid one
  (knowledge.vector_index builds it from KEFU_TENANT_LEXICAL_INDEX_THRESHOLD chunks), and
  otherwise reads the tenant's own rows through the tenant_id btree: intersecting the global GIN's
  postings of a common term (every tenant's rows) with a small tenant's rows costs more than
  checking those few rows.

The upgrade backfills the counts from the chunks already stored (as the owner, with RLS relaxed
on the two tables for the statement). Downgrade restores migration 0006's functions.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op
from core.settings import get_settings

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
_TRIGGERS = {
    "chunks_terms_insert": "AFTER INSERT ON chunks REFERENCING NEW TABLE AS new_rows",
    "chunks_terms_delete": "AFTER DELETE ON chunks REFERENCING OLD TABLE AS old_rows",
    "chunks_terms_update": "AFTER UPDATE ON chunks REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
}


def _terms_of(rows: str) -> str:
    """(tenant_id, term, df) of a transition table, with the chunk count under the empty term."""
    return f"""
        SELECT tenant_id, term, count(*)::integer AS df FROM (
            SELECT r.tenant_id, t.term FROM {rows} r, unnest(tsvector_to_array(r.lexical)) AS t(term)
            UNION ALL
            SELECT r.tenant_id, '' FROM {rows} r
        ) s GROUP BY tenant_id, term"""


def upgrade() -> None:
    op.create_table(
        "term_frequencies",
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("term", sa.Text(), nullable=False),
        sa.Column("df", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "term", name="pk_term_frequencies"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name="fk_term_frequencies_tenant_id_tenants"),
    )
    op.execute("ALTER TABLE term_frequencies ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE term_frequencies FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_isolation ON term_frequencies USING (tenant_id = {_TENANT})")
    role = get_settings().app_db_role
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON term_frequencies TO {role}")

    op.execute(
        f"""
        CREATE FUNCTION kefu_count_chunk_terms() RETURNS trigger
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
    for name, event in _TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {event} FOR EACH STATEMENT EXECUTE FUNCTION kefu_count_chunk_terms()")

    # Backfill as the owner: FORCE would hide every row from a non-superuser owner with no tenant set.
    for table in ("chunks", "term_frequencies"):
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(
        """
        INSERT INTO term_frequencies (tenant_id, term, df)
        SELECT tenant_id, term, count(*) FROM chunks, unnest(tsvector_to_array(lexical)) AS t(term)
        GROUP BY tenant_id, term
        UNION ALL
        SELECT tenant_id, '', count(*) FROM chunks GROUP BY tenant_id
        """
    )
    for table in ("chunks", "term_frequencies"):
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")

    op.execute("DROP FUNCTION kefu_term_frequencies(tsquery[], integer)")
    op.execute(
        f"""
        CREATE FUNCTION kefu_term_frequencies(p_terms text[]) RETURNS integer[]
        LANGUAGE plpgsql STABLE SET search_path = public, pg_temp AS $$
        BEGIN
            -- plpgsql keeps the statement's plan for the session; a SQL function planned it per call.
            RETURN (SELECT coalesce(array_agg(coalesce(f.df, 0) ORDER BY u.i), ARRAY[]::integer[])
                    FROM unnest(p_terms) WITH ORDINALITY AS u(term, i)
                    LEFT JOIN term_frequencies f ON f.tenant_id = {_TENANT} AND f.term = u.term);
        END
        $$
        """
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION kefu_lexical_candidates(p_match tsquery, p_rank tsquery, p_limit integer)
        RETURNS TABLE (id bigint)
        LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE
            tenant uuid := NULLIF(current_setting('app.tenant_id', true), '')::uuid;
        BEGIN
            IF tenant IS NULL THEN
                RETURN;
            END IF;
            IF EXISTS (SELECT 1 FROM pg_index
                       WHERE indexrelid = to_regclass('ix_chunks_lexical_t_' || replace(tenant::text, '-', ''))
                         AND indisvalid) THEN
                RETURN QUERY EXECUTE format(
                    'SELECT c.id FROM chunks c WHERE c.tenant_id = %L::uuid AND c.lexical @@ $1 '
                    'ORDER BY ts_rank_cd(c.lexical, $2, 1) DESC LIMIT $3', tenant)
                    USING p_match, p_rank, p_limit;
            ELSE
                -- MATERIALIZED keeps the match out of the scan: the tenant's rows by btree, then checked.
                RETURN QUERY EXECUTE format(
                    'WITH own AS MATERIALIZED (SELECT c.id, c.lexical FROM chunks c WHERE c.tenant_id = %L::uuid) '
                    'SELECT own.id FROM own WHERE own.lexical @@ $1 '
                    'ORDER BY ts_rank_cd(own.lexical, $2, 1) DESC LIMIT $3', tenant)
                    USING p_match, p_rank, p_limit;
            END IF;
        END
        $$
        """
    )
    for fn in ("kefu_term_frequencies(text[])", "kefu_lexical_candidates(tsquery, tsquery, integer)"):
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {role}")


def downgrade() -> None:
    role = get_settings().app_db_role
    op.execute("DROP FUNCTION kefu_term_frequencies(text[])")
    # Migration 0006's functions, as they were.
    op.execute(
        """
        CREATE OR REPLACE FUNCTION kefu_lexical_candidates(p_match tsquery, p_rank tsquery, p_limit integer)
        RETURNS TABLE (id bigint)
        LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE
            tenant uuid := NULLIF(current_setting('app.tenant_id', true), '')::uuid;
        BEGIN
            IF tenant IS NULL THEN
                RETURN;
            END IF;
            RETURN QUERY EXECUTE format(
                'SELECT c.id FROM chunks c WHERE c.tenant_id = %L::uuid AND c.lexical @@ $1 '
                'ORDER BY ts_rank_cd(c.lexical, $2, 1) DESC LIMIT $3', tenant)
                USING p_match, p_rank, p_limit;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION kefu_term_frequencies(p_terms tsquery[], p_cap integer)
        RETURNS integer[]
        LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE
            tenant uuid := NULLIF(current_setting('app.tenant_id', true), '')::uuid;
            term tsquery;
            counts integer[] := ARRAY[]::integer[];
            found integer;
        BEGIN
            FOREACH term IN ARRAY coalesce(p_terms, ARRAY[]::tsquery[]) LOOP
                found := 0;
                IF tenant IS NOT NULL THEN
                    EXECUTE format(
                        'SELECT count(*) FROM (SELECT 1 FROM chunks c WHERE c.tenant_id = %L::uuid '
                        'AND c.lexical @@ $1 LIMIT $2) s', tenant)
                        INTO found USING term, p_cap;
                END IF;
                counts := counts || found;
            END LOOP;
            RETURN counts;
        END
        $$
        """
    )
    for fn in ("kefu_term_frequencies(tsquery[], integer)", "kefu_lexical_candidates(tsquery, tsquery, integer)"):
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {role}")
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON chunks")
    op.execute("DROP FUNCTION kefu_count_chunk_terms()")
    op.drop_table("term_frequencies")
