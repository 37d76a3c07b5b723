"""The `anthropic` provider: Claude through the official `anthropic` SDK's Messages API.

Streamed like the other providers (text deltas as they arrive, then the tool calls, then usage)
and retried by the shared rule in `chat.providers.retry`. The engine speaks OpenAI's message format;
this module translates it: system messages become the `system` parameter, an assistant's tool calls
become `tool_use` blocks, and tool results become `tool_result` blocks in a user turn (the API wants
the roles to alternate, so neighbours of one role are merged).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import anthropic
from anthropic import AsyncAnthropic

from chat.providers.retry import TIMEOUT_ERRORS, TRANSPORT_ERRORS, Failure, decode_arguments, retry_after, short
from chat.providers.streaming import StreamingProvider, turn_end
from chat.types import CompletionRequest, ProviderEvent, TextDelta, ToolCallRequest, Usage

_TIMEOUTS: tuple[type[Exception], ...] = (anthropic.APITimeoutError, *TIMEOUT_ERRORS)
# Error types the API may send inside an already-open stream that another attempt can cure.
_RETRYABLE_STREAM_ERRORS = {"overloaded_error", "api_error", "rate_limit_error"}


class AnthropicProvider(StreamingProvider[AsyncAnthropic]):
    """Streams Claude's Messages API with tool use, under the shared retry policy."""

    name = "anthropic"
    default_model = "claude-sonnet-4-5"

    @staticmethod
    def classify(exc: Exception) -> Failure | None:
        return _classify(exc)

    def _new_client(self) -> AsyncAnthropic:
        return AsyncAnthropic(api_key=self._api_key, base_url=self._base_url, timeout=self.timeout, max_retries=0)

    async def _close_client(self, client: AsyncAnthropic) -> None:
        await client.close()

    async def _attempt(self, request: CompletionRequest) -> AsyncGenerator[ProviderEvent, None]:
        model = request.model or self.model
        system, messages = to_anthropic_messages(request.messages)
        tools = [{"name": s.name, "description": s.description, "input_schema": s.parameters} for s in request.tools]
        options: dict[str, Any] = {"tools": tools} if tools else {}
        if system:
            options["system"] = system
        # No temperature: current Claude models fix their own sampling and the SDK no longer sends it.
        stream = await self._client().messages.create(
            model=model,
            messages=messages,
            max_tokens=request.max_tokens,
            stream=True,
            timeout=request.timeout_seconds,
            **options,
        )
        blocks: dict[int, dict[str, str]] = {}
        text: list[str] = []
        prompt_tokens: int | None = None
        completion_tokens: int | None = None
        async with stream:
            async for event in stream:
                if event.type == "message_start":
                    model = event.message.model or model
                    prompt_tokens = _input_tokens(event.message.usage)
                elif event.type == "content_block_start" and event.content_block.type == "tool_use":
                    block = event.content_block
                    blocks[event.index] = {"id": block.id, "name": block.name, "json": ""}
                elif event.type == "content_block_delta":
                    if event.delta.type == "text_delta" and event.delta.text:
                        text.append(event.delta.text)
                        yield TextDelta(event.delta.text)
                    elif event.delta.type == "input_json_delta" and event.index in blocks:
                        blocks[event.index]["json"] += event.delta.partial_json
                elif event.type == "message_delta" and event.usage is not None:
                    completion_tokens = event.usage.output_tokens
        calls = [ToolCallRequest(b["id"], b["name"], decode_arguments(b["json"])) for _, b in sorted(blocks.items())]
        reported = None if prompt_tokens is None or completion_tokens is None else Usage(
            prompt_tokens, completion_tokens, model)
        for event in turn_end(request, text, calls, reported, model):
            yield event


def _input_tokens(usage: Any) -> int:
    """Prompt tokens, cached ones included (the API counts reads and writes of its cache apart)."""
    return sum(
        getattr(usage, name, 0) or 0
        for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )


def to_anthropic_messages(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """(system text, Messages API turns) from OpenAI-format messages."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "system":
            system.append(str(message.get("content") or ""))
            continue
        blocks: list[dict[str, Any]] = []
        if role == "tool":
            blocks.append(
                {
                    "type": "tool_result",
                    "tool_use_id": message.get("tool_call_id"),
                    "content": str(message.get("content") or ""),
                }
            )
            role = "user"
        else:
            if content := _text(message.get("content")):
                blocks.append({"type": "text", "text": content})
            for call in message.get("tool_calls") or ():
                function = call["function"]
                arguments = function.get("arguments")
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call["id"],
                        "name": function["name"],
                        "input": decode_arguments(arguments) if isinstance(arguments, str) else arguments or {},
                    }
                )
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": "assistant" if role == "assistant" else "user", "content": blocks})
    while turns and turns[0]["role"] != "user":  # the API wants the conversation to open with the customer
        turns.pop(0)
    return "\n\n".join(s for s in system if s), turns


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content or "").strip()


def _classify(exc: Exception) -> Failure | None:
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        kind = _error_type(exc.body)
        if status == 429 or kind == "rate_limit_error":
            return Failure("rate limited", True, retry_after(exc.response.headers))
        if status == 408:
            return Failure("timed out", True)
        if status >= 500 or kind in _RETRYABLE_STREAM_ERRORS:
            return Failure(
                f"upstream error {status if status >= 500 else kind}", True, retry_after(exc.response.headers)
            )
        return Failure(short(f"request refused {status}: {exc.message}"), False)
    if isinstance(exc, _TIMEOUTS):
        return Failure("timed out", True)
    if isinstance(exc, (anthropic.APIConnectionError, *TRANSPORT_ERRORS)):
        return Failure("connection failed", True)
    if isinstance(exc, anthropic.APIError):
        return Failure(short(f"upstream error: {exc.message}"), False)
    return None


def _error_type(body: object) -> str | None:
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("type"))
    return None
