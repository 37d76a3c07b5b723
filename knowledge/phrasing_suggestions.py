"""Wordings from real traffic worth adding to a FAQ row as similar questions; one click accepts one.

Three sources, newest first:
- `gap`: a knowledge-gap question (unanswered or rated down, `knowledge_gap_questions`) linked to
  the row that retrieval ranks first for it, when that row is at least a plausible match
  (`LINK_FLOOR`): the bot knew the answer but not the customer's way of asking;
- `chosen`: a customer chose a "did you mean" suggestion (the chat engine records
  `{"suggestion_chosen": {"source_ref", "question"}}` on the choosing message's metadata): the
  wording the customer had asked just before, for the row chosen;
- `agent`: a question a human agent answered with a row: the agent inbox records on the agent's
  reply which agent-assist entry was inserted into it (`{"agent_used_entry": {"source_ref",
  "question"}}` on the reply's metadata); the wording is the customer's last message before it.
A wording the row already has (its question or a similar question, indexed or just saved) or
dismissed for the row (`phrasing_dismissals`) is not suggested. Read on demand, a bounded number
of recent questions at a time; nothing is stored until the admin accepts
(`knowledge.commands.add_similar_question`) or dismisses one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.db import tenant_session_sync
from core.errors import NotFound, ValidationFailed
from core.models import Chunk, Document, FaqOverride, KnowledgeGapQuestion, PhrasingDismissal
from knowledge.confidence import confidence
from knowledge.curation import MANUAL_FAQ_FILENAME, list_faq_entries
from knowledge.parsing.wordings import MAX_CHARS, key
from knowledge.retrieval import retrieve_sync

ORIGINS = ("gap", "chosen", "agent")
# A gap question is linked to its top row only from this confidence up: below it the row is rarely
# the right one and the suggestion would be noise for the admin to dismiss.
LINK_FLOOR = 0.2
GAP_QUESTIONS = 40  # the most recent distinct ones looked at per listing (one search each)
CHOICES = 200


@dataclass(frozen=True)
class PhrasingSuggestion:
    phrasing: str
    document_id: uuid.UUID
    source_ref: str
    row_question: str
    origin: str  # gap | chosen | agent
    asked_at: datetime
    times: int  # how often this wording came up for this row


def list_suggestions(tenant_id: uuid.UUID, limit: int = 50) -> list[PhrasingSuggestion]:
    """Suggested wordings for the tenant's FAQ rows, most often seen first, then newest."""
    if not 1 <= limit <= 200:
        raise ValidationFailed("limit must be 1-200.")
    with tenant_session_sync(tenant_id) as session:
        gaps = _recent_gap_questions(session)
        chosen = _chosen_suggestions(session)
        used = _agent_answers(session)
        dismissed = {
            tuple(row)
            for row in session.execute(
                select(PhrasingDismissal.document_id, PhrasingDismissal.source_ref, PhrasingDismissal.phrasing_key)
            )
        }
        dismissed |= _configured(session, tenant_id)
    found = [*_linked_gaps(tenant_id, gaps), *_rows_of_choices(tenant_id, chosen),
             *_rows_of_choices(tenant_id, used, origin="agent")]
    merged: dict[tuple[uuid.UUID, str, str], PhrasingSuggestion] = {}
    for suggestion in found:
        ident = (suggestion.document_id, suggestion.source_ref, key(suggestion.phrasing))
        if ident in dismissed:
            continue
        seen = merged.get(ident)
        if seen is None:
            merged[ident] = suggestion
        else:
            newest = suggestion if suggestion.asked_at > seen.asked_at else seen
            merged[ident] = PhrasingSuggestion(
                newest.phrasing,
                newest.document_id,
                newest.source_ref,
                newest.row_question,
                newest.origin,
                newest.asked_at,
                seen.times + suggestion.times,
            )
    ordered = sorted(merged.values(), key=lambda s: (-s.times, -s.asked_at.timestamp()))
    return ordered[:limit]


