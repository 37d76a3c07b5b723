"""The `openai` provider: any OpenAI-compatible chat endpoint through the official `openai` SDK.

One `complete()` call is one model turn, streamed: text deltas as they arrive, then the tool calls
the model asked for (their argument fragments joined), then token usage. Retries are ours, not the
SDK's, because streaming adds a rule the SDK cannot know: once anything has been yielded to the
customer, a retry would show them the same text twice, so a failure after that point is final.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncGenerator
from typing import Any, cast

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionToolParam
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall

from chat.providers.retry import (
    TIMEOUT_ERRORS,
    TRANSPORT_ERRORS,
    Failure,
    decode_arguments,
    estimate_tokens,
    retry_after,
    short,
)
from chat.providers.streaming import StreamingProvider, turn_end
from chat.types import CompletionRequest, ProviderEvent, TextDelta, ToolCallRequest, Usage
from core.settings import Settings

__all__ = ["OpenAIProvider", "build_openai_provider", "estimate_tokens"]
log = logging.getLogger(__name__)

# Older SDKs (pyproject allows openai>=1.40) spell "leave this parameter out" NOT_GIVEN.
_OMIT: Any = getattr(openai, "omit", openai.NOT_GIVEN)
# Keyless servers (Ollama, llama.cpp, vLLM) accept any key; passing one also stops the SDK from
# reading OPENAI_API_KEY / OPENAI_BASE_URL from the environment behind core.settings' back.
_NO_KEY = "no-key"
_DEFAULT_BASE_URL = "https://api.openai.com/v1"
_TIMEOUTS: tuple[type[Exception], ...] = (openai.APITimeoutError, *TIMEOUT_ERRORS)


class OpenAIProvider(StreamingProvider[AsyncOpenAI]):
    """Streams chat completions from an OpenAI-compatible endpoint, with our own retry policy."""

    name = "openai"
    default_model = "gpt-4o-mini"
    default_base_url = _DEFAULT_BASE_URL

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # Some servers reject `stream_options`; after the first such refusal we stop sending it.
        self._ask_for_usage = True

    @staticmethod
    def classify(exc: Exception) -> Failure | None:
        return _classify(exc)

    def _new_client(self) -> AsyncOpenAI:
        return AsyncOpenAI(api_key=self._api_key, base_url=self._base_url, timeout=self.timeout, max_retries=0)

    async def _close_client(self, client: AsyncOpenAI) -> None:
        await client.close()

    async def _attempt(self, request: CompletionRequest) -> AsyncGenerator[ProviderEvent, None]:
        """One HTTP call: stream its text, then its tool calls and usage."""
        model = request.model or self.model
        try:
            stream = await self._create(request, model)
        except openai.BadRequestError as exc:
            if not (self._ask_for_usage and "stream_options" in str(exc)):
                raise
            # Some servers reject `stream_options`; from now on we leave it out.
            self._ask_for_usage = False
            log.info("llm endpoint refuses stream_options; asking again without it")
            stream = await self._create(request, model)
        calls = _ToolCallFragments()
        text: list[str] = []
        usage: Usage | None = None
        async with stream:
            async for chunk in stream:
                usage = _usage_of(chunk) or usage
                model = chunk.model or model
                for choice in chunk.choices:
                    if choice.delta.content:
                        text.append(choice.delta.content)
                        yield TextDelta(choice.delta.content)
                    for fragment in choice.delta.tool_calls or ():
                        calls.add(fragment)
        # usage is None when the server ignored stream_options (many compatible servers do): estimated.
        for event in turn_end(request, text, calls.finished(), usage, model):
            yield event

    async def _create(self, request: CompletionRequest, model: str) -> Any:
        tools = cast(list[ChatCompletionToolParam], [spec.as_openai() for spec in request.tools])
        return await self._client().chat.completions.create(
            model=model,
            messages=cast(list[ChatCompletionMessageParam], request.messages),
            tools=tools or _OMIT,
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            stream=True,
            stream_options={"include_usage": True} if self._ask_for_usage else _OMIT,
            timeout=request.timeout_seconds,
        )


class _ToolCallFragments:
    """Joins streamed tool-call fragments: id and name come once, arguments arrive in pieces."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, str]] = {}

    def add(self, fragment: ChoiceDeltaToolCall) -> None:
        index = fragment.index
        if index is None:  # some compatible servers omit it; fall back to the call id
            index = next((i for i, c in self._calls.items() if fragment.id and c["id"] == fragment.id),
                         len(self._calls))
        call = self._calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
        if fragment.id and not call["id"]:
            call["id"] = fragment.id
        if fragment.function is not None:
            # Names are sent whole (some servers repeat them in every fragment), so never append.
            if fragment.function.name and not call["name"]:
                call["name"] = fragment.function.name
            call["arguments"] += fragment.function.arguments or ""

    def finished(self) -> list[ToolCallRequest]:
        return [
            ToolCallRequest(id=call["id"] or f"call_{uuid.uuid4().hex[:24]}", name=call["name"],
                            arguments=decode_arguments(call["arguments"]))
            for _, call in sorted(self._calls.items())
            if call["name"]
        ]


def _usage_of(chunk: ChatCompletionChunk) -> Usage | None:
    if chunk.usage is None:
        return None
    return Usage(prompt_tokens=chunk.usage.prompt_tokens or 0,
                 completion_tokens=chunk.usage.completion_tokens or 0, model=chunk.model)


def _classify(exc: Exception) -> Failure | None:
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 429:
            return Failure("rate limited", True, retry_after(exc.response.headers))
        if status == 408:
            return Failure("timed out", True)
        if status >= 500:
            return Failure(f"upstream error {status}", True, retry_after(exc.response.headers))
        return Failure(short(f"request refused {status}: {exc.message}"), False)
    if isinstance(exc, _TIMEOUTS):
        return Failure("timed out", True)
    if isinstance(exc, (openai.APIConnectionError, *TRANSPORT_ERRORS)):
        return Failure("connection failed", True)
    if isinstance(exc, openai.APIError):
        # An error event inside the stream: the server already answered, so do not retry.
        return Failure(short(f"upstream error: {exc.message}"), False)
    return None


def build_openai_provider(settings: Settings) -> OpenAIProvider:
    """The provider configured by `KEFU_LLM_*` settings."""
    return OpenAIProvider(
        api_key=settings.llm_api_key,
        base_url=settings.llm_base_url,
        model=settings.llm_model,
        timeout=settings.llm_timeout_seconds,
        max_retries=settings.llm_max_retries,
    )
