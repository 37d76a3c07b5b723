"""Curating uploaded FAQ rows: an admin's edits of CSV/XLSX/JSON Q&A rows, kept as overrides.

An uploaded file stays exactly as uploaded; a correction is a `FaqOverride` keyed by document and
`source_ref` (the row's id, or its row number when the file has no id column). Indexing applies
the overrides to every version of the document, so re-uploading the file keeps the edit (and a
disabled row stays out of answers). When the re-uploaded file's row differs from the text the admin
edited, or the row is gone, the override is flagged "file changed" and the page shows the file's
new text next to the edit: saving again keeps the edit, reverting takes the file's text.

A change is stored in one short transaction and then `reindex_faq_row` re-embeds just that row in
a worker (`knowledge.row_indexing`), outside any transaction, and bumps the tenant version.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.db import tenant_session_sync
from core.errors import NotFound, ValidationFailed
from core.models import Chunk, Document, FaqOverride
from knowledge import similar_questions
from knowledge.curation import MANUAL_FAQ_FILENAME, checked_question_answer
from knowledge.parsing import Passage

log = logging.getLogger(__name__)
MAX_PAGE = 500


@dataclass(frozen=True)
class FaqRow:
    """One row of an uploaded FAQ as the bot uses it now, and as the indexed file has it."""

    source_ref: str
    question: str
    answer: str
    state: str  # "file" (as uploaded), "edited" or "disabled"
    file_question: str | None = None  # None: the row is not in the indexed version of the file
    file_answer: str | None = None
    file_changed: bool = False  # edited or disabled, and the file's row changed since (or vanished)
    updated_at: datetime | None = None
    similar_questions: tuple[str, ...] = ()  # other wordings matched like the question


@dataclass(frozen=True)
class Override:
    """What indexing needs of an override (a snapshot read outside the swap transaction)."""

    revision: int
    question: str | None
    answer: str | None
    disabled: bool
    similar_questions: list[str] | None = None  # None: the file's


# --- reading ------------------------------------------------------------------------------------

def list_rows(session: Session, tenant_id: uuid.UUID, document_id: uuid.UUID, *, search: str | None = None,
              limit: int = 100, offset: int = 0) -> tuple[list[FaqRow], int]:
    """A page of a document's Q&A rows (disabled ones first, then file order) and the total count."""
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise ValidationFailed(f"limit must be 1-{MAX_PAGE} and offset 0 or more.")
    faq_document(session, tenant_id, document_id)
    pattern = f"%{_escape_like(search.strip())}%" if search and search.strip() else None
    overrides = {o.source_ref: o for o in session.scalars(
        select(FaqOverride).where(FaqOverride.tenant_id == tenant_id, FaqOverride.document_id == document_id))}
    disabled = [o for o in overrides.values() if o.disabled and (
        pattern is None or any(search.strip().casefold() in (t or "").casefold()
                               for t in (o.source_ref, o.file_question, o.file_answer, o.question, o.answer)))]
    disabled.sort(key=lambda o: o.source_ref)
    chunks = _faq_chunks(tenant_id, document_id)
    if pattern is not None:
        chunks = chunks.where(or_(Chunk.text.ilike(pattern, escape="\\"), Chunk.source_ref.ilike(pattern, escape="\\"),
                                  Chunk.meta["similar_questions"].astext.ilike(pattern, escape="\\")))
    total = (session.scalar(select(func.count()).select_from(chunks.subquery())) or 0) + len(disabled)
    shown_disabled = disabled[offset: offset + limit]
    chunk_offset = max(0, offset - len(disabled))
    rows = [_disabled_row(o) for o in shown_disabled]
    if len(rows) < limit:
        for chunk in session.scalars(chunks.order_by(Chunk.ordinal).limit(limit - len(rows)).offset(chunk_offset)):
            rows.append(_chunk_row(chunk, overrides.get(chunk.source_ref or "")))
    return rows, int(total)