def dismiss(
    tenant_id: uuid.UUID, document_id: uuid.UUID, source_ref: str, phrasing: str, *, user_id: uuid.UUID | None = None
) -> None:
    """Do not suggest this wording for this row again (idempotent)."""
    phrasing_key = key(phrasing or "")
    if not phrasing_key or len(phrasing_key) > MAX_CHARS:
        raise ValidationFailed(f"Send the suggested question to dismiss (1-{MAX_CHARS} characters).")
    with tenant_session_sync(tenant_id) as session:
        _row_question(session, tenant_id, document_id, source_ref)
        session.execute(
            insert(PhrasingDismissal)
            .values(
                tenant_id=tenant_id,
                document_id=document_id,
                source_ref=source_ref,
                phrasing_key=phrasing_key,
                dismissed_by=user_id,
            )
            .on_conflict_do_nothing()
        )


def _configured(session: Session, tenant_id: uuid.UUID) -> set[tuple[uuid.UUID, str, str]]:
    """Wordings already set on rows but maybe not indexed yet (an accept a moment ago)."""
    overrides = session.execute(
        select(FaqOverride.document_id, FaqOverride.source_ref, FaqOverride.similar_questions).where(
            FaqOverride.similar_questions.is_not(None)
        )
    )
    found = {(document_id, ref, key(p)) for document_id, ref, phrasings in overrides for p in phrasings or []}
    manual = session.scalar(select(Document.id).where(Document.filename == MANUAL_FAQ_FILENAME))
    if manual is not None:
        entries = list_faq_entries(session, tenant_id)
        found |= {(manual, entry.id, key(p)) for entry in entries for p in entry.similar_questions}
    return found


def _row_question(session: Session, tenant_id: uuid.UUID, document_id: uuid.UUID, source_ref: str) -> str:
    """The question of a FAQ row that answers now; NotFound otherwise."""
    question = session.scalar(
        select(Chunk.meta["question"].astext)
        .where(
            Chunk.tenant_id == tenant_id,
            Chunk.document_id == document_id,
            Chunk.source_ref == source_ref,
            Chunk.meta["kind"].astext == "faq",
            ~Chunk.meta.has_key("variant_of"),
        )
        .limit(1)
    )
    if question is None:
        raise NotFound(f"No FAQ row {source_ref!r} in document {document_id}.")
    return str(question)


# --- gap questions --------------------------------------------------------------------------------


def _recent_gap_questions(session: Session) -> list[tuple[str, datetime]]:
    rows = session.execute(
        select(KnowledgeGapQuestion.text, KnowledgeGapQuestion.asked_at)
        .order_by(KnowledgeGapQuestion.asked_at.desc())
        .limit(GAP_QUESTIONS * 5)
    ).all()
    distinct: dict[str, tuple[str, datetime]] = {}
    for question, asked_at in rows:
        compared = key(question)
        if compared and len(question) <= MAX_CHARS and compared not in distinct:
            distinct[compared] = (question.strip(), asked_at)
    return list(distinct.values())[:GAP_QUESTIONS]


def _linked_gaps(tenant_id: uuid.UUID, questions: list[tuple[str, datetime]]) -> list[PhrasingSuggestion]:
    """Each gap question with the FAQ row retrieval ranks first for it, if that is plausible."""
    found = []
    for question, asked_at in questions:
        hits = retrieve_sync(tenant_id, question, 3)
        if not hits or confidence(hits) < LINK_FLOOR:
            continue
        top = hits[0]
        row_question = top.metadata.get("question")
        if top.metadata.get("kind") != "faq" or not row_question or not top.source_ref:
            continue
        if key(str(top.metadata.get("matched_question") or row_question)) == key(question):
            continue  # the row already has this wording
        found.append(
            PhrasingSuggestion(question, top.document_id, top.source_ref, str(row_question), "gap", asked_at, 1)
        )
    return found


# --- chosen "did you mean" suggestions ------------------------------------------------------------

