"""The `local` provider: a deterministic, grounded responder that needs no model.

It reads the same OpenAI-format conversation as a real model. Small talk and requests for a
person never reach it (the engine reads the turn first, `chat.dialogue`); an order or booking
number calls `lookup_record`; anything else is answered from the retrieved knowledge (the best FAQ
answer, or the best sentences of the best passage). After a tool result it composes the reply
from that result. It streams sentence by sentence.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from chat.intents import GREETING, RECORD_KEY, THANKS
from chat.language import detect_language
from chat.prompts import handoff_phrase, phrase
from chat.tools import LOOKUP_RECORD, REQUEST_HUMAN
from chat.types import CompletionRequest, ProviderEvent, TextDelta, ToolCallRequest, Usage
from knowledge.lexical import query_tokens

SENTENCE = re.compile(r"[^。！？!?.\n]+[。！？!?.]?\n*|\n+")  # line breaks stay with their sentence


def _singular(word: str) -> str:
    return word[:-1] if word.endswith("s") else word


COLLECTION_WORDS = {"order": "订单", "booking": "预订", "reservation": "预约", "ticket": "工单", "shipment": "物流"}


class LocalProvider:
    name = "local"

    async def complete(self, request: CompletionRequest) -> AsyncIterator[ProviderEvent]:
        text = self._respond(request)
        if isinstance(text, ToolCallRequest):
            yield text
        else:
            for piece in SENTENCE.findall(text) or [text]:
                yield TextDelta(piece)
        yield Usage(0, 0, "local")

    def _respond(self, request: CompletionRequest) -> str | ToolCallRequest:
        messages = request.messages
        language = request.language
        last = messages[-1]
        if last["role"] == "tool":
            return self._from_tool(messages, language, request)
        question = str(last.get("content") or "")
        tools = {t.name: t for t in request.tools}
        if LOOKUP_RECORD in tools:
            call = self._record_call(question, tools[LOOKUP_RECORD].parameters)
            if call is not None:
                return call
        if GREETING.match(question):
            return phrase(language, "greeting")
        if THANKS.match(question):
            return phrase(language, "thanks")
        return compose_from_passages(question, request.context, language)

    def _record_call(self, question: str, parameters: dict[str, Any]) -> ToolCallRequest | None:
        match = RECORD_KEY.search(question)
        if match is None:
            return None
        collections: list[str] = parameters["properties"]["collection"].get("enum", [])
        lowered = question.lower()
        chosen = None
        for name in collections:
            singular = _singular(name.lower())
            if singular in lowered or COLLECTION_WORDS.get(singular, "\0") in question:
                chosen = name
                break
        if chosen is None and len(collections) == 1:
            chosen = collections[0]
        if chosen is None:
            return None
        return ToolCallRequest("local-1", LOOKUP_RECORD, {"collection": chosen, "key": match.group(1)})

    def _from_tool(self, messages: list[dict[str, Any]], language: str, request: CompletionRequest) -> str:
        result_message = messages[-1]
        call = _find_call(messages, result_message.get("tool_call_id"))
        try:
            result = json.loads(result_message.get("content") or "{}")
        except ValueError:
            result = {}
        name = call["function"]["name"] if call else ""
        if name == REQUEST_HUMAN:
            return phrase(language, handoff_phrase(result))
        if name == LOOKUP_RECORD:
            collection = _singular(str(result.get("collection", "record")))
            label = COLLECTION_WORDS.get(collection, collection) if language == "zh" else collection
            if result.get("found"):
                details = record_lines(result.get("record") or {}, str(result.get("key") or ""), language,
                                       skip={str(result.get("owner_column") or "")})
                return phrase(language, "record_found", collection=label, key=result.get("key"), details=details)
            if "error" in result:
                return phrase(language, "dont_know")
            if result.get("sign_in_required"):
                return phrase(language, "record_sign_in", collection=label, key=result.get("key"))
            if result.get("signed_in"):
                return phrase(language, "record_not_yours", collection=label, key=result.get("key"))
            return phrase(language, "record_missing", collection=label, key=result.get("key"))
        question = next((str(m.get("content")) for m in reversed(messages) if m["role"] == "user"), "")
        passages = result.get("results") if isinstance(result, dict) else None
        return compose_from_passages(question, passages or request.context, language)


# Labels for the columns most order, booking and ticket tables have; other columns are humanised.
FIELD_WORDS_ZH = {
    "status": "状态", "state": "状态", "carrier": "快递公司", "courier": "快递公司", "tracking_number": "运单号",
    "tracking": "运单号", "estimated_delivery": "预计送达", "eta": "预计送达", "delivery_date": "送达日期",
    "items": "商品", "item": "商品", "products": "商品", "quantity": "数量", "address": "收货地址",
    "shipped_on": "发货日期", "shipped_at": "发货时间", "ordered_on": "下单日期", "created_at": "创建时间",
    "updated_at": "更新时间", "date": "日期", "time": "时间", "total": "金额", "amount": "金额", "price": "价格",
    "payment": "支付方式", "payment_method": "支付方式", "name": "姓名", "email": "邮箱", "phone": "电话",
    "note": "备注", "notes": "备注", "room": "房型", "guests": "人数", "check_in": "入住日期",
    "check_out": "退房日期", "priority": "优先级", "assignee": "负责人", "subject": "主题",
}


def field_label(column: str, language: str) -> str:
    """A column name as a customer reads it: "tracking_number" → "Tracking number" / "运单号"."""
    normal = column.strip().lower().replace(" ", "_").replace("-", "_")
    if language == "zh" and normal in FIELD_WORDS_ZH:
        return FIELD_WORDS_ZH[normal]
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", column).replace("_", " ").replace("-", " ").split()
    return " ".join(words).capitalize() if words else column


def record_lines(record: dict[str, Any], key: str, language: str, skip: set[str] = frozenset()) -> str:
    """One "- Label: value" line per filled column, leaving out the number asked about and the owner."""
    colon = "：" if language == "zh" else ": "
    lines = [
        f"- {field_label(str(column), language)}{colon}{readable(value, language)}"
        for column, value in record.items()
        if value not in (None, "", [], {}) and column not in skip
        and str(value).strip().lower() != key.strip().lower()
    ]
    return "\n".join(lines)


def readable(value: Any, language: str) -> str:
    """A field's value as text: nested lists and objects (JSON records) without brackets or quotes."""
    comma = "，" if language == "zh" else ", "
    if isinstance(value, dict):
        colon = "：" if language == "zh" else ": "
        return comma.join(f"{field_label(str(k), language)}{colon}{readable(v, language)}"
                          for k, v in value.items() if v not in (None, ""))
    if isinstance(value, list):
        return ("；" if language == "zh" else "; ").join(readable(v, language) for v in value if v not in (None, ""))
    if isinstance(value, bool):
        return ("是" if value else "否") if language == "zh" else ("yes" if value else "no")
    return str(value)


