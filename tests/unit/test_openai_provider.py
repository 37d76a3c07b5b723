"""The `openai` provider through the real `openai` client against a scripted local server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from chat.providers.openai_provider import OpenAIProvider, build_openai_provider, estimate_tokens
from chat.types import (
    CompletionRequest,
    ProviderError,
    ProviderEvent,
    TextDelta,
    ToolCallRequest,
    ToolSpec,
    Usage,
)
from core.settings import Settings
from tests.support.fake_openai import (
    FakeOpenAI,
    error,
    fake_openai_fixture,  # noqa: F401 - registers the `fake_openai` fixture
    hang,
    text,
    tool_call,
    tool_calls,
)

LOOKUP = ToolSpec(
    name="lookup_record",
    description="Look up one of the tenant's records by key.",
    parameters={"type": "object",
                "properties": {"collection": {"type": "string"}, "key": {"type": "string"}},
                "required": ["collection", "key"]},
)
HUMAN = ToolSpec(name="request_human", description="Hand the conversation to a person.",
                 parameters={"type": "object", "properties": {"reason": {"type": "string"}}})
MAX_RETRIES = 2
BACKOFF_BASE = 0.01


class RecordingSleep:
    """Stands in for asyncio.sleep: records the backoff delays without waiting for them."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
async def provider(fake_openai: FakeOpenAI, sleeps: RecordingSleep) -> AsyncIterator[OpenAIProvider]:
    provider = OpenAIProvider(api_key="test-key", base_url=fake_openai.base_url, model="test-model",
                              timeout=2.0, max_retries=MAX_RETRIES, backoff_base=BACKOFF_BASE,
                              retry_after_cap=0.5, sleep=sleeps)
    yield provider
    await provider.aclose()


def ask(question: str = "Where is my order 10023?", *, tools: list[ToolSpec] | None = None,
        timeout: float = 2.0, history: list[dict[str, Any]] | None = None) -> CompletionRequest:
    messages = [{"role": "system", "content": "You are Acme's support assistant."},
                {"role": "user", "content": question}, *(history or [])]
    return CompletionRequest(messages=messages, tools=tools or [], model="", timeout_seconds=timeout)


async def run(provider: OpenAIProvider, request: CompletionRequest) -> list[ProviderEvent]:
    return [event async for event in provider.complete(request)]


def texts(events: list[ProviderEvent]) -> list[str]:
    return [e.text for e in events if isinstance(e, TextDelta)]


def calls(events: list[ProviderEvent]) -> list[ToolCallRequest]:
    return [e for e in events if isinstance(e, ToolCallRequest)]


async def test_streams_text_in_pieces_then_reports_the_servers_usage(provider, fake_openai) -> None:
    answer = "Your order 10023 left our warehouse yesterday and arrives Friday."
    fake_openai.script(text(answer, pieces=5, usage=(42, 13)))

    events = await run(provider, ask())

    assert len(texts(events)) == 5
    assert "".join(texts(events)) == answer
    assert events[-1] == Usage(prompt_tokens=42, completion_tokens=13, model="test-model")
    sent = fake_openai.last_request
    assert sent["model"] == "test-model"
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert (sent["temperature"], sent["max_tokens"]) == (0.2, 600)
    assert sent["messages"][-1] == {"role": "user", "content": "Where is my order 10023?"}
    assert "tools" not in sent
    assert fake_openai.headers[-1]["authorization"] == "Bearer test-key"


async def test_tool_call_streamed_in_fragments_becomes_one_request(provider, fake_openai) -> None:
    fake_openai.script(tool_calls(tool_call("lookup_record", {"collection": "orders", "key": "10023"},
                                            id="call_1"), argument_pieces=5))

    events = await run(provider, ask(tools=[LOOKUP, HUMAN]))

    assert calls(events) == [ToolCallRequest(id="call_1", name="lookup_record",
                                             arguments={"collection": "orders", "key": "10023"})]
    assert texts(events) == []
    assert isinstance(events[-1], Usage)
    assert fake_openai.last_request["tools"] == [LOOKUP.as_openai(), HUMAN.as_openai()]


