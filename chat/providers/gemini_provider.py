"""The `gemini` provider: Gemini through the official `google-genai` SDK (streamGenerateContent).

Streamed like the other providers and retried by the shared rule in `chat.providers.retry` (the
SDK's own retries are off). OpenAI-format messages are translated: system messages become the
system instruction, assistant tool calls become `functionCall` parts, tool results become
`functionResponse` parts (Gemini answers a call by the function's name, so the name is looked up
by call id). Gemini's newer models sign their function calls (`thoughtSignature`) and refuse the
next turn unless the signature comes back with the call; the engine's messages do not carry it,
so this provider keeps the signatures of recent calls by call id and puts them back.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import OrderedDict
from collections.abc import AsyncGenerator
from typing import Any

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from chat.providers.retry import (
    TIMEOUT_ERRORS,
    TRANSPORT_ERRORS,
    Failure,
    decode_arguments,
    retry_after,
    short,
    tool_results_by_id,
)
from chat.providers.streaming import StreamingProvider, turn_end
from chat.types import CompletionRequest, ProviderEvent, TextDelta, ToolCallRequest, Usage

_SIGNATURES_KEPT = 2048
_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


class GeminiProvider(StreamingProvider[genai.Client]):
    """Streams Gemini's generateContent with function calling, under the shared retry policy."""

    name = "gemini"
    default_model = "gemini-2.5-flash"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._signatures: OrderedDict[str, bytes] = OrderedDict()

    @staticmethod
    def classify(exc: Exception) -> Failure | None:
        return _classify(exc)

    def _new_client(self) -> genai.Client:
        options = types.HttpOptions(
            timeout=int(self.timeout * 1000),
            # attempts=1: the SDK's retries would re-send after we streamed text.
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        if self._base_url:
            options.base_url = self._base_url
        return genai.Client(api_key=self._api_key, http_options=options)

    async def _close_client(self, client: genai.Client) -> None:
        await client.aio.aclose()

    async def _attempt(self, request: CompletionRequest) -> AsyncGenerator[ProviderEvent, None]:
        model = request.model or self.model
        system, contents = self.to_gemini_contents(request.messages)
        config = types.GenerateContentConfig(
            system_instruction=system or None,
            temperature=request.temperature,
            max_output_tokens=request.max_tokens,
            tools=[
                types.Tool(
                    function_declarations=[
                        types.FunctionDeclaration(
                            name=s.name, description=s.description, parameters_json_schema=s.parameters
                        )
                        for s in request.tools
                    ]
                )
            ]
            if request.tools
            else None,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            http_options=types.HttpOptions(timeout=int(request.timeout_seconds * 1000)),
        )
        stream = await self._client().aio.models.generate_content_stream(model=model, contents=contents, config=config)
        text: list[str] = []
        calls: list[ToolCallRequest] = []
        usage: Usage | None = None
        async for chunk in stream:
            model = chunk.model_version or model
            for candidate in chunk.candidates or ():
                for part in (candidate.content.parts if candidate.content else None) or ():
                    if part.function_call is not None and part.function_call.name:
                        call_id = part.function_call.id or f"call_{uuid.uuid4().hex[:24]}"
                        if part.thought_signature:
                            self._remember(call_id, part.thought_signature)
                        calls.append(
                            ToolCallRequest(call_id, part.function_call.name, dict(part.function_call.args or {}))
                        )
                    elif part.text and not part.thought:
                        text.append(part.text)
                        yield TextDelta(part.text)
            meta = chunk.usage_metadata
            if meta is not None and meta.candidates_token_count is not None:
                usage = Usage(
                    meta.prompt_token_count or 0,
                    (meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0),
                    model,
                )
        for event in turn_end(request, text, calls, usage, model):
            yield event

    def to_gemini_contents(self, messages: list[dict[str, Any]]) -> tuple[str, list[types.Content]]:
        """(system instruction, contents) from OpenAI-format messages."""
        names = tool_results_by_id(messages)
        system: list[str] = []
        contents: list[types.Content] = []
        for message in messages:
            role = message.get("role")
            if role == "system":
                system.append(str(message.get("content") or ""))
                continue
            parts: list[types.Part] = []
            if role == "tool":
                call_id = str(message.get("tool_call_id"))
                parts.append(
                    types.Part(
                        function_response=types.FunctionResponse(
                            id=call_id,
                            name=names.get(call_id, "tool"),
                            response={
                                "result": decode_arguments(str(message.get("content") or ""))
                                if str(message.get("content") or "").startswith("{")
                                else message.get("content")
                            },
                        )
                    )
                )
            else:
                if content := str(message.get("content") or "").strip():
                    parts.append(types.Part(text=content))
                for call in message.get("tool_calls") or ():
                    function = call["function"]
                    arguments = function.get("arguments")
                    parts.append(
                        types.Part(
                            function_call=types.FunctionCall(
                                id=call["id"],
                                name=function["name"],
                                args=decode_arguments(arguments) if isinstance(arguments, str) else arguments or {},
                            ),
                            thought_signature=self._signatures.get(call["id"]),
                        )
                    )
            if not parts:
                continue
            gemini_role = "model" if role == "assistant" else "user"
            if contents and contents[-1].role == gemini_role and contents[-1].parts is not None:
                contents[-1].parts.extend(parts)
            else:
                contents.append(types.Content(role=gemini_role, parts=parts))
        return "\n\n".join(s for s in system if s), contents

    def _remember(self, call_id: str, signature: bytes) -> None:
        self._signatures[call_id] = signature
        while len(self._signatures) > _SIGNATURES_KEPT:
            self._signatures.popitem(last=False)


def _classify(exc: Exception) -> Failure | None:
    if isinstance(exc, genai_errors.APIError):
        status = exc.code or 0
        if status == 429:
            return Failure("rate limited", True, _retry_delay(exc))
        if status == 408:
            return Failure("timed out", True)
        if status >= 500:
            return Failure(f"upstream error {status}", True, _retry_delay(exc))
        return Failure(short(f"request refused {status}: {exc.message}"), False)
    if isinstance(exc, (asyncio.TimeoutError, *TIMEOUT_ERRORS)):
        return Failure("timed out", True)
    if isinstance(exc, TRANSPORT_ERRORS):
        return Failure("connection failed", True)
    return None


def _retry_delay(exc: genai_errors.APIError) -> float | None:
    """The wait Google asks for: a RetryInfo detail ("retryDelay": "2s"), else a Retry-After header."""
    details = exc.details.get("error", {}).get("details") if isinstance(exc.details, dict) else None
    for detail in details or ():
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            match = _DELAY.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return retry_after(getattr(exc.response, "headers", None))