def get_row(session: Session, tenant_id: uuid.UUID, document_id: uuid.UUID, source_ref: str) -> FaqRow:
    """One row by its `source_ref`; NotFound if the document has no such Q&A row."""
    faq_document(session, tenant_id, document_id)
    override = _override(session, tenant_id, document_id, source_ref)
    if override is not None and override.disabled:
        return _disabled_row(override)
    chunk = session.scalars(_faq_chunks(tenant_id, document_id).where(Chunk.source_ref == source_ref)
                            .order_by(Chunk.ordinal).limit(1)).first()
    if chunk is None:
        raise NotFound(f"No FAQ row {source_ref!r} in this document.")
    return _chunk_row(chunk, override)


def faq_document(session: Session, tenant_id: uuid.UUID, document_id: uuid.UUID) -> Document:
    """The uploaded Q&A document; NotFound for another tenant's, a refusal for the manual FAQ."""
    document = session.scalars(
        select(Document).where(Document.tenant_id == tenant_id, Document.id == document_id)).first()
    if document is None:
        raise NotFound(f"No document {document_id} in this tenant.")
    if document.filename == MANUAL_FAQ_FILENAME:
        raise ValidationFailed("Manual FAQ entries are edited in the manual FAQ editor, not as uploaded rows.")
    return document


# --- changing -----------------------------------------------------------------------------------

def edit_row(tenant_id: uuid.UUID, document_id: uuid.UUID, source_ref: str, question: str, answer: str, *,
             user_id: uuid.UUID | None = None) -> FaqRow:
    """Replace a row's question and answer (kept across re-uploads); the caller queues its re-embedding."""
    question, answer = checked_question_answer(question, answer, "row")

    def change(override: FaqOverride, _: FaqRow | None) -> None:
        override.question, override.answer = question, answer
        if override.similar_questions:  # a wording equal to the new question is no longer "other"
            override.similar_questions = similar_questions.tidy(override.similar_questions, question)

    return _change(tenant_id, document_id, source_ref, change, user_id, "edited")


def set_similar_questions(tenant_id: uuid.UUID, document_id: uuid.UUID, source_ref: str, phrasings: object, *,
                          user_id: uuid.UUID | None = None, add: bool = False) -> FaqRow:
    """Replace a row's similar questions (or, with `add`, add to them); kept across re-uploads."""

    def change(override: FaqOverride, current: FaqRow | None) -> None:
        shown = current.similar_questions if current is not None else ()
        wanted = [*shown, *similar_questions.split(phrasings)] if add else phrasings
        override.similar_questions = similar_questions.checked(
            wanted, current.question if current is not None else override.file_question or "")

    return _change(tenant_id, document_id, source_ref, change, user_id, "similar questions changed")


def set_disabled(tenant_id: uuid.UUID, document_id: uuid.UUID, source_ref: str, disabled: bool, *,
                 user_id: uuid.UUID | None = None) -> FaqRow:
    """Take a row out of search and answers (or bring it back); any edit of its text is kept."""

    def change(override: FaqOverride, _: FaqRow | None) -> None:
        override.disabled = disabled

    return _change(tenant_id, document_id, source_ref, change, user_id, "disabled" if disabled else "enabled")


def revert_row(tenant_id: uuid.UUID, document_id: uuid.UUID, source_ref: str, *,
               user_id: uuid.UUID | None = None) -> FaqRow:
    """Drop the override: the row answers with the file's text again (or disappears if the file lost it)."""
    with tenant_session_sync(tenant_id) as session:
        faq_document(session, tenant_id, document_id)
        override = _override(session, tenant_id, document_id, source_ref, lock=True)
        if override is None:
            raise NotFound(f"FAQ row {source_ref!r} has no edit to revert.")
        question, answer = override.file_question, override.file_answer
        session.delete(override)
    _audit("reverted", tenant_id, document_id, source_ref, user_id)
    if question is None or answer is None:
        return FaqRow(source_ref, "", "", "file")
    return FaqRow(source_ref, question, answer, "file", question, answer)