async def test_two_tool_calls_in_one_response_come_out_in_order(provider, fake_openai) -> None:
    fake_openai.script(tool_calls(
        tool_call("lookup_record", {"collection": "orders", "key": "10023"}, id="call_a"),
        tool_call("request_human", {"reason": "wants a refund"}, id="call_b"),
    ))

    events = await run(provider, ask(tools=[LOOKUP, HUMAN]))

    assert [(c.id, c.name, c.arguments) for c in calls(events)] == [
        ("call_a", "lookup_record", {"collection": "orders", "key": "10023"}),
        ("call_b", "request_human", {"reason": "wants a refund"}),
    ]


async def test_invalid_tool_arguments_are_kept_raw(provider, fake_openai) -> None:
    fake_openai.script(tool_calls(tool_call("lookup_record", '{"collection": "ord')))

    [call] = calls(await run(provider, ask(tools=[LOOKUP])))

    assert call.arguments == {"_raw": '{"collection": "ord'}


async def test_tool_loop_sends_the_call_and_its_result_back(provider, fake_openai) -> None:
    fake_openai.script(
        tool_calls(tool_call("lookup_record", {"collection": "orders", "key": "10023"}, id="call_7")),
        text("Order 10023 shipped on Monday.", usage=(80, 9)),
    )
    request = ask(tools=[LOOKUP])

    [call] = calls(await run(provider, request))
    # What the engine does between the two model turns:
    history = [
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": call.id, "type": "function",
                         "function": {"name": call.name,
                                      "arguments": '{"collection": "orders", "key": "10023"}'}}]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"status": "shipped", "date": "Monday"}'},
    ]
    events = await run(provider, ask(tools=[LOOKUP], history=history))

    assert "".join(texts(events)) == "Order 10023 shipped on Monday."
    assert events[-1] == Usage(80, 9, "test-model")
    second = fake_openai.requests[1]["messages"]
    assert second[-2]["role"] == "assistant"
    assert second[-2]["tool_calls"][0]["id"] == "call_7"
    assert second[-2]["tool_calls"][0]["function"]["name"] == "lookup_record"
    assert second[-1] == {"role": "tool", "tool_call_id": "call_7",
                          "content": '{"status": "shipped", "date": "Monday"}'}


@pytest.mark.parametrize(("retry_after", "expected_wait"), [("0.25", 0.25), ("30", 0.5)],
                         ids=["honoured", "capped"])
async def test_rate_limit_is_retried_after_the_servers_retry_after(
        provider, fake_openai, sleeps, retry_after, expected_wait) -> None:
    fake_openai.script(error(429, "Rate limit reached", retry_after=retry_after), text("Hello!"))

    events = await run(provider, ask())

    assert "".join(texts(events)) == "Hello!"
    assert len(fake_openai.requests) == 2
    assert sleeps.delays == [expected_wait]


async def test_server_errors_are_retried_with_growing_backoff_then_fail(
        provider, fake_openai, sleeps) -> None:
    fake_openai.script(*[error(500, "boom")] * (MAX_RETRIES + 1))

    with pytest.raises(ProviderError, match="upstream error 500"):
        await run(provider, ask())

    assert len(fake_openai.requests) == MAX_RETRIES + 1
    assert len(sleeps.delays) == MAX_RETRIES
    for attempt, delay in enumerate(sleeps.delays):
        ceiling = BACKOFF_BASE * 2**attempt
        assert ceiling / 2 <= delay <= ceiling


async def test_server_error_then_success_answers(provider, fake_openai) -> None:
    fake_openai.script(error(503, "overloaded"), text("Back again."))

    assert "".join(texts(await run(provider, ask()))) == "Back again."