def _find_call(messages: list[dict[str, Any]], call_id: str | None) -> dict[str, Any] | None:
    for message in reversed(messages):
        for call in message.get("tool_calls") or []:
            if call.get("id") == call_id:
                return dict(call)
    return None


def compose_from_passages(question: str, passages: list[dict[str, Any]], language: str) -> str:
    """The best FAQ answer, or the sentences of the best passage that share most with the question."""
    if not passages:
        return phrase(language, "dont_know")
    best = passages[answer_passage(passages, language)]
    metadata = best.get("metadata") or {}
    if metadata.get("kind") == "faq" and metadata.get("answer"):
        return str(metadata["answer"])
    wanted = set(query_tokens(question))
    sentences = [s for s in _sentences(str(best["text"])) if s]
    if not sentences:
        return str(best["text"])
    scored = sorted(range(len(sentences)), key=lambda i: -len(wanted & set(query_tokens(sentences[i]))))
    keep = sorted(scored[:3])
    joiner = "" if language == "zh" else " "
    return joiner.join(sentences[i] for i in keep)


def _sentences(text: str) -> list[str]:
    """The passage's sentences without its heading lines (a line with no sentence punctuation
    followed by more text: "Green tea" above "绿茶建议…"), which would be glued to the next sentence."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    body = [line for i, line in enumerate(lines) if not (i + 1 < len(lines) and _is_heading(line))]
    return [s.strip() for line in body for s in SENTENCE.findall(line) if s.strip()]


def _is_heading(line: str) -> bool:
    return len(line) <= 80 and not line.rstrip().endswith(tuple("。！？!?.；;：:，,"))


def answer_passage(passages: list[dict[str, Any]], language: str) -> int:
    """Which passage the answer comes from: the top one, unless it is not written in the customer's
    language and a near-tie is (a bilingual passage speaks both)."""
    top = passages[0]
    if _speaks(str(top["text"]), language):
        return 0
    for index, passage in enumerate(passages[1:4], start=1):
        if passage.get("score", 0) < top.get("score", 0) - 0.03:
            break
        if _speaks(str(passage["text"]), language):
            return index
    return 0


def _speaks(text: str, language: str) -> bool:
    if detect_language(text) == language:
        return True
    # A bilingual passage: Han characters and at least a few English words.
    han = sum(1 for c in text if "\u4e00" <= c <= "\u9fff")
    latin_words = len(re.findall(r"[A-Za-z]{2,}", text))
    return han >= 4 and latin_words >= 4
