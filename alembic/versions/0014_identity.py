"""Verified visitor identity, private records, privacy operations and the audit log.

Revision ID: 0014_identity
Revises: 0013
Create Date: 2026-12-07

Written by hand (issue 20):
- `tenants.identity_secret`: the tenant's identity-verification secret, encrypted (core.identity);
  `tenants.retention_days`: conversations older than this are deleted by the worker (NULL: kept).
- `conversations.user_id/user_name/user_email`: the verified user of a conversation (the widget
  sent an HMAC of the id made with the identity secret); indexes for a user's conversations and
  for erasing a visitor.
- `record_collections.owner_column/sensitive_columns/access`: who may read a record through the
  chat (`owner`: the verified user named in the owner column; `public`: anyone; `private`: no
  visitor). Existing collections become `private`: until now any holder of the public widget key
  could read them, which is the leak this revision closes; an admin re-uploads with an owner
  column or marks the collection public.
- `audit_log`: admin actions, with row-level security like every tenant table.
- `kefu_save_exchange` takes the verified user: a conversation with a user is continued only by
  that user (from any device); one without is continued by its visitor and may be claimed by the
  user who signs in during it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op
from core.settings import get_settings

revision: str = "0014_identity"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_SIGNATURE = (
    "kefu_save_exchange(uuid, uuid, boolean, text, text, uuid, text, timestamptz, uuid, text, timestamptz, "
    "text, jsonb, double precision, boolean, text, text, jsonb, text, text, integer, integer, integer)"
)
NEW_SIGNATURE = OLD_SIGNATURE[:-1] + ", text, text, text)"

_BODY = """
        CREATE FUNCTION kefu_save_exchange(
            p_tenant uuid, p_conversation uuid, p_new_conversation boolean, p_visitor text, p_channel text,
            p_question_id uuid, p_question text, p_asked_at timestamptz,
            p_reply_id uuid, p_answer text, p_answered_at timestamptz, p_language text, p_citations jsonb,
            p_confidence double precision, p_answered boolean, p_handoff_reason text, p_fallback_reason text,
            p_tool_calls jsonb, p_provider text, p_model text, p_latency_ms integer,
            p_prompt_tokens integer, p_completion_tokens integer{user_params})
        RETURNS boolean
        LANGUAGE plpgsql VOLATILE SECURITY INVOKER
        SET search_path = public, pg_temp SET plan_cache_mode = auto AS $$
        DECLARE
            handed_off boolean := p_handoff_reason IS NOT NULL;
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant::text, true);
            IF p_new_conversation THEN
                INSERT INTO conversations (id, tenant_id, visitor_id, channel, language, started_at, last_message_at,
                                           message_count, handoff, handoff_reason, handoff_at{user_columns})
                VALUES (p_conversation, p_tenant, p_visitor, p_channel, p_language, p_asked_at, p_answered_at, 2,
                        handed_off, p_handoff_reason, CASE WHEN handed_off THEN p_answered_at END{user_values});
            ELSE
                UPDATE conversations
                   SET message_count = message_count + 2, last_message_at = p_answered_at, ended_at = NULL,
                       language = p_language, handoff = handoff OR handed_off,
                       handoff_reason = CASE WHEN handed_off THEN p_handoff_reason ELSE handoff_reason END,
                       handoff_at = CASE WHEN handed_off THEN p_answered_at ELSE handoff_at END{user_update}
                 WHERE id = p_conversation AND {owner_check};
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

NEW_FUNCTION = _BODY.format(
    user_params=", p_user text, p_user_name text, p_user_email text",
    user_columns=", user_id, user_name, user_email",
    user_values=", p_user, p_user_name, p_user_email",
    # A signed-in user claims an anonymous conversation of theirs; signed name/email are kept fresh.
    user_update=(",\n                       user_id = coalesce(user_id, p_user),"
                 "\n                       user_name = coalesce(p_user_name, user_name),"
                 "\n                       user_email = coalesce(p_user_email, user_email)"),
    owner_check="((p_user IS NOT NULL AND user_id = p_user) OR (user_id IS NULL AND visitor_id = p_visitor))",
)
OLD_FUNCTION = _BODY.format(user_params="", user_columns="", user_values="", user_update="",
                            owner_check="visitor_id = p_visitor")


def _install(function: str, signature: str) -> None:
    op.execute(function)
    op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {get_settings().app_db_role}")


def upgrade() -> None:
    op.add_column("tenants", sa.Column("identity_secret", sa.Text(), nullable=True))
    op.add_column("tenants", sa.Column("retention_days", sa.Integer(), nullable=True))
    op.create_check_constraint("retention_days", "tenants", "retention_days BETWEEN 1 AND 36500")

    op.add_column("conversations", sa.Column("user_id", sa.String(length=200), nullable=True))
    op.add_column("conversations", sa.Column("user_name", sa.String(length=200), nullable=True))
    op.add_column("conversations", sa.Column("user_email", sa.String(length=320), nullable=True))
    op.create_index("ix_conversations_tenant_user", "conversations", ["tenant_id", "user_id"],
                    postgresql_where=sa.text("user_id IS NOT NULL"))
    op.create_index("ix_conversations_tenant_visitor", "conversations", ["tenant_id", "visitor_id"])

    op.add_column("record_collections", sa.Column("owner_column", sa.String(length=200), nullable=True))
    op.add_column("record_collections", sa.Column(
        "sensitive_columns", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False))
    op.add_column("record_collections", sa.Column(
        "access", sa.String(length=10), server_default="private", nullable=False))
    op.create_check_constraint(
        "access", "record_collections",
        "access IN ('owner', 'public', 'private') AND (access = 'owner') = (owner_column IS NOT NULL)")

    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor_kind", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column("actor_label", sa.String(length=320), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_audit_log_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_tenant_id"), "audit_log", ["tenant_id"], unique=False)
    op.create_index("ix_audit_log_tenant_at", "audit_log", ["tenant_id", "at"], unique=False)
    op.execute("ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE audit_log FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON audit_log USING "
        "(tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)"
    )
    role = get_settings().app_db_role
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON audit_log TO {role}")

    op.execute(f"DROP FUNCTION IF EXISTS {OLD_SIGNATURE}")
    _install(NEW_FUNCTION, NEW_SIGNATURE)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {NEW_SIGNATURE}")
    _install(OLD_FUNCTION, OLD_SIGNATURE)
    op.drop_index("ix_audit_log_tenant_at", table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_tenant_id"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_constraint(op.f("ck_record_collections_access"), "record_collections", type_="check")
    for column in ("access", "sensitive_columns", "owner_column"):
        op.drop_column("record_collections", column)
    op.drop_index("ix_conversations_tenant_visitor", table_name="conversations")
    op.drop_index("ix_conversations_tenant_user", table_name="conversations")
    for column in ("user_email", "user_name", "user_id"):
        op.drop_column("conversations", column)
    op.drop_constraint(op.f("ck_tenants_retention_days"), "tenants", type_="check")
    op.drop_column("tenants", "retention_days")
    op.drop_column("tenants", "identity_secret")