def _change(tenant_id: uuid.UUID, document_id: uuid.UUID, source_ref: str,
            apply: Callable[[FaqOverride, FaqRow | None], None],
            user_id: uuid.UUID | None, action: str) -> FaqRow:
    source_ref = (source_ref or "").strip()
    if not source_ref:
        raise ValidationFailed("Choose the FAQ row to change (its id or row number).")
    with tenant_session_sync(tenant_id) as session:
        faq_document(session, tenant_id, document_id)
        override = _override(session, tenant_id, document_id, source_ref, lock=True)
        file_text = _file_text(session, tenant_id, document_id, source_ref, override)
        current = _current(session, tenant_id, document_id, source_ref, override)
        if override is None:
            if file_text is None:
                raise NotFound(f"No FAQ row {source_ref!r} in this document.")
            override = FaqOverride(id=uuid.uuid4(), tenant_id=tenant_id, document_id=document_id,
                                   source_ref=source_ref, revision=0, disabled=False,
                                   file_question=file_text[0], file_answer=file_text[1])
            session.add(override)
        apply(override, current)
        # Saving is the admin's answer to "the file changed": the edit is now based on the file's text.
        override.base_question, override.base_answer = override.file_question, override.file_answer
        override.revision = (override.revision or 0) + 1
        override.updated_by = user_id
        override.updated_at = datetime.now(UTC)
        session.flush()
        row = _disabled_row(override) if override.disabled else _edited_row(override)
    _audit(action, tenant_id, document_id, source_ref, user_id)
    return row


def _audit(action: str, tenant_id: uuid.UUID, document_id: uuid.UUID, source_ref: str,
           user_id: uuid.UUID | None) -> None:
    # There is no audit table yet; the override row keeps who changed it last, the log keeps every change.
    log.info("faq row %s", action, extra={"tenant_id": str(tenant_id), "document_id": str(document_id),
                                          "source_ref": source_ref, "user_id": str(user_id) if user_id else None})


# --- used by indexing ---------------------------------------------------------------------------

def load_overrides(tenant_id: uuid.UUID, document_id: uuid.UUID) -> dict[str, Override]:
    """The document's overrides by `source_ref` (one short read)."""
    with tenant_session_sync(tenant_id) as session:
        return snapshot(session, tenant_id, document_id)


def snapshot(session: Session, tenant_id: uuid.UUID, document_id: uuid.UUID) -> dict[str, Override]:
    rows = session.scalars(select(FaqOverride).where(FaqOverride.tenant_id == tenant_id,
                                                     FaqOverride.document_id == document_id))
    return {o.source_ref: Override(o.revision, o.question, o.answer, o.disabled, o.similar_questions) for o in rows}


def apply_overrides(passages: list[Passage], overrides: dict[str, Override]) -> tuple[list[Passage], list[int]]:
    """The passages to index with edits applied and disabled rows left out, and their ordinals in the file."""
    kept: list[Passage] = []
    ordinals: list[int] = []
    for ordinal, passage in enumerate(passages):
        override = overrides.get(passage.source_ref or "") if passage.metadata.get("kind") == "faq" else None
        if override is not None and override.disabled:
            continue
        if override is not None and (override.question or override.answer):
            question = override.question or str(passage.metadata.get("question", ""))
            answer = override.answer or str(passage.metadata.get("answer", ""))
            passage = Passage(f"{question}\n{answer}", passage.source_ref,
                              {**passage.metadata, "question": question, "answer": answer, "edited": True})
        if override is not None and override.similar_questions is not None:
            phrasings = similar_questions.tidy(override.similar_questions, str(passage.metadata.get("question", "")))
            metadata = {k: v for k, v in passage.metadata.items() if k != "similar_questions"}
            passage = Passage(passage.text, passage.source_ref,
                              {**metadata, **({"similar_questions": phrasings} if phrasings else {})})
        kept.append(passage)
        ordinals.append(ordinal)
    return kept, ordinals


def file_rows(passages: list[Passage], refs: set[str]) -> dict[str, tuple[str, str]]:
    """The file's own question and answer of the given rows (the first row of each `source_ref`)."""
    found: dict[str, tuple[str, str]] = {}
    for passage in passages:
        ref = passage.source_ref or ""
        if ref in refs and ref not in found and passage.metadata.get("kind") == "faq":
            found[ref] = (str(passage.metadata.get("question", "")), str(passage.metadata.get("answer", "")))
    return found


