"""Which tenants exist: the one cross-tenant question analytics jobs ask.

The app role sees no tenant without `app.tenant_id` set, so listing goes through the owning role
(the architecture's "cross-tenant jobs use an explicit role"); only ids are read.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text

from core.db import owner_engine


def all_tenant_ids() -> list[uuid.UUID]:
    with owner_engine().connect() as connection:
        return [uuid.UUID(str(row[0])) for row in connection.execute(text("SELECT id FROM tenants ORDER BY id"))]
