"""What each export dataset contains: one SQL query and a typed column list per dataset.

Values are cast in SQL to plain text/number/time types (ids and JSON as text) so rows stream
straight into CSV, Parquet and XLSX writers without per-value Python conversion.
"""

from __future__ import annotations

from dataclasses import dataclass

# Column kinds: str, int, float, bool, ts (timestamp with time zone, UTC), date
Column = tuple[str, str]


@dataclass(frozen=True)
class Dataset:
    name: str
    columns: tuple[Column, ...]
    sql: str  # binds :tenant_id, :lo, :hi (period timestamps), :start, :end (period days)
    count_sql: str

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.columns]


CONVERSATIONS = Dataset(
    "conversations",
    (("conversation_id", "str"), ("started_at", "ts"), ("last_message_at", "ts"), ("ended_at", "ts"),
     ("visitor_id", "str"), ("channel", "str"), ("language", "str"), ("messages", "int"),
     ("handed_off", "bool"), ("handoff_reason", "str"), ("resolved", "bool"), ("csat", "int"),
     ("predicted_satisfaction", "float")),
    """
    SELECT c.id::text, c.started_at, c.last_message_at, c.ended_at, c.visitor_id, c.channel, c.language,
           c.message_count, c.handoff, c.handoff_reason, c.resolved, c.csat::int, s.predicted_satisfaction
    FROM conversations c LEFT JOIN conversation_scores s ON s.conversation_id = c.id
    WHERE c.tenant_id = :tenant_id AND c.started_at >= :lo AND c.started_at < :hi
    ORDER BY c.started_at, c.id
    """,
    "SELECT count(*) FROM conversations WHERE tenant_id = :tenant_id AND started_at >= :lo AND started_at < :hi",
)

MESSAGES = Dataset(
    "messages",
    (("message_id", "str"), ("conversation_id", "str"), ("created_at", "ts"), ("role", "str"), ("status", "str"),
     ("text", "str"), ("language", "str"), ("confidence", "float"), ("answered", "bool"), ("handoff", "bool"),
     ("fallback_reason", "str"), ("provider", "str"), ("model", "str"), ("latency_ms", "int"),
     ("prompt_tokens", "int"), ("completion_tokens", "int"), ("citations", "str"), ("tool_calls", "str"),
     ("rating", "int")),
    """
    SELECT m.id::text, m.conversation_id::text, m.created_at, m.role, m.status, m.text, m.language, m.confidence,
           m.answered, m.handoff, m.fallback_reason, m.provider, m.model, m.latency_ms, m.prompt_tokens,
           m.completion_tokens, m.citations::text, m.tool_calls::text, f.rating::int
    FROM messages m LEFT JOIN feedback f ON f.message_id = m.id
    WHERE m.tenant_id = :tenant_id AND m.created_at >= :lo AND m.created_at < :hi
    ORDER BY m.created_at, m.id
    """,
    "SELECT count(*) FROM messages WHERE tenant_id = :tenant_id AND created_at >= :lo AND created_at < :hi",
)

FEEDBACK = Dataset(
    "feedback",
    (("feedback_id", "str"), ("message_id", "str"), ("conversation_id", "str"), ("created_at", "ts"),
     ("rating", "int"), ("comment", "str"), ("question", "str"), ("answer", "str")),
    """
    SELECT f.id::text, f.message_id::text, f.conversation_id::text, f.created_at, f.rating::int, f.comment,
           q.text, m.text
    FROM feedback f JOIN messages m ON m.id = f.message_id LEFT JOIN messages q ON q.id = m.reply_to
    WHERE f.tenant_id = :tenant_id AND f.created_at >= :lo AND f.created_at < :hi
    ORDER BY f.created_at, f.id
    """,
    "SELECT count(*) FROM feedback WHERE tenant_id = :tenant_id AND created_at >= :lo AND created_at < :hi",
)

DAILY = Dataset(
    "daily",
    (("day", "date"), ("conversations", "int"), ("visitors", "int"), ("messages", "int"),
     ("customer_messages", "int"), ("replies", "int"), ("answered", "int"), ("fallbacks", "int"),
     ("failed", "int"), ("answer_rate", "float"), ("handoffs", "int"), ("resolved", "int"),
     ("thumbs_up", "int"), ("thumbs_down", "int"), ("csat_avg", "float"), ("prompt_tokens", "int"),
     ("completion_tokens", "int"), ("est_cost_usd", "float")),
    """
    SELECT d::date, coalesce(a.conversations, 0), coalesce(a.visitors, 0), coalesce(a.messages, 0),
           coalesce(a.customer_messages, 0), coalesce(a.replies, 0), coalesce(a.answered, 0),
           coalesce(a.fallbacks, 0), coalesce(a.failed, 0), a.answered::float8 / nullif(a.replies, 0),
           coalesce(a.handoffs, 0), coalesce(a.resolved, 0), coalesce(a.thumbs_up, 0),
           coalesce(a.thumbs_down, 0), a.csat_sum::float8 / nullif(a.csat_count, 0),
           coalesce(a.prompt_tokens, 0), coalesce(a.completion_tokens, 0), coalesce(a.est_cost_usd, 0)
    FROM generate_series(CAST(:start AS date), CAST(:end AS date), interval '1 day') AS d
    LEFT JOIN analytics_daily a ON a.tenant_id = :tenant_id AND a.day = d::date
    ORDER BY 1
    """,
    "SELECT CAST(:end AS date) - CAST(:start AS date) + 1",
)

DATASETS_BY_NAME = {d.name: d for d in (CONVERSATIONS, MESSAGES, FEEDBACK, DAILY)}
