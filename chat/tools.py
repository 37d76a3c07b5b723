"""The bot's function tools. Every tool is scoped to the conversation's tenant.

Tools return JSON-able results (errors as {"error": ...}, never exceptions), which are stored with
the message and fed back to the model.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from types import EllipsisType
from typing import Any

from chat import contact
from chat.http_tool_specs import get_http_tool_by_name, list_http_tools
from chat.http_tools import call_http_tool
from chat.types import ToolCallRecord, ToolSpec
from core.db import tenant_session
from core.settings import get_settings
from core.versions import tenant_version
from knowledge.hits import Hit
from knowledge.records import list_collections, lookup_for_visitor
from knowledge.retrieval import retrieve

SEARCH_KNOWLEDGE = "search_knowledge"
LOOKUP_RECORD = "lookup_record"
CALL_HTTP_TOOL = "call_http_tool"
REQUEST_HUMAN = "request_human"


@dataclass(frozen=True)
class CollectionRules:
    """What the chat needs to know of a record collection to answer a visitor (knowledge.records)."""

    name: str
    access: str  # owner | public (private collections are never offered to the model)
    owner_column: str | None
    sensitive_columns: list[str]


@dataclass
class ToolContext:
    tenant_id: uuid.UUID
    conversation_id: uuid.UUID
    hits: list[Hit] = field(default_factory=list)  # knowledge the answer may cite
    handoff_reason: str | None = None
    collections: list[str] = field(default_factory=list)
    http_tools: dict[str, str] = field(default_factory=dict)  # name -> description
    rules: dict[str, CollectionRules] = field(default_factory=dict)
    user_id: str | None = None  # the verified user asking; owner collections answer only them


_reach_cache: dict[uuid.UUID, tuple[int, dict[str, CollectionRules], dict[str, str]]] = {}


async def load_tool_context(tenant_id: uuid.UUID, conversation_id: uuid.UUID, *,
                            version: int | EllipsisType | None = ...) -> ToolContext:
    """What this tenant's tools can reach: its record collections and HTTP tools.

    Cached per tenant version (importing records or changing tools bumps it); `version` if the
    caller already read it (None: Redis unreachable), else it is read here.
    """
    if version is ...:
        version = await tenant_version(tenant_id)
    cached = _reach_cache.get(tenant_id)
    if version is not None and cached is not None and cached[0] == version:
        return _context(tenant_id, conversation_id, cached[1], cached[2])
    async with tenant_session(tenant_id) as session:
        collections = await session.run_sync(lambda s: list_collections(s, tenant_id))
        http_tools = await session.run_sync(lambda s: list_http_tools(s, tenant_id, enabled_only=True))
    # A private collection is for admins only: the model is never told it exists.
    rules = {c.name: CollectionRules(c.name, c.access, c.owner_column, list(c.sensitive_columns))
             for c in collections if c.access != "private"}
    # The model sees each tool's parameters too, so it need not guess argument names.
    described = {t["name"]: f"{t['description']} (args: {json.dumps(t['parameters'].get('properties', {}))})"
                 for t in http_tools}
    if version is not None:
        _reach_cache[tenant_id] = (version, rules, described)
    return _context(tenant_id, conversation_id, rules, described)


def _context(tenant_id: uuid.UUID, conversation_id: uuid.UUID, rules: dict[str, CollectionRules],
             described: dict[str, str]) -> ToolContext:
    return ToolContext(tenant_id, conversation_id, collections=list(rules), http_tools=dict(described),
                       rules=dict(rules))


def tool_specs(ctx: ToolContext) -> list[ToolSpec]:
    specs = [
        ToolSpec(SEARCH_KNOWLEDGE, "Search this business's knowledge base (FAQ, policies, guides).",
                 {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}),
        ToolSpec(REQUEST_HUMAN, "Hand the conversation to a human agent when the customer asks for a person "
                 "or the question cannot be answered.",
                 {"type": "object", "properties": {"reason": {"type": "string"}}, "required": ["reason"]}),
    ]
    if ctx.collections:
        specs.append(ToolSpec(
            LOOKUP_RECORD, "Look up one of the business's records (for example an order) by its key.",
            {"type": "object", "properties": {
                "collection": {"type": "string", "enum": ctx.collections},
                "key": {"type": "string", "description": "e.g. the order number"}},
             "required": ["collection", "key"]}))
    if ctx.http_tools:
        described = "; ".join(f"{name}: {text}" for name, text in ctx.http_tools.items())
        specs.append(ToolSpec(
            CALL_HTTP_TOOL, f"Call one of the business's HTTP functions. Available: {described}",
            {"type": "object", "properties": {
                "name": {"type": "string", "enum": list(ctx.http_tools)},
                "args": {"type": "object"}},
             "required": ["name", "args"]}))
    return specs


def hit_result(hit: Hit) -> dict[str, Any]:
    return {"text": hit.text, "source_ref": hit.source_ref, "chunk_id": hit.chunk_id,
            "document_id": str(hit.document_id), "score": round(hit.score, 4), "metadata": hit.metadata}


async def run_tool(ctx: ToolContext, name: str, arguments: dict[str, Any]) -> ToolCallRecord:
    started = time.perf_counter()
    error: str | None = None
    try:
        result = await _dispatch(ctx, name, arguments)
    except Exception as exc:  # a tool failure is reported to the model, never to the customer as a 500
        result, error = {"error": f"{name} failed"}, f"{type(exc).__name__}: {exc}"[:500]
    if isinstance(result, dict) and "error" in result and error is None:
        error = str(result["error"])
    return ToolCallRecord(name, arguments, result, int((time.perf_counter() - started) * 1000), error)


async def _dispatch(ctx: ToolContext, name: str, arguments: dict[str, Any]) -> Any:
    if name == SEARCH_KNOWLEDGE:
        query = str(arguments.get("query") or "").strip()[:2000]
        if not query:
            return {"error": "query is required"}
        hits = await retrieve(ctx.tenant_id, query, 5)
        known = {h.chunk_id for h in ctx.hits}
        ctx.hits.extend(h for h in hits if h.chunk_id not in known)
        return {"results": [hit_result(h) for h in hits]}
    if name == LOOKUP_RECORD:
        return await _lookup(ctx, str(arguments.get("collection") or ""), str(arguments.get("key") or ""))
    if name == REQUEST_HUMAN:
        ctx.handoff_reason = str(arguments.get("reason") or "customer asked for a person")[:500]
        available = await contact.availability(ctx.tenant_id)
        if not available["ask_contact"]:
            return {"status": "handed_off", "someone_available_now": True}
        why = "Outside office hours" if available["reason"] == "closed" else "No colleague is online right now"
        return {"status": "handed_off", "someone_available_now": False, "reason": available["reason"],
                "note": f"{why}: tell the customer honestly that no one can answer right now, that the "
                        "conversation waits for the team, and ask them to leave an email or phone number in "
                        "the form shown below."}
    if name == CALL_HTTP_TOOL:
        return await _call_http(ctx, str(arguments.get("name") or ""), arguments.get("args") or {})
    return {"error": f"unknown tool {name!r}"}


SIGN_IN_NOTE = ("Only the signed-in customer a record belongs to may see it. Ask the customer to sign in on the "
                "website and ask again; do not say whether this record exists.")


async def _lookup(ctx: ToolContext, collection: str, key: str) -> dict[str, Any]:
    """A record as this visitor may see it: its owner only (when verified), masked; never whether it exists."""
    rules = ctx.rules.get(collection)
    if rules is None:
        return {"error": f"unknown collection {collection!r}; available: {', '.join(ctx.collections) or 'none'}"}
    if not key.strip():
        return {"error": "key is required"}
    async with tenant_session(ctx.tenant_id) as session:
        seen = await session.run_sync(lambda s: lookup_for_visitor(s, ctx.tenant_id, rules, key, ctx.user_id))
    answer: dict[str, Any] = {"found": seen.status == "found", "collection": collection, "key": key,
                              "record": seen.record}
    if seen.status == "found" and rules.access == "owner":
        answer["owner_column"] = rules.owner_column  # names the signed-in customer: not worth repeating
    if seen.status == "sign_in":
        answer.update(sign_in_required=True, note=SIGN_IN_NOTE)
    elif seen.status == "not_found" and rules.access == "owner":
        answer["signed_in"] = True  # "not in your account", whether it exists for someone else or not
    return answer


async def _call_http(ctx: ToolContext, name: str, args: Any) -> dict[str, Any]:
    if name not in ctx.http_tools:
        return {"error": f"unknown HTTP tool {name!r}"}
    if not isinstance(args, dict):
        return {"error": "args must be an object"}
    async with tenant_session(ctx.tenant_id) as session:
        tool = await session.run_sync(lambda s: get_http_tool_by_name(s, ctx.tenant_id, name))
    if tool is None:
        return {"error": f"HTTP tool {name!r} no longer exists"}
    return await call_http_tool(tool, args, allow_private=get_settings().http_tools_allow_private)
