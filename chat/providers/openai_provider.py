"""The `openai` provider: any OpenAI-compatible chat endpoint through the official `openai` SDK.

One `complete()` call is one model turn, streamed: text deltas as they arrive, then the tool calls
the model asked for (their argument fragments joined), then token usage. Retries are ours, not the
SDK's, because streaming adds a rule the SDK cannot know: once anything has been yielded to the
customer, a retry would show them the same text twice, so a failure after that point is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import importlib
import json
import logging
import math
import random
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionToolParam
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall

from chat.types import (
    CompletionRequest,
    ProviderError,
    ProviderEvent,
    TextDelta,
    ToolCallRequest,
    Usage,
)
from core.settings import Settings

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

# Older SDKs (pyproject allows openai>=1.40) spell "leave this parameter out" NOT_GIVEN.
_OMIT: Any = getattr(openai, "omit", openai.NOT_GIVEN)
# Keyless servers (Ollama, llama.cpp, vLLM) accept any key; passing one also stops the SDK from
# reading OPENAI_API_KEY / OPENAI_BASE_URL from the environment behind core.settings' back.
_NO_KEY = "no-key"
_DEFAULT_BASE_URL = "https://api.openai.com/v1"
_REASON_MAX_CHARS = 160


def _transport_errors() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    """(all, timeout-only) HTTP-library errors that older SDKs let escape from a stream unwrapped."""
    transport: list[type[Exception]] = []
    timeouts: list[type[Exception]] = []
    for module_name in ("httpx2", "httpx"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        transport.append(module.TransportError)
        timeouts.append(module.TimeoutException)
    return tuple(transport), tuple(timeouts)


_TRANSPORT_ERRORS, _TIMEOUT_ERRORS = _transport_errors()
# Failures of the HTTP call itself, which `_classify` sorts into retryable or final.
_CALL_ERRORS: tuple[type[Exception], ...] = (openai.APIStatusError, openai.APIConnectionError,
                                             *_TRANSPORT_ERRORS)
_TIMEOUTS: tuple[type[Exception], ...] = (openai.APITimeoutError, *_TIMEOUT_ERRORS)


@dataclass(frozen=True)
class _Failure:
    """What went wrong with one attempt, and whether another attempt could help."""

    reason: str
    retryable: bool
    retry_after: float | None = None


class OpenAIProvider:
    """Streams chat completions from an OpenAI-compatible endpoint, with our own retry policy."""

    name = "openai"

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None = None,
        model: str = "gpt-4o-mini",
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        retry_after_cap: float = 20.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Configure the endpoint; `max_retries` counts attempts after the first one.

        `timeout` is the client default; each request's own `timeout_seconds` applies to its call.
        `sleep` is injectable so tests can observe backoff delays without waiting for them.
        """
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_cap = retry_after_cap
        self._api_key = api_key or _NO_KEY
        self._base_url = base_url or _DEFAULT_BASE_URL
        self._sleep = sleep
        # Some servers reject `stream_options`; after the first such refusal we stop sending it.
        self._ask_for_usage = True
        # The SDK's HTTP connection pool is bound to the event loop that opened it, and workers may
        # run each message in a fresh loop (asyncio.run), so keep one client per loop.
        self._clients: dict[asyncio.AbstractEventLoop, AsyncOpenAI] = {}

    async def complete(self, request: CompletionRequest) -> AsyncIterator[ProviderEvent]:
        """Stream one model turn: text deltas, then one ToolCallRequest per call, then Usage.

        Raises ProviderError when the model cannot answer: at once for a request the server
        refuses (4xx other than 429), after the retries for rate limits, 5xx, timeouts and
        connection errors, and without retrying if the failure comes after anything was yielded.
        """
        attempt = 0
        while True:
            yielded = False
            try:
                # aclosing: if the caller stops early, the HTTP stream is closed now, not at GC.
                async with contextlib.aclosing(self._attempt(request)) as events:
                    async for event in events:
                        yielded = True
                        yield event
                return
            except _CALL_ERRORS as exc:
                if self._is_stream_options_refusal(exc):
                    self._ask_for_usage = False
                    log.info("llm endpoint refuses stream_options; retrying without it")
                    continue
                failure = _classify(exc)
                if yielded or not failure.retryable or attempt >= self.max_retries:
                    raise ProviderError(failure.reason) from exc
                delay = self._backoff(attempt, failure.retry_after)
                attempt += 1
                log.warning("llm call failed (%s); retry %d/%d in %.2fs",
                            failure.reason, attempt, self.max_retries, delay)
                await self._sleep(delay)
            except openai.APIError as exc:
                # An error event inside the stream: the server already answered, so do not retry.
                raise ProviderError(_short(f"upstream error: {exc.message}")) from exc

    async def aclose(self) -> None:
        """Close the HTTP client of the running event loop, if one was opened."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    async def _attempt(self, request: CompletionRequest) -> AsyncGenerator[ProviderEvent, None]:
        """One HTTP call: stream its text, then its tool calls and usage."""
        model = request.model or self.model
        tools = cast(list[ChatCompletionToolParam], [spec.as_openai() for spec in request.tools])
        stream = await self._client().chat.completions.create(
            model=model,
            messages=cast(list[ChatCompletionMessageParam], request.messages),
            tools=tools or _OMIT,
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            stream=True,
            stream_options={"include_usage": True} if self._ask_for_usage else _OMIT,
            timeout=request.timeout_seconds,
        )
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
        tool_calls = calls.finished()
        for call in tool_calls:
            yield call
        if usage is None:
            # The server ignored stream_options (many compatible servers do); a rough count still
            # keeps the tenant's token quota moving.
            completion = "".join(text) + "".join(c.name + json.dumps(c.arguments) for c in tool_calls)
            usage = Usage(prompt_tokens=estimate_tokens(_prompt_text(request)),
                          completion_tokens=estimate_tokens(completion), model=model)
        yield Usage(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens, model=model)

    def _client(self) -> AsyncOpenAI:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            # Clients of finished loops cannot be closed any more; dropping them lets GC free the
            # loop too (a weak-keyed map would not: each client holds its loop through its pool).
            for finished in [other for other in self._clients if other.is_closed()]:
                del self._clients[finished]
            # max_retries=0: the SDK's retries would re-send after we may already have streamed text.
            client = AsyncOpenAI(api_key=self._api_key, base_url=self._base_url,
                                 timeout=self.timeout, max_retries=0)
            self._clients[loop] = client
        return client

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `attempt + 1`."""
        if retry_after is not None:
            return min(retry_after, self.retry_after_cap)
        ceiling = min(self.backoff_max, self.backoff_base * 2**attempt)
        # Jitter spreads out replicas that were rate-limited together.
        return random.uniform(ceiling / 2, ceiling)

    def _is_stream_options_refusal(self, exc: Exception) -> bool:
        return (self._ask_for_usage and isinstance(exc, openai.BadRequestError)
                and "stream_options" in str(exc))


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
                            arguments=_decode_arguments(call["arguments"]))
            for _, call in sorted(self._calls.items())
            if call["name"]
        ]


