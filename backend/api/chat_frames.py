"""The widget's chat protocol: what a socket frame or an HTTP answer carries, built from chat results and events.

Chat events (`chat.events`) are the domain's record of what happened; the widget also needs to know
when to offer a human, which it reads as `suggest_handoff` (the bot did not know the answer).
"""

from __future__ import annotations

import uuid
from typing import Any

from chat import events
from chat.types import ChatResult


def socket_frame(event: dict[str, Any]) -> dict[str, Any]:
    """The WebSocket frame for a chat event (docs/widget.md lists them)."""
    if event.get("type") != "final":
        return event
    frame = {k: v for k, v in event.items() if k != "fallback_reason"}
    frame["suggest_handoff"] = event.get("fallback_reason") == "low_confidence"
    return frame


def final_frame(result: ChatResult, customer_message_id: uuid.UUID) -> dict[str, Any]:
    return socket_frame(events.answered(result, customer_message_id))


def http_answer(result: ChatResult) -> dict[str, Any]:
    """The body of `POST /api/v1/chat`'s answer."""
    return {**result.public(), "suggest_handoff": result.fallback_reason == "low_confidence"}