# The customer's question just before the message that chose a suggestion, in the same conversation.
_CHOICES = text(
    """
    SELECT chose.metadata->'suggestion_chosen'->>'source_ref' AS source_ref,
           chose.metadata->'suggestion_chosen'->>'question' AS row_question,
           chose.created_at,
           (SELECT asked.text FROM messages asked
             WHERE asked.conversation_id = chose.conversation_id AND asked.role = 'customer'
               AND asked.created_at < chose.created_at AND NOT (asked.metadata ? 'suggestion_chosen')
             ORDER BY asked.created_at DESC LIMIT 1) AS asked
    FROM messages chose
    WHERE chose.role = 'customer' AND chose.metadata ? 'suggestion_chosen'
    ORDER BY chose.created_at DESC
    LIMIT :n
    """
)


_HAS_MESSAGE_METADATA = text(
    "SELECT EXISTS (SELECT 1 FROM information_schema.columns "
    "WHERE table_name = 'messages' AND column_name = 'metadata')"
)


def _chosen_suggestions(session: Session) -> list[tuple[str, str, str, datetime]]:
    """(source_ref, row question, the customer's own wording, when) of recent chosen suggestions.

    Messages carry metadata from the migration that records chosen suggestions on; before it there
    is nothing to read."""
    if not session.scalar(_HAS_MESSAGE_METADATA):
        return []
    rows = session.execute(_CHOICES, {"n": CHOICES}).all()
    return [
        (r.source_ref, r.row_question or "", r.asked.strip(), r.created_at)
        for r in rows
        if r.source_ref and r.asked and r.asked.strip() and len(r.asked) <= MAX_CHARS
    ]


# The customer's last message before an agent's reply written from an agent-assist entry.
_AGENT_ANSWERS = text(
    """
    SELECT answered.metadata->'agent_used_entry'->>'source_ref' AS source_ref,
           answered.metadata->'agent_used_entry'->>'question' AS row_question,
           answered.created_at,
           (SELECT asked.text FROM messages asked
             WHERE asked.conversation_id = answered.conversation_id AND asked.role = 'customer'
               AND asked.created_at < answered.created_at
             ORDER BY asked.created_at DESC LIMIT 1) AS asked
    FROM messages answered
    WHERE answered.role = 'agent' AND answered.metadata ? 'agent_used_entry'
    ORDER BY answered.created_at DESC
    LIMIT :n
    """
)


def _agent_answers(session: Session) -> list[tuple[str, str, str, datetime]]:
    """(source_ref, row question, the customer's wording, when) of recent agent replies from a row."""
    if not session.scalar(_HAS_MESSAGE_METADATA):
        return []
    rows = session.execute(_AGENT_ANSWERS, {"n": CHOICES}).all()
    return [
        (r.source_ref, r.row_question or "", r.asked.strip(), r.created_at)
        for r in rows
        if r.source_ref and r.asked and r.asked.strip() and len(r.asked) <= MAX_CHARS
    ]


def _rows_of_choices(
    tenant_id: uuid.UUID, choices: list[tuple[str, str, str, datetime]], origin: str = "chosen"
) -> list[PhrasingSuggestion]:
    """The chosen rows (by `source_ref`, the row's question telling documents apart) and the wordings."""
    if not choices:
        return []
    with tenant_session_sync(tenant_id) as session:
        rows = session.execute(
            select(
                Chunk.document_id, Chunk.source_ref, Chunk.meta["question"].astext, Chunk.meta["similar_questions"]
            ).where(
                Chunk.source_ref.in_({ref for ref, *_ in choices}),
                Chunk.meta["kind"].astext == "faq",
                ~Chunk.meta.has_key("variant_of"),
            )
        ).all()
    by_ref: dict[str, list[tuple[uuid.UUID, str, list[str]]]] = {}
    for document_id, source_ref, question, similar in rows:
        by_ref.setdefault(source_ref, []).append((document_id, question, list(similar or [])))
    found = []
    for source_ref, row_question, asked, asked_at in choices:
        candidates = by_ref.get(source_ref) or []
        row = next((c for c in candidates if c[1] == row_question), candidates[0] if candidates else None)
        if row is None:
            continue  # the row is gone
        document_id, question, similar = row
        if key(asked) in {key(question), *(key(s) for s in similar)}:
            continue
        found.append(PhrasingSuggestion(asked, document_id, source_ref, question, origin, asked_at, 1))
    return found
