"""Manual FAQ entries: questions and answers an admin types in rather than uploads.

A tenant's manual entries live in one ordinary document, "Manual FAQ" (a JSON Q&A list kept in
the blob store like any upload), so they are parsed, embedded, versioned and cited exactly like
uploaded FAQ rows: each change writes a new version of that document and queues the existing
`ingest` actor, whose version check makes the newest edit win. The entry id is the chunk's
`source_ref`, so citations point at the entry. Deleting the last entry deletes the document.

Reading the current list, writing the new blob and recording the version are three steps; the
version is re-checked under a row lock and the change retried, so two admins editing at the same
moment both keep their edits.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import tenant_session_sync
from core.errors import Conflict, NotFound, ValidationFailed
from core.models import Document
from knowledge import similar_questions
from knowledge.blobstore import get_blob_store

MANUAL_FAQ_FILENAME = "kefu-manual-faq.json"
MANUAL_FAQ_TITLE = "Manual FAQ"
MAX_QUESTION_CHARS = 1000
MAX_ANSWER_CHARS = 8000
_ATTEMPTS = 3


@dataclass(frozen=True)
class FaqEntry:
    id: str
    question: str
    answer: str
    category: str | None = None
    similar_questions: tuple[str, ...] = ()  # other wordings, indexed like the question


def _wordings(raw: object, question: str) -> tuple[str, ...]:
    return tuple(similar_questions.checked(raw, question))


@dataclass(frozen=True)
class FaqChange:
    """What a change did: the entry concerned and the document to watch (None once deleted)."""

    entry: FaqEntry
    document_id: uuid.UUID | None


def list_faq_entries(session: Session, tenant_id: uuid.UUID) -> list[FaqEntry]:
    """The tenant's manual FAQ entries, in the order they were added."""
    document = _manual_document(session, tenant_id)
    return _read_entries(document.blob_key) if document is not None else []


def add_faq_entry(tenant_id: uuid.UUID, question: str, answer: str, category: str | None = None,
                  similar_questions: object = None) -> FaqChange:
    """Add an entry and queue the manual FAQ for indexing."""
    checked = _checked(question, answer, category)
    entry = FaqEntry(f"faq-{uuid.uuid4().hex[:10]}", *checked, _wordings(similar_questions, checked[0]))
    return _change(tenant_id, entry, lambda entries: [*entries, entry])


def update_faq_entry(
    tenant_id: uuid.UUID, entry_id: str, question: str, answer: str, category: str | None = None,
    similar_questions: object = None,
) -> FaqChange:
    """Replace an entry's question, answer and similar questions and queue re-indexing."""
    checked = _checked(question, answer, category)
    entry = FaqEntry(entry_id, *checked, _wordings(similar_questions, checked[0]))

    def edit(entries: list[FaqEntry]) -> list[FaqEntry]:
        _require(entries, entry_id)
        return [entry if e.id == entry_id else e for e in entries]

    return _change(tenant_id, entry, edit)


def add_similar_question(tenant_id: uuid.UUID, entry_id: str, phrasing: str) -> FaqChange:
    """Add one wording to an entry's similar questions (accepting a suggestion) and queue re-indexing."""
    found: list[FaqEntry] = []

    def edit(entries: list[FaqEntry]) -> list[FaqEntry]:
        current = _require(entries, entry_id)
        updated = replace(current, similar_questions=_wordings([*current.similar_questions, phrasing],
                                                               current.question))
        found.append(updated)
        return [updated if e.id == entry_id else e for e in entries]

    change = _change(tenant_id, None, edit)
    return FaqChange(found[-1], change.document_id)


def delete_faq_entry(tenant_id: uuid.UUID, entry_id: str) -> FaqChange:
    """Remove an entry; its chunk disappears when the new version is indexed."""
    found: list[FaqEntry] = []

    def remove(entries: list[FaqEntry]) -> list[FaqEntry]:
        found.append(_require(entries, entry_id))
        return [e for e in entries if e.id != entry_id]

    change = _change(tenant_id, None, remove)
    return FaqChange(found[-1], change.document_id)


