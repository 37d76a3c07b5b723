"""All ORM models; importing this package registers every table on `Base.metadata`."""

from core.models.base import TENANT_TABLES, Base
from core.models.knowledge import DOCUMENT_STATUSES, EMBEDDING_DIM, Chunk, Document
from core.models.tenancy import ROLES, ApiKey, Tenant, User, WidgetKey

__all__ = [
    "DOCUMENT_STATUSES",
    "EMBEDDING_DIM",
    "ROLES",
    "TENANT_TABLES",
    "ApiKey",
    "Base",
    "Chunk",
    "Document",
    "Tenant",
    "User",
    "WidgetKey",
]
