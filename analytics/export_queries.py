"""What each export dataset contains: typed columns (name, kind, SQL expression) over one source.

The same column list renders three ways, so each format gets the cheapest path:
- `python`: values as the driver returns them (XLSX, written row by row);
- `text`: everything rendered by PostgreSQL for `COPY … (FORMAT csv)` — ISO-8601 UTC timestamps,
  booleans as true/false, formula-leading text behind an apostrophe (`analytics.spreadsheet_cells`)
  — the CSV export is PostgreSQL's own output, streamed;
- `arrow`: like `text` but timestamps in PostgreSQL's plain UTC form, which pyarrow's CSV reader
  parses natively into typed columns without per-value Python work (the Parquet export).
CSV and XLSX rows are in time order. Parquet rows are in storage order: sorting a million wide rows
would spill to disk and double the export time, and Parquet readers sort on load anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from analytics.spreadsheet_cells import csv_text_sql


@dataclass(frozen=True)
class Dataset:
    name: str
    # (name, kind, SQL expression); kinds: str, int, float, bool, ts (timestamp with time zone, UTC), date
    columns: tuple[tuple[str, str, str], ...]
    source: str  # FROM … WHERE …; binds :tenant_id, :lo, :hi (timestamps), :start, :end (days)
    order: str  # ORDER BY expressions (time, then id)
    count_sql: str

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.columns]

    @property
    def kinds(self) -> list[str]:
        return [kind for _, kind, _ in self.columns]

    def select(self, style: str = "python", *, ordered: bool = True, local: bool = False) -> str:
        """The query; unordered skips a sort of every row (the Parquet export: readers sort on load).

        `local`: CSV timestamps in the session's time zone with their offset (2026-03-02T17:00:00+08:00)
        instead of UTC with Z (the tenant's time zone, set on the session by the writer).
        """
        columns = ", ".join(f'{_render(expr, kind, style, local)} AS "{name}"' for name, kind, expr in self.columns)
        return f"SELECT {columns} {self.source}" + (f" ORDER BY {self.order}" if ordered else "")


def _render(expr: str, kind: str, style: str, local: bool = False) -> str:
    if style == "python":
        return expr
    if kind == "ts":
        if style == "arrow":  # PostgreSQL's own text form in UTC ("2026-03-02 09:00:00.5+00"): no per-row math
            return expr
        if local:
            return f"(to_json({expr}) #>> '{{}}')"
        return f"((to_json(({expr}) AT TIME ZONE 'UTC') #>> '{{}}') || 'Z')"
    if kind in ("bool", "date"):
        return f"({expr})::text"
    if kind == "str" and style == "text":  # CSV: customer text never opens as a formula
        return csv_text_sql(expr)
    return expr


CONVERSATIONS = Dataset(
    "conversations",
    (("conversation_id", "str", "c.id::text"), ("started_at", "ts", "c.started_at"),
     ("last_message_at", "ts", "c.last_message_at"), ("ended_at", "ts", "c.ended_at"),
     ("visitor_id", "str", "c.visitor_id"), ("channel", "str", "c.channel"), ("language", "str", "c.language"),
     ("messages", "int", "c.message_count"), ("handed_off", "bool", "c.handoff"),
     ("handoff_reason", "str", "c.handoff_reason"), ("resolved", "bool", "c.resolved"),
     ("csat", "int", "c.csat::int"), ("predicted_satisfaction", "float", "s.predicted_satisfaction"),
     # Human service (analytics.human_service): who held the hand-off, how fast a person answered and resolved it.
     ("handoff_at", "ts", "c.handoff_at"), ("assignee", "str", "coalesce(u.display_name, u.email)"),
     ("first_human_response_s", "float", "extract(epoch FROM (SELECT min(am.created_at) FROM messages am "
      "WHERE am.conversation_id = c.id AND am.role = 'agent' AND am.created_at >= c.handoff_at) "
      "- c.handoff_at)::float8"),
     ("resolve_s", "float", "extract(epoch FROM c.inbox_resolved_at - c.handoff_at)::float8")),
    """FROM conversations c LEFT JOIN conversation_scores s ON s.conversation_id = c.id
    LEFT JOIN users u ON u.id = c.assignee_id
    WHERE c.tenant_id = :tenant_id AND c.started_at >= :lo AND c.started_at < :hi""",
    "c.started_at, c.id",
    "SELECT count(*) FROM conversations WHERE tenant_id = :tenant_id AND started_at >= :lo AND started_at < :hi",
)

MESSAGES = Dataset(
    "messages",
    (("message_id", "str", "m.id::text"), ("conversation_id", "str", "m.conversation_id::text"),
     ("created_at", "ts", "m.created_at"), ("role", "str", "m.role"), ("status", "str", "m.status"),
     ("text", "str", "m.text"), ("language", "str", "m.language"), ("confidence", "float", "m.confidence"),
     ("answered", "bool", "m.answered"), ("handoff", "bool", "m.handoff"),
     ("fallback_reason", "str", "m.fallback_reason"), ("provider", "str", "m.provider"), ("model", "str", "m.model"),
     ("latency_ms", "int", "m.latency_ms"), ("prompt_tokens", "int", "m.prompt_tokens"),
     ("completion_tokens", "int", "m.completion_tokens"), ("citations", "str", "m.citations::text"),
     ("tool_calls", "str", "m.tool_calls::text"), ("rating", "int", "f.rating::int")),
    """FROM messages m LEFT JOIN feedback f ON f.message_id = m.id
    WHERE m.tenant_id = :tenant_id AND m.created_at >= :lo AND m.created_at < :hi""",
    "m.created_at, m.id",
    "SELECT count(*) FROM messages WHERE tenant_id = :tenant_id AND created_at >= :lo AND created_at < :hi",
)

FEEDBACK = Dataset(
    "feedback",
    (("feedback_id", "str", "f.id::text"), ("message_id", "str", "f.message_id::text"),
     ("conversation_id", "str", "f.conversation_id::text"), ("created_at", "ts", "f.created_at"),
     ("rating", "int", "f.rating::int"), ("comment", "str", "f.comment"), ("question", "str", "q.text"),
     ("answer", "str", "m.text")),
    """FROM feedback f JOIN messages m ON m.id = f.message_id LEFT JOIN messages q ON q.id = m.reply_to
    WHERE f.tenant_id = :tenant_id AND f.created_at >= :lo AND f.created_at < :hi""",
    "f.created_at, f.id",
    "SELECT count(*) FROM feedback WHERE tenant_id = :tenant_id AND created_at >= :lo AND created_at < :hi",
)

_DAILY_COUNTS = ("conversations", "visitors", "messages", "customer_messages", "replies", "answered", "fallbacks",
                 "failed")
DAILY = Dataset(
    "daily",
    (("day", "date", "d::date"),
     *((name, "int", f"coalesce(a.{name}, 0)") for name in _DAILY_COUNTS),
     ("answer_rate", "float", "a.answered::float8 / nullif(a.replies, 0)"),
     ("handoffs", "int", "coalesce(a.handoffs, 0)"), ("resolved", "int", "coalesce(a.resolved, 0)"),
     ("thumbs_up", "int", "coalesce(a.thumbs_up, 0)"), ("thumbs_down", "int", "coalesce(a.thumbs_down, 0)"),
     ("csat_avg", "float", "a.csat_sum::float8 / nullif(a.csat_count, 0)"),
     ("prompt_tokens", "int", "coalesce(a.prompt_tokens, 0)"),
     ("completion_tokens", "int", "coalesce(a.completion_tokens, 0)"),
     ("est_cost_usd", "float", "coalesce(a.est_cost_usd, 0)")),
    """FROM generate_series(CAST(:start AS date), CAST(:end AS date), interval '1 day') AS d
    LEFT JOIN analytics_daily a ON a.tenant_id = :tenant_id AND a.day = d::date""",
    "1",
    "SELECT CAST(:end AS date) - CAST(:start AS date) + 1",
)

DATASETS_BY_NAME = {d.name: d for d in (CONVERSATIONS, MESSAGES, FEEDBACK, DAILY)}
