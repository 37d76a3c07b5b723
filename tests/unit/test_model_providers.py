"""The `anthropic` and `gemini` providers through their real SDKs against local servers that speak
each API's wire protocol (tests/support/fake_models.py): streaming, tool calls, retries, cuts."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chat.providers.anthropic_provider import AnthropicProvider
from chat.providers.gemini_provider import GeminiProvider
from chat.types import CompletionRequest, ProviderError, ProviderEvent, TextDelta, ToolCallRequest, ToolSpec, Usage
from tests.support.fake_models import SIGNATURE, FakeAnthropic, FakeGemini
from tests.support.fake_openai import error, hang, text, tool_call, tool_calls

LOOKUP = ToolSpec(
    "lookup_record",
    "Look up one of the tenant's records by key.",
    {
        "type": "object",
        "properties": {"collection": {"type": "string"}, "key": {"type": "string"}},
        "required": ["collection", "key"],
    },
)


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture(params=["anthropic", "gemini"])
async def model(request) -> AsyncIterator[tuple[Any, Any, RecordingSleep]]:
    sleeps = RecordingSleep()
    if request.param == "anthropic":
        server: Any = FakeAnthropic().start()
        provider: Any = AnthropicProvider(
            api_key="sk-ant-test",
            base_url=server.base_url,
            model="claude-test",
            timeout=2.0,
            max_retries=2,
            backoff_base=0.01,
            sleep=sleeps,
        )
    else:
        server = FakeGemini().start()
        provider = GeminiProvider(
            api_key="gm-test",
            base_url=server.base_url,
            model="gemini-test",
            timeout=2.0,
            max_retries=2,
            backoff_base=0.01,
            sleep=sleeps,
        )
    yield provider, server, sleeps
    await provider.aclose()
    server.stop()


def ask(question: str, *, timeout: float = 2.0, messages: list[dict[str, Any]] | None = None) -> CompletionRequest:
    return CompletionRequest(
        messages or [{"role": "system", "content": "You answer for the shop."}, {"role": "user", "content": question}],
        [LOOKUP],
        "",
        timeout_seconds=timeout,
    )


async def run(provider: Any, request: CompletionRequest) -> list[ProviderEvent]:
    return [event async for event in provider.complete(request)]


def texts(events: list[ProviderEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_text_streams_in_pieces_with_usage(model) -> None:
    provider, server, _ = model
    server.script(text("Delivery takes two to four working days.", pieces=4, usage=(120, 9)))
    events = await run(provider, ask("How long does delivery take?"))
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) == 4 and texts(events) == "Delivery takes two to four working days."
    assert events[-1] == Usage(120, 9, events[-1].model) and events[-1].model.endswith("-test")
    sent = server.last_request
    if provider.name == "anthropic":
        assert sent["system"] == "You answer for the shop." and sent["stream"] is True
        assert sent["messages"] == [
            {"role": "user", "content": [{"type": "text", "text": "How long does delivery take?"}]}
        ]
        assert sent["tools"][0]["input_schema"]["required"] == ["collection", "key"]
        headers = server.headers[-1]
        assert "sk-ant-test" in (headers.get("x-api-key"), headers.get("authorization", "").removeprefix("Bearer "))
        assert headers["anthropic-version"]
    else:
        assert sent["systemInstruction"]["parts"][0]["text"] == "You answer for the shop."
        assert sent["contents"] == [{"role": "user", "parts": [{"text": "How long does delivery take?"}]}]
        declaration = sent["tools"][0]["functionDeclarations"][0]
        assert declaration["name"] == "lookup_record"
        # The SDK version decides the field's spelling; either way the schema goes through whole.
        schema = declaration.get("parametersJsonSchema") or declaration.get("parameters_json_schema")
        assert schema["required"] == ["collection", "key"]
        assert "/models/gemini-test:streamGenerateContent" in server.paths[-1]
        assert server.headers[-1]["x-goog-api-key"] == "gm-test"


async def test_chinese_text_arrives_whole(model) -> None:
    provider, server, _ = model
    server.script(text("我们的退货期限是十四天，商品需未拆封。", pieces=5))
    assert texts(await run(provider, ask("退货政策是什么？"))) == "我们的退货期限是十四天，商品需未拆封。"


async def test_tool_call_and_its_result_go_back_in_the_providers_format(model) -> None:
    provider, server, _ = model
    server.script(
        tool_calls(tool_call("lookup_record", {"collection": "orders", "key": "10023"}, id="call_7")),
        text("Order 10023 has shipped."),
    )
    first = await run(provider, ask("Where is order 10023?"))
    calls = [e for e in first if isinstance(e, ToolCallRequest)]
    assert [(c.name, c.arguments) for c in calls] == [("lookup_record", {"collection": "orders", "key": "10023"})]
    call = calls[0]
    messages = [
        {"role": "user", "content": "Where is order 10023?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": '{"record": {"status": "shipped"}}'},
    ]
    second = await run(provider, ask("", messages=messages))
    assert texts(second) == "Order 10023 has shipped."
    sent = server.last_request
    if provider.name == "anthropic":
        assert call.id.startswith("toolu_")
        assert sent["messages"][1]["content"] == [
            {
                "type": "tool_use",
                "id": call.id,
                "name": "lookup_record",
                "input": {"collection": "orders", "key": "10023"},
            }
        ]
        assert sent["messages"][2] == {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": call.id, "content": '{"record": {"status": "shipped"}}'}
            ],
        }
    else:
        model_turn, answer_turn = sent["contents"][1], sent["contents"][2]
        assert model_turn["role"] == "model"
        assert model_turn["parts"][0]["functionCall"]["name"] == "lookup_record"
        # The call's signature goes back with it, as Gemini's thinking models require.
        assert base64.b64decode(model_turn["parts"][0]["thoughtSignature"]) == base64.b64decode(SIGNATURE)
        response = answer_turn["parts"][0]["functionResponse"]
        assert response["name"] == "lookup_record" and response["response"] == {
            "result": {"record": {"status": "shipped"}}
        }


async def test_rate_limit_is_retried_after_the_servers_delay(model) -> None:
    provider, server, sleeps = model
    server.script(error(429, "slow down", retry_after=0.3), text("Hello again."))
    assert texts(await run(provider, ask("hi"))) == "Hello again."
    assert sleeps.delays == [pytest.approx(0.3)] and len(server.requests) == 2


async def test_server_errors_are_retried_then_reported(model) -> None:
    provider, server, sleeps = model
    server.script(error(500), error(500), error(500), text("never sent"))
    with pytest.raises(ProviderError, match="upstream error 500"):
        await run(provider, ask("hi"))
    assert len(server.requests) == 3 and len(sleeps.delays) == 2


async def test_a_refused_request_is_not_retried(model) -> None:
    provider, server, sleeps = model
    server.script(error(400, "bad schema"), text("never sent"))
    with pytest.raises(ProviderError, match="request refused 400"):
        await run(provider, ask("hi"))
    assert len(server.requests) == 1 and sleeps.delays == []


async def test_a_timeout_is_retried_then_reported(model) -> None:
    provider, server, _ = model
    server.script(hang(3), hang(3), hang(3))
    with pytest.raises(ProviderError, match="timed out"):
        await run(provider, ask("hi", timeout=0.3))
    assert len(server.requests) == 3


async def test_a_stream_cut_midway_is_not_retried_so_no_text_repeats(model) -> None:
    provider, server, _ = model
    server.script(
        text("One two three four five six.", pieces=6, hang_after=3, hang_seconds=0),
        text("One two three four five six."),
    )
    seen: list[str] = []
    with pytest.raises(ProviderError):
        async for event in provider.complete(ask("count")):
            if isinstance(event, TextDelta):
                seen.append(event.text)
    assert "".join(seen) == "One two three four five six."[: len("".join(seen))] and seen
    assert len(server.requests) == 1  # the second, complete answer was never asked for
