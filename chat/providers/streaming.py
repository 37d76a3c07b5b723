"""What the three hosted-model providers (openai, anthropic, gemini) share: the streamed turn under the
retry rule, one SDK client per event loop, and how a turn ends (tool calls, then usage).

A provider subclass says only what differs: how to open its SDK client (`_new_client`) and close it
(`_close_client`), one HTTP attempt translated into Kefu's events (`_attempt`), and which failures
are worth another attempt (`classify`, see `chat.providers.retry`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import ClassVar, Generic, TypeVar

from chat.providers.retry import Failure, RetryPolicy, Sleep, estimated_usage, stream_with_retries
from chat.types import CompletionRequest, ProviderEvent, ToolCallRequest, Usage

Client = TypeVar("Client")


class StreamingProvider(Generic[Client]):
    """One model turn per `complete()`: text deltas as they arrive, then tool calls, then Usage."""

    name: ClassVar[str]
    default_model: ClassVar[str]
    default_base_url: ClassVar[str | None] = None  # None: the SDK's own

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None = None,
        model: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        retry_after_cap: float = 20.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """`max_retries` counts attempts after the first; `timeout` is the client default (each
        request's own `timeout_seconds` applies to its call); `sleep` is injectable so tests can
        observe backoff delays without waiting for them."""
        self.model = model or self.default_model
        self.timeout = timeout
        self.policy = RetryPolicy(max_retries, backoff_base, backoff_max, retry_after_cap)
        self._api_key = api_key or "no-key"
        self._base_url = base_url or self.default_base_url
        self._sleep = sleep
        # An SDK's HTTP connection pool is bound to the event loop that opened it, and workers may
        # run each message in a fresh loop (asyncio.run), so keep one client per loop.
        self._clients: dict[asyncio.AbstractEventLoop, Client] = {}

    async def complete(self, request: CompletionRequest) -> AsyncIterator[ProviderEvent]:
        """Stream one model turn; ProviderError when the model cannot answer.

        At once for a request the server refuses (4xx other than 429), after the retries for rate
        limits, 5xx, timeouts and connection errors, and never retried once anything was yielded.
        """
        async for event in stream_with_retries(lambda: self._attempt(request), self.classify, self.policy,
                                               self._sleep):
            yield event

    async def aclose(self) -> None:
        """Close the SDK client of the running event loop, if one was opened."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await self._close_client(client)

    def _client(self) -> Client:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            # Clients of finished loops cannot be closed any more; dropping them lets GC free the
            # loop too (a weak-keyed map would not: each client holds its loop through its pool).
            for finished in [other for other in self._clients if other.is_closed()]:
                del self._clients[finished]
            client = self._new_client()
            self._clients[loop] = client
        return client

    @staticmethod
    def classify(exc: Exception) -> Failure | None:
        """What a failed attempt was (retryable or not, and why); None for a bug, which is raised as is."""
        raise NotImplementedError

    def _new_client(self) -> Client:
        """The SDK client, with the SDK's own retries off: they would re-send after text was streamed."""
        raise NotImplementedError

    async def _close_client(self, client: Client) -> None:
        raise NotImplementedError

    def _attempt(self, request: CompletionRequest) -> AsyncGenerator[ProviderEvent, None]:
        """One HTTP call, its stream translated into TextDelta…, then `turn_end`."""
        raise NotImplementedError


def turn_end(request: CompletionRequest, text: list[str], calls: list[ToolCallRequest], usage: Usage | None,
             model: str) -> Iterator[ProviderEvent]:
    """How every turn ends: its tool calls in order, then the usage the server reported (or an
    estimate when it reported none, which keeps the tenant's token quota moving)."""
    yield from calls
    if usage is None:
        yield estimated_usage(request, "".join(text), calls, model)
    else:
        yield Usage(usage.prompt_tokens, usage.completion_tokens, model)