async def test_timeouts_are_retried_then_fail(provider, fake_openai) -> None:
    fake_openai.script(*[hang(5)] * (MAX_RETRIES + 1))

    with pytest.raises(ProviderError, match="timed out"):
        await run(provider, ask(timeout=0.3))

    assert len(fake_openai.requests) == MAX_RETRIES + 1


async def test_timeout_then_success_answers(provider, fake_openai) -> None:
    fake_openai.script(hang(5), text("Sorry for the wait."))

    assert "".join(texts(await run(provider, ask(timeout=0.3)))) == "Sorry for the wait."


async def test_failure_after_streamed_text_is_not_retried(provider, fake_openai) -> None:
    fake_openai.script(text("Your order is on its way to you.", pieces=4, hang_after=2), text("DUPLICATE"))
    seen: list[str] = []

    with pytest.raises(ProviderError, match="timed out"):
        async for event in provider.complete(ask(timeout=0.3)):
            if isinstance(event, TextDelta):
                seen.append(event.text)

    assert len(seen) == 2
    assert len(fake_openai.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 404])
async def test_refused_request_fails_at_once(provider, fake_openai, sleeps, status) -> None:
    fake_openai.script(error(status, "The model `nope` does not exist"))

    with pytest.raises(ProviderError, match=f"request refused {status}: .*does not exist"):
        await run(provider, ask())

    assert len(fake_openai.requests) == 1
    assert sleeps.delays == []


async def test_server_without_usage_gets_an_estimate(provider, fake_openai) -> None:
    answer = "We open at nine and close at six, Monday to Saturday."
    fake_openai.script(text(answer, send_usage=False))

    events = await run(provider, ask())

    usage = events[-1]
    assert isinstance(usage, Usage)
    assert usage.completion_tokens == estimate_tokens(answer)
    assert usage.prompt_tokens > 10
    assert usage.model == "test-model"


async def test_server_refusing_stream_options_is_asked_again_without_them(provider, fake_openai) -> None:
    fake_openai.script(error(400, "Unrecognized request argument supplied: stream_options"), text("Hi"))

    events = await run(provider, ask())
    await run(provider, ask())

    assert "".join(texts(events)) == "Hi"
    assert isinstance(events[-1], Usage)
    assert [("stream_options" in r) for r in fake_openai.requests] == [True, False, False]


def test_one_provider_serves_successive_event_loops(fake_openai) -> None:
    # Workers may run each message with asyncio.run; pooled connections must not cross loops.
    provider = OpenAIProvider(api_key="k", base_url=fake_openai.base_url, model="m")

    async def answer(question: str) -> str:
        events = await run(provider, ask(question))
        await provider.aclose()
        return "".join(texts(events))

    assert [asyncio.run(answer(q)) for q in ("first?", "second?")] == ["Echo: first?", "Echo: second?"]


def test_estimate_counts_chinese_characters_as_tokens() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcdefgh") == 2
    assert estimate_tokens("我的订单在哪里") == 7


def test_factory_reads_llm_settings() -> None:
    settings = Settings()
    provider = build_openai_provider(settings)
    assert provider.name == "openai"
    assert provider.model == getattr(settings, "llm_model", "gpt-4o-mini")


async def test_fake_server_answers_non_streamed_requests_and_echoes_by_default(fake_openai) -> None:
    client = openai.AsyncOpenAI(api_key="k", base_url=fake_openai.base_url, max_retries=0)
    fake_openai.script(tool_calls(tool_call("request_human", {"reason": "angry"}, id="call_h")))

    called = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "help"}])
    echoed = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hello"}])
    await client.close()

    assert called.choices[0].message.tool_calls[0].function.arguments == '{"reason": "angry"}'
    assert echoed.choices[0].message.content == "Echo: hello"
    assert echoed.usage is not None and echoed.usage.total_tokens > 0
