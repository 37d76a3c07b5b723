"""The chat engine's vocabulary: provider requests and events, tools, results.

Messages passed to providers use the OpenAI chat format (dicts with role/content/tool_calls/
tool_call_id) as the lingua franca; every provider, including the local one, reads it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ToolSpec:
    """A function the model may call: JSON-schema parameters, as in OpenAI function calling."""

    name: str
    description: str
    parameters: dict[str, Any]

    def as_openai(self) -> dict[str, Any]:
        return {"type": "function",
                "function": {"name": self.name, "description": self.description, "parameters": self.parameters}}


@dataclass(frozen=True)
class CompletionRequest:
    messages: list[dict[str, Any]]
    tools: list[ToolSpec]
    model: str
    temperature: float = 0.2
    max_tokens: int = 600
    timeout_seconds: float = 30.0
    language: str = "en"  # the customer's language, for providers that compose text themselves
    # The retrieved passages (also in the system prompt); the local responder composes from them.
    context: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCallRequest:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    model: str
    provider: str | None = None  # set when another provider than the one asked answered (a fallback)


ProviderEvent = TextDelta | ToolCallRequest | Usage


class ProviderError(Exception):
    """The model could not produce an answer (after retries); the engine falls back."""


class Provider(Protocol):
    name: str

    def complete(self, request: CompletionRequest) -> AsyncIterator[ProviderEvent]:
        """Stream one model turn: text deltas and/or tool call requests, then usage."""
        ...


@dataclass
class ToolCallRecord:
    """A tool call as stored with the message."""

    name: str
    arguments: dict[str, Any]
    result: Any
    latency_ms: int
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": self.arguments, "result": self.result,
                "latency_ms": self.latency_ms, "error": self.error}


@dataclass(frozen=True)
class Citation:
    document_id: uuid.UUID
    chunk_id: int
    source_ref: str | None
    # Where the cited text can be read: {"url": ...} for a website page (knowledge.sources), else {}.
    metadata: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"document_id": str(self.document_id), "chunk_id": self.chunk_id, "source_ref": self.source_ref,
                "metadata": self.metadata}


@dataclass(frozen=True)
class Suggestion:
    """A "did you mean" entry offered instead of an answer the bot is unsure of."""

    source_ref: str | None
    document_id: uuid.UUID
    chunk_id: int
    question: str

    def as_dict(self) -> dict[str, Any]:
        return {"source_ref": self.source_ref, "document_id": str(self.document_id), "chunk_id": self.chunk_id,
                "question": self.question}


@dataclass
class ChatResult:
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    answer: str
    citations: list[Citation] = field(default_factory=list)
    confidence: float = 0.0
    handoff: bool = False
    answered: bool = True
    language: str = "en"
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    fallback_reason: str | None = None
    customer_message_id: uuid.UUID | None = None
    suggestions: list[Suggestion] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {
            "conversation_id": str(self.conversation_id),
            "message_id": str(self.message_id),
            "answer": self.answer,
            "citations": [c.as_dict() for c in self.citations],
            "confidence": round(self.confidence, 4),
            "handoff": self.handoff,
            "suggestions": [s.as_dict() for s in self.suggestions],
        }