def record_file_rows(session: Session, tenant_id: uuid.UUID, document_id: uuid.UUID, passages: list[Passage],
                     applied: dict[str, Override]) -> list[str]:
    """Note the indexed file's text on each override; returns the rows changed since they were applied.

    Called in the transaction that swaps the chunks in, with the document row locked.
    """
    overrides = list(session.scalars(select(FaqOverride).where(FaqOverride.tenant_id == tenant_id,
                                                               FaqOverride.document_id == document_id)
                                     .with_for_update()))
    rows = file_rows(passages, {o.source_ref for o in overrides})
    stale = []
    for override in overrides:
        override.file_question, override.file_answer = rows.get(override.source_ref, (None, None))
        seen = applied.get(override.source_ref)
        if seen is None or seen.revision != override.revision:
            stale.append(override.source_ref)
    return stale


# --- internals ----------------------------------------------------------------------------------

def _faq_chunks(tenant_id: uuid.UUID, document_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """The rows' own chunks (not the chunks of their similar questions)."""
    return select(Chunk).where(Chunk.tenant_id == tenant_id, Chunk.document_id == document_id,
                               Chunk.meta["kind"].astext == "faq", ~Chunk.meta.has_key("variant_of"))


def _current(session: Session, tenant_id: uuid.UUID, document_id: uuid.UUID, source_ref: str,
             override: FaqOverride | None) -> FaqRow | None:
    """The row as answers use it now (None: not in the indexed file and never edited)."""
    if override is not None and override.disabled:
        return _disabled_row(override)
    chunk = session.scalars(_faq_chunks(tenant_id, document_id).where(Chunk.source_ref == source_ref)
                            .order_by(Chunk.ordinal).limit(1)).first()
    if chunk is not None:
        return _chunk_row(chunk, override)
    return _edited_row(override) if override is not None else None


def _override(session: Session, tenant_id: uuid.UUID, document_id: uuid.UUID, source_ref: str, *,
              lock: bool = False) -> FaqOverride | None:
    query = select(FaqOverride).where(FaqOverride.tenant_id == tenant_id, FaqOverride.document_id == document_id,
                                      FaqOverride.source_ref == source_ref)
    return session.scalars(query.with_for_update() if lock else query).first()


def _file_text(session: Session, tenant_id: uuid.UUID, document_id: uuid.UUID, source_ref: str,
               override: FaqOverride | None) -> tuple[str | None, str | None] | None:
    """The file's text of a row: kept on its override, else read from its (unedited) chunk."""
    if override is not None:
        return override.file_question, override.file_answer
    chunk = session.scalars(_faq_chunks(tenant_id, document_id).where(Chunk.source_ref == source_ref)
                            .order_by(Chunk.ordinal).limit(1)).first()
    if chunk is None:
        return None
    return str(chunk.meta.get("question", "")), str(chunk.meta.get("answer", ""))


def _chunk_row(chunk: Chunk, override: FaqOverride | None) -> FaqRow:
    question, answer = str(chunk.meta.get("question", "")), str(chunk.meta.get("answer", ""))
    similar = tuple(chunk.meta.get("similar_questions") or ())
    if override is None or not (override.question or override.answer or override.similar_questions is not None):
        return FaqRow(chunk.source_ref or "", question, answer, "file", question, answer, similar_questions=similar)
    # The override's text is what answers use; the chunk may lag it by the second re-embedding takes.
    return FaqRow(chunk.source_ref or "", override.question or question, override.answer or answer, "edited",
                  override.file_question, override.file_answer, override.file_changed, override.updated_at,
                  _similar(override, similar))


def _edited_row(override: FaqOverride) -> FaqRow:
    return FaqRow(override.source_ref, override.question or override.file_question or "",
                  override.answer or override.file_answer or "", "edited", override.file_question,
                  override.file_answer, override.file_changed, override.updated_at, _similar(override))


def _disabled_row(override: FaqOverride) -> FaqRow:
    return FaqRow(override.source_ref, override.question or override.file_question or "",
                  override.answer or override.file_answer or "", "disabled", override.file_question,
                  override.file_answer, override.file_changed, override.updated_at, _similar(override))


def _similar(override: FaqOverride, indexed: tuple[str, ...] = ()) -> tuple[str, ...]:
    return indexed if override.similar_questions is None else tuple(override.similar_questions)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
