"""Lexical candidates ranked by the IDF weights of the query terms they hold, not `ts_rank_cd`.

Revision ID: 0027_lexical_idf_ranking
Revises: 0026_terms_unchanged
Create Date: 2026-12-07

Written by hand (issue 25). `kefu_lexical_candidates(match, rank, limit)` ordered the matched rows
by `ts_rank_cd`, which reads every position of every query term in every matched row and was most
of a FAQ tenant's search statement (docs/log/2026-12-07-issue25-speed.md). Fusion
(`knowledge.retrieval.fuse`) scores a row's lexical part as the IDF-weighted share of the query's
terms it holds, so the lexical candidates worth fusing are the rows with the highest such sum. This
overload takes the query's terms (one tsquery each) and their IDF weights and orders the matched
rows by that sum (a presence check per term), then by fewer lexemes (a row that holds the same
terms among fewer words is about them more), then by id (stable). The old function is kept, so an
API process of the previous release keeps working while this one rolls out.
"""

from collections.abc import Sequence

from alembic import op
from core.settings import get_settings

revision: str = "0027_lexical_idf_ranking"
down_revision: str | None = "0026_terms_unchanged"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SIGNATURE = "kefu_lexical_candidates(tsquery, tsquery[], real[], integer)"


def upgrade() -> None:
    role = get_settings().app_db_role
    # The score is written out term by term (`CASE WHEN lexical @@ $2[i] THEN $3[i] ...`), only
    # integers formatted in: cheaper per row than a subquery over unnest().
    op.execute(
        """
        CREATE OR REPLACE FUNCTION kefu_lexical_candidates(p_match tsquery, p_terms tsquery[],
                                                           p_weights real[], p_limit integer)
        RETURNS TABLE (id bigint)
        LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE
            tenant uuid := NULLIF(current_setting('app.tenant_id', true), '')::uuid;
            score text := '0';
        BEGIN
            IF tenant IS NULL OR p_match IS NULL THEN
                RETURN;
            END IF;
            FOR i IN 1 .. least(coalesce(array_length(p_terms, 1), 0), coalesce(array_length(p_weights, 1), 0))
            LOOP
                score := score || format(' + CASE WHEN %I.lexical @@ $2[%s] THEN coalesce($3[%s], 0) ELSE 0 END',
                                         'r', i, i);
            END LOOP;
            IF EXISTS (SELECT 1 FROM pg_index
                       WHERE indexrelid = to_regclass('ix_chunks_lexical_t_' || replace(tenant::text, '-', ''))
                         AND indisvalid) THEN
                RETURN QUERY EXECUTE format(
                    'SELECT r.id FROM chunks r WHERE r.tenant_id = %L::uuid AND r.lexical @@ $1 '
                    'ORDER BY %s DESC, length(r.lexical), r.id LIMIT $4', tenant, score)
                    USING p_match, p_terms, p_weights, p_limit;
            ELSE
                -- MATERIALIZED keeps the match out of the scan: the tenant's rows by btree, then checked.
                RETURN QUERY EXECUTE format(
                    'WITH own AS MATERIALIZED (SELECT c.id, c.lexical FROM chunks c WHERE c.tenant_id = %L::uuid) '
                    'SELECT r.id FROM own r WHERE r.lexical @@ $1 '
                    'ORDER BY %s DESC, length(r.lexical), r.id LIMIT $4', tenant, score)
                    USING p_match, p_terms, p_weights, p_limit;
            END IF;
        END
        $$
        """
    )
    op.execute(f"REVOKE ALL ON FUNCTION {_SIGNATURE} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {_SIGNATURE} TO {role}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {_SIGNATURE}")
