"""An admin's correction of one row of an uploaded FAQ file, kept apart from the file itself."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Identity, Index, Integer, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, TenantOwned, utcnow_column, uuid_pk


class FaqOverride(TenantOwned, Base):
    """The edited question/answer (or the disabling) of the rows of one document with one `source_ref`.

    Indexing applies it to every version of the document, so a re-upload keeps the edit. `base_*`
    is the file's text the admin saw when saving, `file_*` the text of the version indexed last
    (NULL: the row is not in it); when they differ the file changed under the edit and the admin
    is shown both.
    """

    __tablename__ = "faq_overrides"
    __table_args__ = (Index("uq_faq_overrides_document_ref", "document_id", "source_ref", unique=True),)

    id: Mapped[uuid.UUID] = uuid_pk()
    document_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
    )
    source_ref: Mapped[str] = mapped_column(Text, nullable=False)
    question: Mapped[str | None] = mapped_column(Text)  # NULL: the file's question stays
    answer: Mapped[str | None] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="false")
    # The row's similar questions as the admin set them (migration 0018); NULL: the file's own.
    similar_questions: Mapped[list[str] | None] = mapped_column(JSONB)
    base_question: Mapped[str | None] = mapped_column(Text)
    base_answer: Mapped[str | None] = mapped_column(Text)
    file_question: Mapped[str | None] = mapped_column(Text)
    file_answer: Mapped[str | None] = mapped_column(Text)
    # Bumped on every change; the re-embedding job and indexing use it to spot a newer edit.
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    updated_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = utcnow_column()
    updated_at: Mapped[datetime] = utcnow_column()

    @property
    def file_changed(self) -> bool:
        """The indexed file's row differs from the one the admin edited (or is gone)."""
        return (self.file_question, self.file_answer) != (self.base_question, self.base_answer)


class PhrasingDismissal(TenantOwned, Base):
    """A wording from real traffic an admin chose not to add to a row; it is not suggested again."""

    __tablename__ = "phrasing_dismissals"
    __table_args__ = (Index("uq_phrasing_dismissals_row_key", "tenant_id", "document_id", "source_ref",
                            "phrasing_key", unique=True),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    document_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
    )
    source_ref: Mapped[str] = mapped_column(Text, nullable=False)
    phrasing_key: Mapped[str] = mapped_column(Text, nullable=False)  # casefolded, spaces collapsed
    dismissed_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = utcnow_column()
