"""All ORM models; importing this package registers every table on `Base.metadata`."""

from core.models.analytics import (
    ConversationScore,
    DailyRollup,
    KnowledgeGapQuestion,
    KnowledgeGapTopic,
    ModelRun,
)
from core.models.audit import AuditEntry
from core.models.base import TENANT_TABLES, Base
from core.models.chat import (
    INBOX_STATUSES,
    MESSAGE_ROLES,
    CannedResponse,
    Conversation,
    Feedback,
    Handoff,
    Message,
    UsageDaily,
)
from core.models.embedders import REEMBED_STATUSES, Embedder, Reembed, ReembedVector
from core.models.evaluation import EVALUATION_STATUSES, EvaluationFailure, EvaluationRun
from core.models.faq_override import FaqOverride, PhrasingDismissal
from core.models.grounding import AnswerCheck
from core.models.knowledge import DOCUMENT_STATUSES, EMBEDDING_DIM, Chunk, Document, TermFrequency
from core.models.notifications import (
    DELIVERY_STATUSES,
    WEBHOOK_EVENTS,
    NotificationEmail,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from core.models.records import RECORD_ACCESS, HttpTool, Record, RecordCollection
from core.models.sources import PAGE_RESULTS, SOURCE_SCHEDULES, SOURCE_STATUSES, Source, SourcePage
from core.models.tenancy import KEY_ROLES, ROLES, ApiKey, Tenant, User, WidgetKey

__all__ = [
    "DELIVERY_STATUSES",
    "DOCUMENT_STATUSES",
    "EMBEDDING_DIM",
    "EVALUATION_STATUSES",
    "INBOX_STATUSES",
    "KEY_ROLES",
    "MESSAGE_ROLES",
    "PAGE_RESULTS",
    "RECORD_ACCESS",
    "REEMBED_STATUSES",
    "ROLES",
    "SOURCE_SCHEDULES",
    "SOURCE_STATUSES",
    "TENANT_TABLES",
    "WEBHOOK_EVENTS",
    "AnswerCheck",
    "ApiKey",
    "AuditEntry",
    "Base",
    "CannedResponse",
    "Chunk",
    "Conversation",
    "ConversationScore",
    "DailyRollup",
    "Document",
    "Embedder",
    "EvaluationFailure",
    "EvaluationRun",
    "FaqOverride",
    "Feedback",
    "Handoff",
    "HttpTool",
    "KnowledgeGapQuestion",
    "KnowledgeGapTopic",
    "Message",
    "ModelRun",
    "NotificationEmail",
    "PhrasingDismissal",
    "Record",
    "RecordCollection",
    "Reembed",
    "ReembedVector",
    "Source",
    "SourcePage",
    "Tenant",
    "TermFrequency",
    "UsageDaily",
    "User",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
    "WidgetKey",
]
