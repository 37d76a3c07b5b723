"""The tenant's own structured data (orders, bookings…) and tenant-defined HTTP tools."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, TenantOwned, utcnow_column, uuid_pk

RECORD_ACCESS = ("owner", "public", "private")


class RecordCollection(TenantOwned, Base):
    """A keyed table of the tenant's data; `access` says which chat visitors may read a record.

    owner: only the verified user whose id is in `owner_column`; public: any visitor; private: no
    visitor (admins through the API only). `sensitive_columns` are masked in every chat answer.
    """

    __tablename__ = "record_collections"
    __table_args__ = (
        Index("uq_record_collections_tenant_name", "tenant_id", "name", unique=True),
        CheckConstraint("access IN ('owner', 'public', 'private') AND (access = 'owner') = (owner_column IS NOT NULL)",
                        name="access"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    key_column: Mapped[str] = mapped_column(String(200), nullable=False)
    columns: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list, server_default="[]")
    row_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = utcnow_column()
    updated_at: Mapped[datetime] = utcnow_column()
    owner_column: Mapped[str | None] = mapped_column(String(200))
    sensitive_columns: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list, server_default="[]")
    access: Mapped[str] = mapped_column(String(10), nullable=False, default="private", server_default="private")


class Record(TenantOwned, Base):
    __tablename__ = "records"
    __table_args__ = (
        Index("uq_records_collection_key", "collection_id", "key", unique=True),
        # Keys are looked up case-insensitively when the exact match misses ("a-10023" vs "A-10023").
        Index("ix_records_collection_lower_key", "collection_id", text("lower(key)")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    collection_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("record_collections.id", ondelete="CASCADE"), nullable=False
    )
    key: Mapped[str] = mapped_column(Text, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)


class HttpTool(TenantOwned, Base):
    __tablename__ = "http_tools"
    __table_args__ = (Index("uq_http_tools_tenant_name", "tenant_id", "name", unique=True),)

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    url_template: Mapped[str] = mapped_column(Text, nullable=False)
    method: Mapped[str] = mapped_column(String(10), nullable=False, default="GET")
    secret_header_name: Mapped[str | None] = mapped_column(String(200))
    secret_header_value: Mapped[str | None] = mapped_column(Text)
    timeout_seconds: Mapped[float] = mapped_column(Float, nullable=False, default=5.0, server_default="5")
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default="true")
    created_at: Mapped[datetime] = utcnow_column()