def _decode_arguments(raw: str) -> dict[str, Any]:
    """JSON object arguments; anything else is kept raw so the tool can report a clear error."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {"_raw": raw}
    return value if isinstance(value, dict) else {"_raw": raw}


def _usage_of(chunk: ChatCompletionChunk) -> Usage | None:
    if chunk.usage is None:
        return None
    return Usage(prompt_tokens=chunk.usage.prompt_tokens or 0,
                 completion_tokens=chunk.usage.completion_tokens or 0, model=chunk.model)


def _classify(exc: Exception) -> _Failure:
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 429:
            return _Failure("rate limited", True, _retry_after(exc.response.headers))
        if status == 408:
            return _Failure("timed out", True)
        if status >= 500:
            return _Failure(f"upstream error {status}", True, _retry_after(exc.response.headers))
        return _Failure(_short(f"request refused {status}: {exc.message}"), False)
    if isinstance(exc, _TIMEOUTS):
        return _Failure("timed out", True)
    return _Failure("connection failed", True)


def _retry_after(headers: Any) -> float | None:
    """Seconds the server asked us to wait (`retry-after-ms`, or `retry-after` seconds or date)."""
    if value := headers.get("retry-after-ms"):
        try:
            return max(float(value) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _short(reason: str) -> str:
    return reason if len(reason) <= _REASON_MAX_CHARS else reason[: _REASON_MAX_CHARS - 1] + "…"


def _prompt_text(request: CompletionRequest) -> str:
    return json.dumps([request.messages, [spec.as_openai() for spec in request.tools]], ensure_ascii=False)


def estimate_tokens(text: str) -> int:
    """A rough token count for servers that report none: ~4 characters per token, but about one
    per character for CJK and other wide scripts, where chars/4 would undercount several-fold."""
    if not text:
        return 0
    wide = sum(1 for ch in text if ord(ch) >= 0x2E80)
    return max(1, wide + math.ceil((len(text) - wide) / 4))


def build_openai_provider(settings: Settings) -> OpenAIProvider:
    """The provider configured by `KEFU_LLM_*` settings."""
    return OpenAIProvider(
        api_key=settings.llm_api_key,
        base_url=settings.llm_base_url,
        model=settings.llm_model,
        timeout=settings.llm_timeout_seconds,
        max_retries=settings.llm_max_retries,
    )
