"""How the local responder words a record the lookup tool found: one labelled line per field."""

from __future__ import annotations

import asyncio
import json

from chat.providers.local import LocalProvider, field_label, record_lines
from chat.tools import LOOKUP_RECORD
from chat.types import CompletionRequest, TextDelta

ORDER = {
    "order_id": "10023", "customer_id": "c-1001", "items": "West Lake Longjing 西湖龙井 100 g × 2",
    "status": "Shipped 已发货", "carrier": "SF Express 顺丰速运", "tracking_number": "SF1402938475",
    "estimated_delivery": "2026-12-09", "note": "",
}


def reply(language: str, result: dict) -> str:
    call = {"id": "local-1", "type": "function",
            "function": {"name": LOOKUP_RECORD, "arguments": json.dumps({"collection": "orders", "key": "10023"})}}
    messages = [
        {"role": "user", "content": "Where is my order 10023?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "local-1", "content": json.dumps(result, ensure_ascii=False)},
    ]

    async def collect() -> str:
        request = CompletionRequest(messages=messages, tools=[], model="local", language=language)
        return "".join([e.text async for e in LocalProvider().complete(request) if isinstance(e, TextDelta)])

    return asyncio.run(collect())


def test_an_order_reads_as_labelled_lines_without_the_number_or_the_owner() -> None:
    found = {"found": True, "collection": "orders", "key": "10023", "record": ORDER, "owner_column": "customer_id"}
    english = reply("en", found)
    assert english.splitlines() == [
        "Here is what I found for order 10023:", "",
        "- Items: West Lake Longjing 西湖龙井 100 g × 2", "- Status: Shipped 已发货",
        "- Carrier: SF Express 顺丰速运", "- Tracking number: SF1402938475", "- Estimated delivery: 2026-12-09",
    ]
    chinese = reply("zh", found)
    assert chinese.startswith("为您查到订单 10023：\n\n- 商品：West Lake Longjing")
    assert "- 运单号：SF1402938475" in chinese and "- 预计送达：2026-12-09" in chinese
    assert "c-1001" not in chinese and "order_id" not in chinese and "tracking_number" not in chinese


def test_without_an_owner_column_every_filled_field_but_the_key_is_shown() -> None:
    text = record_lines({"order_id": "A7", "customer_id": "c-9", "status": "paid"}, "a7", "en")
    assert text == "- Customer id: c-9\n- Status: paid"


def test_unknown_columns_are_humanised() -> None:
    assert field_label("giftWrapColour", "zh") == "Gift wrap colour"
    assert field_label("pickup-point", "en") == "Pickup point"
    assert field_label("status", "zh") == "状态"


def test_nested_values_read_as_text() -> None:
    record = {"order_id": "A7", "items": [{"sku": "LJ-100", "qty": 2}, {"sku": "TGY-100", "qty": 1}],
              "gift": True, "notes": []}
    assert record_lines(record, "A7", "en") == "- Items: Sku: LJ-100, Qty: 2; Sku: TGY-100, Qty: 1\n- Gift: yes"
    assert record_lines(record, "A7", "zh") == "- 商品：Sku：LJ-100，Qty：2；Sku：TGY-100，Qty：1\n- Gift：是"
