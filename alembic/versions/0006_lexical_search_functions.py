"""Lexical search functions that can use GIN indexes under row-level security.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

Written by hand. PostgreSQL only turns a condition into an index condition ahead of a table's RLS
policy when its operator is leakproof; `tsvector @@ tsquery` (ts_match_vq) is not, so as the app
role every lexical match read all of a tenant's rows and filtered them (a 134k-chunk tenant: ~0.5 s
per search), and neither the global GIN nor a tenant's partial GIN was ever used. These SECURITY
DEFINER functions run the same statements as the owner, scoped to the tenant of the current
transaction (`app.tenant_id`, the setting the RLS policies read, so a caller sees nothing RLS would
hide), with the tenant id inlined so a tenant's partial GIN (knowledge.vector_index) matches.
"""

from collections.abc import Sequence

from alembic import op
from core.settings import get_settings

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = (
    "kefu_lexical_candidates(tsquery, tsquery, integer)",
    "kefu_term_frequencies(tsquery[], integer)",
)


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION kefu_lexical_candidates(p_match tsquery, p_rank tsquery, p_limit integer)
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
    role = get_settings().app_db_role
    for fn in FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {role}")


def downgrade() -> None:
    for fn in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
