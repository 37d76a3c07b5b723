"""The agent inbox: an `agent` role, conversations a person holds, agent messages, canned responses.

Revision ID: 0019_inbox
Revises: 0016_inline_chunk_rows
Create Date: 2026-12-07

Written by hand: check constraints are replaced (not altered), `canned_responses` gets row-level
security and the app-role grants, and a trigger puts a conversation in the inbox whenever its
`handoff_at` is set, so the three ways a hand-off is stored (the widget's button, the bot's
answer in `kefu_save_exchange`, the queued path's `save_reply`) all reach the inbox without each
repeating it. Hand-offs of the last seven days wait in the inbox after the upgrade; older ones
stay history.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from core.settings import get_settings

revision: str = "0019_inbox"
down_revision: str | None = "0016_inline_chunk_rows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION kefu_inbox_on_handoff() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A new hand-off waits for a person, unless one already holds or awaits the conversation.
    IF NEW.handoff_at IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.handoff_at IS DISTINCT FROM OLD.handoff_at)
       AND COALESCE(NEW.inbox_status, '') NOT IN ('waiting', 'open') THEN
        NEW.inbox_status := 'waiting';
        NEW.assignee_id := NULL;
        NEW.assigned_at := NULL;
        NEW.inbox_resolved_at := NULL;
    END IF;
    RETURN NEW;
END $$
"""


def upgrade() -> None:
    op.drop_constraint(op.f("ck_users_role"), "users", type_="check")
    op.create_check_constraint(op.f("ck_users_role"), "users", "role IN ('owner', 'admin', 'analyst', 'agent')")
    op.add_column("users", sa.Column("display_name", sa.String(200), nullable=True))

    op.add_column("conversations", sa.Column("inbox_status", sa.String(20), nullable=True))
    op.add_column("conversations", sa.Column("assignee_id", sa.UUID(), nullable=True))
    op.add_column("conversations", sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("conversations", sa.Column("inbox_resolved_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        op.f("ck_conversations_inbox_status"), "conversations", "inbox_status IN ('waiting', 'open', 'resolved')"
    )
    op.create_foreign_key(
        op.f("fk_conversations_assignee_id_users"),
        "conversations",
        "users",
        ["assignee_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(
        "ix_conversations_tenant_inbox",
        "conversations",
        ["tenant_id", "inbox_status", "handoff_at"],
        postgresql_where=sa.text("inbox_status IS NOT NULL"),
    )
    op.execute(_TRIGGER_FUNCTION)
    op.execute(
        "CREATE TRIGGER kefu_inbox_on_handoff BEFORE INSERT OR UPDATE OF handoff_at ON conversations "
        "FOR EACH ROW EXECUTE FUNCTION kefu_inbox_on_handoff()"
    )
    op.execute(
        "UPDATE conversations SET inbox_status = 'waiting' WHERE handoff AND handoff_at > now() - interval '7 days'"
    )

    op.drop_constraint(op.f("ck_messages_status"), "messages", type_="check")
    op.create_check_constraint(
        op.f("ck_messages_status"), "messages", "status IN ('pending', 'answered', 'failed', 'human')"
    )
    op.add_column("messages", sa.Column("agent_id", sa.UUID(), nullable=True))
    op.add_column("messages", sa.Column("agent_name", sa.String(200), nullable=True))
    op.add_column("messages", sa.Column("client_ref", sa.String(100), nullable=True))
    op.create_foreign_key(
        op.f("fk_messages_agent_id_users"), "messages", "users", ["agent_id"], ["id"], ondelete="SET NULL"
    )
    # An agent's page re-sends a reply with the same client_ref after a dropped connection.
    op.create_index(
        "uq_messages_conversation_client_ref",
        "messages",
        ["conversation_id", "client_ref"],
        unique=True,
        postgresql_where=sa.text("client_ref IS NOT NULL"),
    )

    op.create_table(
        "canned_responses",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("shortcut", sa.String(40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_canned_responses_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_responses")),
        sa.UniqueConstraint("tenant_id", "shortcut", name="uq_canned_responses_tenant_shortcut"),
    )
    op.create_index(op.f("ix_canned_responses_tenant_id"), "canned_responses", ["tenant_id"], unique=False)
    op.execute("ALTER TABLE canned_responses ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE canned_responses FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON canned_responses USING "
        "(tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON canned_responses TO {get_settings().app_db_role}")


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS tenant_isolation ON canned_responses")
    op.drop_table("canned_responses")
    op.drop_index("uq_messages_conversation_client_ref", table_name="messages")
    op.drop_constraint(op.f("fk_messages_agent_id_users"), "messages", type_="foreignkey")
    for column in ("client_ref", "agent_name", "agent_id"):
        op.drop_column("messages", column)
    op.execute("UPDATE messages SET status = 'answered' WHERE status = 'human'")
    op.drop_constraint(op.f("ck_messages_status"), "messages", type_="check")
    op.create_check_constraint(op.f("ck_messages_status"), "messages", "status IN ('pending', 'answered', 'failed')")
    op.execute("DROP TRIGGER IF EXISTS kefu_inbox_on_handoff ON conversations")
    op.execute("DROP FUNCTION IF EXISTS kefu_inbox_on_handoff()")
    op.drop_index("ix_conversations_tenant_inbox", table_name="conversations")
    op.drop_constraint(op.f("fk_conversations_assignee_id_users"), "conversations", type_="foreignkey")
    op.drop_constraint(op.f("ck_conversations_inbox_status"), "conversations", type_="check")
    for column in ("inbox_resolved_at", "assigned_at", "assignee_id", "inbox_status"):
        op.drop_column("conversations", column)
    op.drop_column("users", "display_name")
    op.execute("DELETE FROM users WHERE role = 'agent'")
    op.drop_constraint(op.f("ck_users_role"), "users", type_="check")
    op.create_check_constraint(op.f("ck_users_role"), "users", "role IN ('owner', 'admin', 'analyst')")
