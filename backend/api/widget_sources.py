"""The sources shown under the widget's answers: a title, a short snippet and, if known, a link.

Citations in the chat API carry only ids. The widget asks for the passages cited in its own
conversation (tenant key *and* visitor id must match), so a public widget key never becomes a way
to read arbitrary knowledge: only what an answer to this visitor already relied on is returned.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import select

from chat.identity import Asker
from core.db import tenant_session
from core.errors import NotFound
from core.models import Chunk, Conversation, Document, Message

SNIPPET_CHARS = 180
# Uploaded documents are titled by their file name; customers should see "Tea guide", not "tea_guide.md".
_FILE_NAME = re.compile(r"^(?:.*[/\\])?([^/\\]+?)\.(?:md|markdown|txt|html?|pdf|docx|csv|xlsx|json)$", re.IGNORECASE)


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1].rstrip() + "…"


def _link(meta: dict[str, Any]) -> str | None:
    url = meta.get("url") or meta.get("source_url")
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


def readable_title(document_title: str) -> str:
    """A file-name title as words (`guides/tea_guide.md`, `tea_guide` → `Tea guide`); others unchanged."""
    title = document_title.strip()
    if "://" in title:
        return document_title
    found = _FILE_NAME.match(title)
    stem = found.group(1) if found else title
    if found is None and (" " in stem or not re.search(r"[_-]", stem)):
        return document_title  # already words
    words = " ".join(re.sub(r"[_\-.]+", " ", stem).split())
    return words[:1].upper() + words[1:] if words else document_title


def describe(chunk: Chunk, document_title: str) -> dict[str, Any]:
    """FAQ rows show their question and answer; passages their heading (or document) and text."""
    meta = chunk.meta or {}
    document_title = readable_title(document_title)
    if meta.get("kind") == "faq":
        # A similar question's chunk is shown as its row (`variant_of`: the row's own question).
        title = str(meta.get("variant_of") or meta.get("question") or document_title)
        body = str(meta.get("answer") or chunk.text)
    else:
        # Only the nearest heading: a full path of bilingual headings would outgrow the answer.
        heading = str(meta.get("heading") or "").split(" > ")[-1].strip()
        title, body = (f"{document_title} › {heading}" if heading else document_title), chunk.text
    return {
        "chunk_id": chunk.id,
        "document_id": str(chunk.document_id),
        "source_ref": chunk.source_ref,
        "title": title,
        "snippet": _snippet(body),
        "url": _link(meta),
    }


async def conversation_sources(
    tenant_id: uuid.UUID, conversation_id: uuid.UUID, asker: Asker, message_id: uuid.UUID | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Map each answer of the conversation (or just `message_id`) to the passages it cites."""
    async with tenant_session(tenant_id) as session:
        conversation = await session.get(Conversation, conversation_id)
        if conversation is None or not asker.owns(conversation.visitor_id, conversation.user_id):
            raise NotFound("No such conversation for this visitor.")
        query = select(Message.id, Message.citations).where(
            Message.conversation_id == conversation_id, Message.role == "assistant"
        )
        if message_id is not None:
            query = query.where(Message.id == message_id)
        cited = {
            row.id: [c["chunk_id"] for c in row.citations or [] if isinstance(c, dict) and "chunk_id" in c]
            for row in await session.execute(query)
        }
        chunk_ids = {cid for ids in cited.values() for cid in ids}
        found: dict[int, dict[str, Any]] = {}
        if chunk_ids:
            rows = await session.execute(
                select(Chunk, Document.title)
                .join(Document, Document.id == Chunk.document_id)
                .where(Chunk.id.in_(chunk_ids))
            )
            found = {chunk.id: describe(chunk, title) for chunk, title in rows}
    # A cited chunk may since have been replaced by a new document version: it is simply left out.
    return {str(mid): [found[c] for c in ids if c in found] for mid, ids in cited.items()}
