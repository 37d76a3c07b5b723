"""The Litestar application: `create_app()` wires controllers, auth and error handling."""

from __future__ import annotations

import asyncio

from litestar import Litestar
from litestar.di import Provide

from backend.api.api_docs import api_docs_asset, openapi_config
from backend.api.auth import provide_principal
from backend.api.controllers.analytics import AnalyticsController
from backend.api.controllers.auth import AuthController
from backend.api.controllers.chat import ChatController, chat_socket
from backend.api.controllers.documents import DocumentController
from backend.api.controllers.evaluations import EvaluationController
from backend.api.controllers.health import HealthController
from backend.api.controllers.inbox import CannedController, InboxController, inbox_socket
from backend.api.controllers.notifications import ServiceSettingsController, WebhookController
from backend.api.controllers.privacy import AuditController, PrivacyController
from backend.api.controllers.records import RecordController
from backend.api.controllers.search import SearchController
from backend.api.controllers.settings import BotSettingsController
from backend.api.controllers.similar_questions import SimilarQuestionController
from backend.api.controllers.sources import SourceController
from backend.api.controllers.tools import ToolController
from backend.api.controllers.users import UserController
from backend.api.controllers.widget import (
    WidgetController,
    change_widget_appearance,
    demo_shop,
    serve_widget_script,
    widget_install,
)
from backend.api.errors import EXCEPTION_HANDLERS
from backend.api.inbox_page import inbox_asset, inbox_page
from backend.api.observability import MetricsController, prometheus, request_context_middleware
from backend.api.openapi_security import declare_security
from backend.api.request_limits import request_limits
from backend.api.widget_auth import provide_widget
from backend.api.widget_cors import widget_cors
from chat import dialogue
from chat.events import relay
from core.db import async_engine
from core.logging import configure_logging
from core.settings import get_settings


async def _read_turns_soon() -> None:
    """Embed the dialogue prototypes before serving, so the first customer does not wait for them."""
    await asyncio.to_thread(dialogue.prototypes)


async def _dispose() -> None:
    await relay.close()
    await async_engine().dispose()


def create_app() -> Litestar:
    settings = get_settings()
    configure_logging()
    app = Litestar(
        route_handlers=[HealthController, AuthController, DocumentController, SearchController,
                        BotSettingsController, ChatController, chat_socket, RecordController, ToolController,
                        MetricsController, WidgetController, serve_widget_script, demo_shop, widget_install,
                        change_widget_appearance,
                        AnalyticsController, api_docs_asset, PrivacyController, AuditController, SourceController,
                        UserController, InboxController, CannedController, inbox_socket, inbox_page,
                        inbox_asset, WebhookController, ServiceSettingsController,
                        SimilarQuestionController, EvaluationController],
        middleware=[request_context_middleware, prometheus.middleware, widget_cors, request_limits],
        dependencies={"principal": Provide(provide_principal), "widget": Provide(provide_widget)},
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=openapi_config(),
        request_max_body_size=max(settings.max_upload_bytes, settings.voice_max_bytes) + 1024 * 1024,
        on_startup=[_read_turns_soon],
        on_shutdown=[_dispose],
        debug=False,
        logging_config=None,  # core.logging formats every line; Litestar's own config would replace it
    )
    return declare_security(app)
