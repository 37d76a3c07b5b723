"""Factories for test data: tenants with credentials, users of each role, Q&A files."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass

from core.db import tenant_session_sync
from core.tenancy import CreatedTenant, add_user, create_api_key, create_tenant


@dataclass
class TenantCtx:
    created: CreatedTenant
    analyst_key: str

    @property
    def id(self) -> uuid.UUID:
        return self.created.tenant_id

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.created.admin_api_key}"}

    @property
    def analyst(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.analyst_key}"}


def make_tenant(name: str = "Shop") -> TenantCtx:
    suffix = uuid.uuid4().hex[:8]
    created = create_tenant(f"{name} {suffix}", f"owner-{suffix}@example.com", "password-123")
    with tenant_session_sync(created.tenant_id) as session:
        add_user(session, created.tenant_id, f"analyst-{suffix}@example.com", "password-123", "analyst")
        _, analyst_key = create_api_key(session, created.tenant_id, "analyst key", "analyst")
    return TenantCtx(created, analyst_key)


def qa_csv(rows: list[tuple[str, str, str]], *, header: tuple[str, str, str] = ("id", "question", "answer"),
           encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)
