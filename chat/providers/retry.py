"""The retry rule every hosted-model provider shares, and the helpers around it.

One model turn is streamed to the customer as it arrives. Rate limits (429), server errors (5xx),
timeouts and dropped connections are retried with backoff (or after the server's Retry-After) —
but only while nothing has been yielded yet: once text has reached the customer, a retry would
show it twice, so a failure after that point is final and the engine falls back.
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
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from chat.types import CompletionRequest, ProviderError, ProviderEvent, ToolCallRequest, Usage

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
REASON_MAX_CHARS = 160


@dataclass(frozen=True)
class Failure:
    """What went wrong with one attempt, and whether another attempt could help."""

    reason: str
    retryable: bool
    retry_after: float | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait; `max_retries` counts attempts after the first one."""

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    retry_after_cap: float = 20.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `attempt + 1`."""
        if retry_after is not None:
            return min(retry_after, self.retry_after_cap)
        ceiling = min(self.backoff_max, self.backoff_base * 2**attempt)
        # Jitter spreads out replicas that were rate-limited together.
        return random.uniform(ceiling / 2, ceiling)


def transport_errors() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    """(all, timeout-only) errors of the HTTP libraries the SDKs use, which may escape a stream unwrapped."""
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


TRANSPORT_ERRORS, TIMEOUT_ERRORS = transport_errors()


async def stream_with_retries(
    attempt: Callable[[], AsyncGenerator[ProviderEvent, None]],
    classify: Callable[[Exception], Failure | None],
    policy: RetryPolicy,
    sleep: Sleep = asyncio.sleep,
) -> AsyncIterator[ProviderEvent]:
    """Run `attempt()` until it streams to the end; `classify` names the failures it understands.

    An exception `classify` returns None for is not a call failure and propagates unchanged.
    """
    tries = 0
    while True:
        yielded = False
        try:
            # aclosing: if the caller stops early, the HTTP stream is closed now, not at GC.
            async with contextlib.aclosing(attempt()) as events:
                async for event in events:
                    yielded = True
                    yield event
            return
        except ProviderError:
            raise
        except Exception as exc:
            failure = classify(exc)
            if failure is None:
                raise
            if yielded or not failure.retryable or tries >= policy.max_retries:
                raise ProviderError(failure.reason) from exc
            delay = policy.delay(tries, failure.retry_after)
            tries += 1
            log.warning("llm call failed (%s); retry %d/%d in %.2fs", failure.reason, tries, policy.max_retries, delay)
            await sleep(delay)


def retry_after(headers: object) -> float | None:
    """Seconds the server asked us to wait (`retry-after-ms`, or `retry-after` seconds or date)."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    if value := get("retry-after-ms"):
        try:
            return max(float(value) / 1000, 0.0)
        except ValueError:
            pass
    value = get("retry-after")
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


def short(reason: str) -> str:
    return reason if len(reason) <= REASON_MAX_CHARS else reason[: REASON_MAX_CHARS - 1] + "…"


def decode_arguments(raw: str) -> dict[str, object]:
    """JSON object arguments; anything else is kept raw so the tool can report a clear error."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {"_raw": raw}
    return value if isinstance(value, dict) else {"_raw": raw}


def estimate_tokens(text: str) -> int:
    """A rough token count for servers that report none: ~4 characters per token, but about one
    per character for CJK and other wide scripts, where chars/4 would undercount several-fold."""
    if not text:
        return 0
    wide = sum(1 for ch in text if ord(ch) >= 0x2E80)
    return max(1, wide + math.ceil((len(text) - wide) / 4))


def estimated_usage(request: CompletionRequest, text: str, calls: list[ToolCallRequest], model: str) -> Usage:
    """Token counts guessed from the text, for a stream that ended without reporting any."""
    prompt = json.dumps([request.messages, [spec.as_openai() for spec in request.tools]], ensure_ascii=False)
    completion = text + "".join(c.name + json.dumps(c.arguments) for c in calls)
    return Usage(prompt_tokens=estimate_tokens(prompt), completion_tokens=estimate_tokens(completion), model=model)


def tool_results_by_id(messages: list[dict[str, object]]) -> dict[str, str]:
    """The name of the tool each earlier tool call id called (Gemini answers calls by name)."""
    names: dict[str, str] = {}
    for message in messages:
        for call in message.get("tool_calls") or ():  # type: ignore[attr-defined]
            names[str(call["id"])] = str(call["function"]["name"])
    return names
