"""One statement stores a chat question with its answer.

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-05

Written by hand. Every message a customer waits for is stored with its answer (chat.store
`save_exchange`). As separate statements that was BEGIN, set the tenant, insert or update the
conversation, insert both messages, COMMIT: six round trips and six statements' worth of driver
work per message, the largest cost of a cached answer. This function does the same in one call,
in autocommit. It is SECURITY INVOKER: it runs as the app role, so row-level security checks
every row it writes against the tenant it sets (exactly what a session of that tenant could do).
A continued conversation is updated only if it is the visitor's; otherwise nothing is written
and it returns false.

Keep it in step with the `messages`, `conversations`, `handoffs` and `usage_daily` tables: a
column added there with a NOT NULL and no default must be added here too (the chat tests store
through it; tests/integration/test_migrations.py round-trips it).
"""

from collections.abc import Sequence

from alembic import op
from core.settings import get_settings

revision: str = "0010"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNATURE = (
    "kefu_save_exchange(uuid, uuid, boolean, text, text, uuid, text, timestamptz, uuid, text, timestamptz, "
    "text, jsonb, double precision, boolean, text, text, jsonb, text, text, integer, integer, integer)"
)


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION kefu_save_exchange(
            p_tenant uuid, p_conversation uuid, p_new_conversation boolean, p_visitor text, p_channel text,
            p_question_id uuid, p_question text, p_asked_at timestamptz,
            p_reply_id uuid, p_answer text, p_answered_at timestamptz, p_language text, p_citations jsonb,
            p_confidence double precision, p_answered boolean, p_handoff_reason text, p_fallback_reason text,
            p_tool_calls jsonb, p_provider text, p_model text, p_latency_ms integer,
            p_prompt_tokens integer, p_completion_tokens integer)
        RETURNS boolean
        LANGUAGE plpgsql VOLATILE SECURITY INVOKER
        SET search_path = public, pg_temp SET plan_cache_mode = auto AS $$
        DECLARE
            handed_off boolean := p_handoff_reason IS NOT NULL;
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant::text, true);
            IF p_new_conversation THEN
                INSERT INTO conversations (id, tenant_id, visitor_id, channel, language, started_at, last_message_at,
                                           message_count, handoff, handoff_reason, handoff_at)
                VALUES (p_conversation, p_tenant, p_visitor, p_channel, p_language, p_asked_at, p_answered_at, 2,
                        handed_off, p_handoff_reason, CASE WHEN handed_off THEN p_answered_at END);
            ELSE
                UPDATE conversations
                   SET message_count = message_count + 2, last_message_at = p_answered_at, ended_at = NULL,
                       language = p_language, handoff = handoff OR handed_off,
                       handoff_reason = CASE WHEN handed_off THEN p_handoff_reason ELSE handoff_reason END,
                       handoff_at = CASE WHEN handed_off THEN p_answered_at ELSE handoff_at END
                 WHERE id = p_conversation AND visitor_id = p_visitor;
                IF NOT FOUND THEN
                    RETURN false;
                END IF;
            END IF;
            INSERT INTO messages (id, tenant_id, conversation_id, reply_to, role, status, text, language, citations,
                                  confidence, answered, handoff, fallback_reason, tool_calls, provider, model,
                                  latency_ms, prompt_tokens, completion_tokens, created_at)
            VALUES (p_question_id, p_tenant, p_conversation, NULL, 'customer', 'answered', p_question, p_language,
                    '[]'::jsonb, NULL, NULL, false, NULL, '[]'::jsonb, NULL, NULL, NULL, 0, 0, p_asked_at),
                   (p_reply_id, p_tenant, p_conversation, p_question_id, 'assistant', 'answered', p_answer,
                    p_language, p_citations, p_confidence, p_answered, handed_off, p_fallback_reason, p_tool_calls,
                    p_provider, p_model, p_latency_ms, p_prompt_tokens, p_completion_tokens, p_answered_at);
            IF handed_off THEN
                INSERT INTO handoffs (id, tenant_id, conversation_id, reason, source, created_at)
                VALUES (gen_random_uuid(), p_tenant, p_conversation, p_handoff_reason, 'bot', p_answered_at);
            END IF;
            IF p_prompt_tokens > 0 OR p_completion_tokens > 0 THEN
                -- Model usage per tenant-day; answers without tokens are counted from `messages`.
                INSERT INTO usage_daily AS u (tenant_id, day, requests, prompt_tokens, completion_tokens)
                VALUES (p_tenant, (p_answered_at AT TIME ZONE 'UTC')::date, 1, p_prompt_tokens, p_completion_tokens)
                ON CONFLICT (tenant_id, day) DO UPDATE
                   SET requests = u.requests + 1, prompt_tokens = u.prompt_tokens + EXCLUDED.prompt_tokens,
                       completion_tokens = u.completion_tokens + EXCLUDED.completion_tokens;
            END IF;
            RETURN true;
        END
        $$
        """
    )
    op.execute(f"REVOKE ALL ON FUNCTION {SIGNATURE} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {SIGNATURE} TO {get_settings().app_db_role}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE}")