def checked_question_answer(question: str, answer: str, kind: str = "entry") -> tuple[str, str]:
    """Trimmed question and answer of an FAQ `kind` (manual entry, uploaded row), within the limits."""
    question, answer = (question or "").strip(), (answer or "").strip()
    if not question or not answer:
        raise ValidationFailed(f"An FAQ {kind} needs both a question and an answer.")
    if len(question) > MAX_QUESTION_CHARS:
        raise ValidationFailed(f"The question is {len(question)} characters; the limit is {MAX_QUESTION_CHARS}.")
    if len(answer) > MAX_ANSWER_CHARS:
        raise ValidationFailed(f"The answer is {len(answer)} characters; the limit is {MAX_ANSWER_CHARS}.")
    return question, answer


def _checked(question: str, answer: str, category: str | None) -> tuple[str, str, str | None]:
    return *checked_question_answer(question, answer), (category or "").strip() or None


def _require(entries: list[FaqEntry], entry_id: str) -> FaqEntry:
    for entry in entries:
        if entry.id == entry_id:
            return entry
    raise NotFound(f"No manual FAQ entry {entry_id!r} in this tenant.")


def _manual_document(session: Session, tenant_id: uuid.UUID, *, lock: bool = False) -> Document | None:
    query = select(Document).where(Document.tenant_id == tenant_id, Document.filename == MANUAL_FAQ_FILENAME)
    return session.scalars(query.with_for_update() if lock else query).first()


def _read_entries(blob_key: str) -> list[FaqEntry]:
    items = json.loads(get_blob_store().get(blob_key).decode("utf-8"))
    return [FaqEntry(str(i["id"]), str(i["question"]), str(i["answer"]), i.get("category"),
                     tuple(i.get("similar_questions") or ())) for i in items]


def _encode(entries: list[FaqEntry]) -> bytes:
    items = [{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(e).items() if v is not None and v != ()}
             for e in entries]
    return json.dumps(items, ensure_ascii=False, indent=1).encode("utf-8")


def _change(
    tenant_id: uuid.UUID, entry: FaqEntry | None, apply: Callable[[list[FaqEntry]], list[FaqEntry]]
) -> FaqChange:
    for _ in range(_ATTEMPTS):
        with tenant_session_sync(tenant_id) as session:
            current = _manual_document(session, tenant_id)
            seen = (current.id, current.version) if current is not None else None
            entries = _read_entries(current.blob_key) if current is not None else []
        updated = apply(entries)
        data = _encode(updated)
        digest = hashlib.sha256(data).hexdigest()
        blob_key = f"tenants/{tenant_id}/manual-faq/{digest}.json"
        if updated:
            get_blob_store().put(blob_key, data)  # content-addressed: a retry writes the same key
        stored, document_id = _record(tenant_id, seen, updated, data, digest, blob_key)
        if stored:
            break
    else:
        raise Conflict("The manual FAQ kept changing while saving; try again.")
    return FaqChange(entry or FaqEntry("", "", ""), document_id)


def _record(
    tenant_id: uuid.UUID, seen: tuple[uuid.UUID, int] | None, entries: list[FaqEntry], data: bytes,
    digest: str, blob_key: str,
) -> tuple[bool, uuid.UUID | None]:
    """Store the new version if nobody changed the document meanwhile: (stored, document id or None)."""
    with tenant_session_sync(tenant_id) as session:
        document = _manual_document(session, tenant_id, lock=True)
        if ((document.id, document.version) if document is not None else None) != seen:
            return False, None
        if not entries:
            if document is not None:
                session.delete(document)  # chunks go with it (ON DELETE CASCADE)
            return True, None
        if document is None:
            document = Document(id=uuid.uuid4(), tenant_id=tenant_id, title=MANUAL_FAQ_TITLE,
                                filename=MANUAL_FAQ_FILENAME, source_type="json", content_type="application/json",
                                size_bytes=len(data), content_hash=digest, blob_key=blob_key, status="queued")
            session.add(document)
            return True, document.id
        document.version += 1
        document.content_hash = digest
        document.blob_key = blob_key
        document.size_bytes = len(data)
        document.status = "queued"
        document.error = None
        document.updated_at = datetime.now(UTC)
        return True, document.id
