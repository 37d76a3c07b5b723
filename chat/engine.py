"""The chat engine: one customer message in, one grounded answer out (streamed or not).

Flow: limits → (cached answer?) → retrieve knowledge (follow-ups are rewritten with the previous
question) → confidence gate → provider with tools in a bounded loop → store question and answer,
usage and any hand-off → remember the turns and cache the answer. Framework-free: the API (HTTP,
WebSocket) and the `chat` worker actor drive the same `run()`.

While the customer waits (`prepare` + `run`), everything Redis knows for a message (the tenant's
version, both rate-limit counters, the cached answer, the conversation's owner and recent turns)
comes back in one pipeline round trip, and the question is stored with its answer in one
transaction. Queued messages are stored first (`accept`) and answered by the worker.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import redis

from chat import dialogue, followups, grounding, identity, memory, model_choice, notifications, store
from chat.bot_settings import BotSettings, load_bot_settings
from chat.customer_text import clean_customer_text
from chat.handoff import announce_handoff
from chat.intents import RECORD_KEY
from chat.language import reply_language
from chat.limits import Counts, Limits, RateWindow, check_rate_limits, tokens_used_this_month
from chat.limits import enforce as enforce_limits
from chat.prompts import handoff_phrase, phrase, system_prompt
from chat.providers.local import LocalProvider, answer_passage, compose_from_passages
from chat.tools import LOOKUP_RECORD, REQUEST_HUMAN, ToolContext, hit_result, load_tool_context, run_tool, tool_specs
from chat.types import (
    ChatResult,
    Citation,
    CompletionRequest,
    Provider,
    ProviderError,
    Suggestion,
    TextDelta,
    ToolCallRecord,
    ToolCallRequest,
    Usage,
)
from core import metrics
from core.db import tenant_session
from core.errors import NotFound, ValidationFailed
from core.identity import UserClaim
from core.logging import bind_log_context
from core.redis import async_redis
from core.settings import get_settings
from core.versions import tenant_version, tenant_version_key
from knowledge import reranker
from knowledge.confidence import confidence, curve_of
from knowledge.entries import entry_hit
from knowledge.hits import Hit
from knowledge.retrieval import retrieve

log = logging.getLogger(__name__)
CITE_WINDOW = 0.03
# Between this share of the answering threshold and the threshold the bot offers "did you mean".
SUGGEST_SHARE = 0.4
MAX_SUGGESTIONS = 3
# Below the threshold, a top entry leading the next one by this many units of the confidence curve
# is answered (`clear_lead`); one unit = the curve's own scale, not a value fitted to a data set.
LEAD_UNITS = 1.0


@dataclass
class ChatEvent:
    kind: str  # "delta" or "final"
    text: str = ""
    result: ChatResult | None = None


@dataclass
class Prepared:
    """What `prepare` learned about a message before answering it (see `run`)."""

    settings: BotSettings
    version: int | None  # the tenant's version; None when Redis is unreachable (no answer cache)
    cache_key: str | None = None  # the answer-cache key already read (its value is `cached`)
    cached: dict[str, Any] | None = None
    turns: list[dict[str, str]] | None = None  # recent turns; None = read them when needed
    # A rehearsal (the admin's "Try a question"): the answer is stored nowhere, nothing is handed
    # over, and the turns are appended here instead of Redis.
    rehearsal: list[dict[str, Any]] | None = None


@dataclass
class _Run:
    turn: store.Turn
    settings: BotSettings
    language: str
    started: float = field(default_factory=time.perf_counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str | None = None
    provider_name: str = "local"
    asked: dict[str, Any] = field(default_factory=dict)  # kept with the question in the turns (chat.followups)
    replied: dict[str, Any] = field(default_factory=dict)  # kept with the answer: the entry it came from
    chosen: dict[str, str] | None = None  # the "did you mean" suggestion this turn chose
    rehearsal: list[dict[str, Any]] | None = None  # see Prepared.rehearsal


def validate_message(text: str) -> str:
    text = clean_customer_text(text or "").strip()
    limit = get_settings().chat_max_message_chars
    if not text:
        raise ValidationFailed("message must not be empty.")
    if len(text) > limit:
        raise ValidationFailed(f"message is too long ({len(text)} characters; the limit is {limit}).")
    return text


_settings_cache: dict[uuid.UUID, tuple[int, BotSettings]] = {}


def limits_of(settings: BotSettings) -> Limits:
    return Limits(settings.rate_limit_per_minute, settings.visitor_rate_limit_per_minute,
                  settings.address_rate_limit_per_minute)


async def settings_for(tenant_id: uuid.UUID) -> BotSettings:
    """The tenant's bot settings, cached per tenant version (saving settings bumps it)."""
    return await settings_at(tenant_id, await tenant_version(tenant_id))


def ranking_of(settings: BotSettings) -> str:
    """Which reranker orders this tenant's passages now (the operator's may change without a version bump)."""
    return reranker.fingerprint(reranker.resolve(settings.reranker))


async def settings_at(tenant_id: uuid.UUID, version: int | None) -> BotSettings:
    """The settings at the tenant's `version`, already read by the caller (None: Redis unreachable)."""
    cached = _settings_cache.get(tenant_id)
    if version is not None and cached is not None and cached[0] == version:
        return cached[1]
    async with tenant_session(tenant_id) as session:
        settings = await load_bot_settings(session, tenant_id)
    if version is not None:
        _settings_cache[tenant_id] = (version, settings)
    return settings


async def accept(tenant_id: uuid.UUID, message: str, *, visitor_id: str, conversation_id: uuid.UUID | None,
                 channel: str = "widget", user: UserClaim | None = None, address: str | None = None,
                 suggestion: str | None = None) -> store.Turn:
    """Check limits and store the customer's message as pending; the `chat` worker answers it (queued path).

    A chosen "did you mean" `suggestion` (a source_ref) is checked now (422, nothing stored, when it
    is not an entry of this tenant) and stored with the message, so the worker answers from it.
    """
    text = validate_message(message)
    version = await tenant_version(tenant_id)
    verified = await identity.verify(tenant_id, user, version=version)
    settings = await settings_at(tenant_id, version)
    chosen = await _chosen_entry(tenant_id, suggestion) if suggestion is not None else None
    await check_rate_limits(tenant_id, visitor_id, limits_of(settings), reply_language(settings.language, text),
                            address)
    return await store.start_turn(tenant_id, visitor_id, conversation_id, text, channel=channel,
                                  status="pending", user=verified, chosen=chosen)


async def prepare(tenant_id: uuid.UUID, message: str, *, visitor_id: str, conversation_id: uuid.UUID | None,
                  channel: str = "widget", user: UserClaim | None = None,
                  address: str | None = None, suggestion: str | None = None) -> tuple[store.Turn, Prepared]:
    """Check a message the customer waits for (limits, conversation) without storing anything yet.

    One Redis round trip: the tenant's version, the rate-limit counters, the answer cached for the
    question (under the version this process last saw; used only if it is still current) and, for
    a continued conversation, its owner and recent turns. A conversation Redis does not know is
    checked in the database. The question is stored with its answer by `run()`. A `user` claim is
    verified against the tenant's identity secret (401 when it does not match). `address` is the
    client's address as the trusted proxy chain gives it (the per-address limit); None skips that limit.
    `suggestion`: the source_ref of a "did you mean" entry the customer chose (answered from that entry).
    """
    text = validate_message(message)
    window = RateWindow.now(tenant_id, visitor_id, address)
    seen = _settings_cache.get(tenant_id)
    guess_key = memory.answer_key(tenant_id, seen[0], reply_language(seen[1].language, text), text,
                                  ranking_of(seen[1])) if seen else None
    try:
        pipe = async_redis().pipeline(transaction=False)
        pipe.get(tenant_version_key(tenant_id))
        window.count(pipe)
        if guess_key is not None:
            pipe.get(guess_key)
        if conversation_id is not None:
            memory.queue_turns_read(pipe, conversation_id)
        reads = _PreparedReads.of(iter(await pipe.execute()), window, cached=guess_key is not None,
                                  turns=conversation_id is not None)
    except redis.RedisError:
        log.warning("redis unavailable; no rate limits, cache or turns from redis", extra={"tenant_id": str(tenant_id)})
        reads = _PreparedReads()
    verified = await identity.verify(tenant_id, user, version=reads.version)
    settings = await settings_at(tenant_id, reads.version)
    language = reply_language(settings.language, text)
    if reads.counts is not None:
        await enforce_limits(window, reads.counts, limits_of(settings), language)
    prepared = Prepared(settings, reads.version)
    if guess_key is not None and seen is not None and seen[0] == reads.version and \
            guess_key == memory.answer_key(tenant_id, reads.version, language, text, ranking_of(settings)):
        prepared.cache_key, prepared.cached = guess_key, json.loads(reads.cached) if reads.cached else None
    if conversation_id is None:
        return store.unstored_turn(tenant_id, visitor_id, None, text, is_first=True, channel=channel,
                                   user=verified, suggestion=suggestion), prepared
    owner, raw_turns = reads.owner, reads.turns
    mine = {memory.owner_value(tenant_id, visitor_id)}
    if verified is not None:
        mine.add(memory.owner_value(tenant_id, visitor_id, verified.id))
    if owner is not None and owner in mine:
        prepared.turns = memory.parse_turns(raw_turns or [])
        is_first = not prepared.turns
    elif owner is not None:
        raise NotFound("No such conversation for this visitor.")
    else:
        asker = identity.Asker(visitor_id, verified)
        is_first = await store.conversation_owner(tenant_id, conversation_id, asker) == 0
    return store.unstored_turn(tenant_id, visitor_id, conversation_id, text, is_first=is_first,
                               channel=channel, user=verified, suggestion=suggestion), prepared


@dataclass
class _PreparedReads:
    """What `prepare`'s one Redis round trip read; all empty when Redis was unreachable."""

    version: int | None = None
    counts: Counts | None = None
    cached: bytes | None = None
    owner: bytes | None = None
    turns: list[bytes] | None = None

    @classmethod
    def of(cls, replies: Iterator[Any], window: RateWindow, *, cached: bool, turns: bool) -> _PreparedReads:
        """Consume the pipeline's replies in the order `prepare` queued the commands."""
        reads = cls(int(next(replies) or 0), window.read(replies))
        if cached:
            reads.cached = next(replies)
        if turns:
            reads.owner, reads.turns = memory.read_turns(replies)
        return reads


def _wants_model(settings: BotSettings) -> bool:
    return model_choice.wants_model(settings)


def _provider(settings: BotSettings, over_quota: bool) -> Provider:
    """The model provider for this tenant (chat.model_choice); the local responder without one."""
    if not over_quota:
        chosen = model_choice.model_provider(settings)
        if chosen is not None:
            return chosen
    return _LOCAL


_LOCAL = LocalProvider()


def _citations(hits: list[Hit], language: str, used_one: bool) -> list[Citation]:
    """The sources shown: the passage the answer came from first; a model may have used near-ties too."""
    if not hits:
        return []
    first = hits[answer_passage(_passages(hits), language)]
    near = [h for h in hits[:3] if h is not first and h.dense >= hits[0].dense - CITE_WINDOW]
    return [Citation(h.document_id, h.chunk_id, h.source_ref, _cited_metadata(h.metadata))
            for h in ([first] if used_one else [first, *near])]


def _cited_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    url = metadata.get("url")
    return {"url": url} if isinstance(url, str) else {}


def _passages(hits: list[Hit]) -> list[dict[str, Any]]:
    return [hit_result(h) for h in hits]


async def run(turn: store.Turn, *, stream: bool = True, prepared: Prepared | None = None) -> AsyncIterator[ChatEvent]:
    """Answer a customer turn; yields text deltas (if `stream`) and one final event.

    `prepared` comes from `prepare()` (the question is then stored with its answer); without it the
    turn was stored by `accept()` and the settings, cache and turns are read here. How a turn is
    understood (small talk, a request for a person, a question and which query variant finds it,
    a chosen suggestion): docs/chat.md.
    """
    bind_log_context(tenant_id=turn.tenant_id, conversation_id=turn.conversation_id)
    if prepared is None:
        version = await tenant_version(turn.tenant_id)
        prepared = Prepared(await settings_at(turn.tenant_id, version), version)
    settings = prepared.settings
    state = _Run(turn, settings, reply_language(settings.language, turn.text), rehearsal=prepared.rehearsal)
    if turn.is_first:
        turns: list[dict[str, Any]] = []
    elif prepared.turns is not None:
        turns = prepared.turns
    else:
        turns = await memory.recent_turns(turn.tenant_id, turn.conversation_id)
    turns = turns[-8:]
    topic = followups.topic_of(turns)
    if turn.suggestion is not None:
        async for event in _answer_chosen(state, turns, stream):
            yield event
        return
    reading = await dialogue.read(turn.text)
    if reading.kind == dialogue.SMALL_TALK and RECORD_KEY.search(turn.text):
        reading = dialogue.Reading(dialogue.QUESTION)  # an order or booking number is never small talk
    if reading.sure:
        async for event in _not_a_question(state, reading, stream):
            yield event
        return
    # The answer to a question read alone; in a running conversation it is served only when it was
    # answered confidently alone (the conversation could only have chosen another reading below that).
    cache_key = (memory.answer_key(turn.tenant_id, prepared.version, state.language, turn.text,
                                   ranking_of(settings))
                 if prepared.version is not None and not reading.maybe else None)
    cached = None
    if cache_key is not None:
        cached = prepared.cached if cache_key == prepared.cache_key else await memory.cached_answer(cache_key)
    if cached is not None and topic is not None and not (
            cached.get("answered") and cached.get("confidence", 0) >= settings.confidence_threshold):
        cached = None
    if cached is not None:
        result = _from_cache(turn, cached, state.language)
        state.provider_name = "cache"
        state.asked = {"act": dialogue.QUESTION, "query": turn.text}
        state.replied = _entry_note(result.citations[0].source_ref if result.citations else None, cached)
        if stream:
            yield ChatEvent("delta", result.answer)
        yield ChatEvent("final", result=await _finish(state, result))
        return

    async def retriever(query: str) -> list[Hit]:
        with metrics.RETRIEVAL_SECONDS.time():
            return await retrieve(turn.tenant_id, query, 5, version=prepared.version)

    async def is_question(clause: str) -> bool:
        return (await dialogue.read(clause)).kind == dialogue.QUESTION

    choice = await followups.choose(turn.text, topic, retriever, floor=suggestion_floor(settings),
                                    is_question=is_question, threshold=settings.confidence_threshold)
    if reading.maybe and not_answered_as_asked(reading, choice, topic, settings):
        async for event in _not_a_question(state, reading, stream):
            yield event
        return
    if choice.variant != "alone":
        cache_key = None
    hits, score = choice.hits, choice.score
    # The topic a later follow-up is read with keeps the whole message: a clause found the entry,
    # the rest of the message is the context the follow-up leans on.
    state.asked = {"act": dialogue.QUESTION, "query": turn.text if choice.variant == "clause" else choice.query}
    ctx = await load_tool_context(turn.tenant_id, turn.conversation_id, version=prepared.version)
    ctx.hits = list(hits)
    ctx.user_id = turn.user.id if turn.user else None
    # Record lookups are not knowledge questions: never gate them on retrieval.
    bypass_gate = bool(ctx.collections and RECORD_KEY.search(turn.text))

    if score < settings.confidence_threshold and not bypass_gate and not clear_lead(hits, score, settings):
        suggestions = _suggestions(hits) if score >= suggestion_floor(settings) else []
        if suggestions:
            state.replied = {"entry": suggestions[0].source_ref, "entry_question": suggestions[0].question}
            result = ChatResult(turn.conversation_id, uuid.uuid4(), phrase(state.language, "did_you_mean"), [],
                                score, False, False, state.language, fallback_reason="suggested",
                                suggestions=suggestions)
        else:
            result = ChatResult(turn.conversation_id, uuid.uuid4(), phrase(state.language, "dont_know"), [], score,
                                False, False, state.language, fallback_reason="low_confidence")
        if stream:
            yield ChatEvent("delta", result.answer)
        yield ChatEvent("final", result=await _finish(state, result, cache_key))
        return
    async for event in _answer_from(state, ctx, turns, score, stream, cache_key):
        yield event


async def _answer_from(state: _Run, ctx: ToolContext, turns: list[dict[str, Any]], score: float, stream: bool,
                       cache_key: str | None) -> AsyncIterator[ChatEvent]:
    """The provider's answer from the retrieved hits (with tools), or a grounded fallback when it fails."""
    turn, settings = state.turn, state.settings
    over_quota = await tokens_used_this_month(turn.tenant_id) >= settings.monthly_token_quota
    provider = _provider(settings, over_quota)
    state.provider_name = provider.name
    text_parts: list[str] = []
    tool_calls: list[ToolCallRecord] = []
    # Over quota, a tenant that would use a model is served by the local responder instead.
    fallback_reason = "quota" if over_quota and _wants_model(settings) else None
    llm_started = time.perf_counter()
    try:
        async for event in _tool_loop(provider, state, ctx, turns, tool_calls):
            if isinstance(event, TextDelta):
                text_parts.append(event.text)
                if stream:
                    yield ChatEvent("delta", event.text)
        metrics.LLM_SECONDS.labels(provider.name, "ok").observe(time.perf_counter() - llm_started)
    except ProviderError as exc:
        metrics.LLM_SECONDS.labels(provider.name, "error").observe(time.perf_counter() - llm_started)
        log.warning("provider failed; grounded fallback", extra={"tenant_id": str(turn.tenant_id),
                                                                 "error": str(exc)})
        fallback_reason = "provider_error"
        fallback = _grounded_fallback(ctx.hits, score, settings, state.language)
        if stream:
            yield ChatEvent("delta", ("\n" if text_parts else "") + fallback)
        text_parts = [fallback]
    answer = "".join(text_parts).strip() or phrase(state.language, "dont_know")
    handoff = ctx.handoff_reason is not None
    check = None
    if provider is not _LOCAL and fallback_reason is None and not handoff and "".join(text_parts).strip():
        # A model wrote it: check each sentence against what the model was given (chat.grounding).
        draft = answer
        check = await asyncio.to_thread(grounding.check, draft, _evidence(ctx, tool_calls))
        answer = check.answer(settings.grounding_action, _grounded_answer(turn.text, ctx.hits, state.language))
    answered = fallback_reason != "provider_error" and not handoff and answer != phrase(state.language, "dont_know")
    # The local responder answers from one passage, or from a record alone (no passage to show); a
    # model reads all of them.
    from_record = provider is _LOCAL and any(c.name == LOOKUP_RECORD for c in tool_calls)
    cite = answered and not from_record
    citations = _citations(ctx.hits, state.language, provider is _LOCAL and not tool_calls) if cite else []
    if citations:
        used = next(h for h in ctx.hits if h.chunk_id == citations[0].chunk_id)
        state.replied = {"entry": used.source_ref, "entry_question": str(used.metadata.get("question") or "")}
    result = ChatResult(turn.conversation_id, uuid.uuid4(), answer, citations,
                        score, handoff, answered, state.language, tool_calls, fallback_reason)
    result = await _finish(state, result, cache_key if not tool_calls and answered else None)
    if check is not None:
        try:
            await grounding.record(turn.tenant_id, result.message_id, check, settings.grounding_action, turn.text,
                                   draft)
        except Exception:  # the answer stands even if its check cannot be stored
            log.exception("could not store the grounding check", extra={"tenant_id": str(turn.tenant_id)})
    yield ChatEvent("final", result=result)


def _evidence(ctx: ToolContext, tool_calls: list[ToolCallRecord]) -> list[str]:
    """What the model was given to answer from: the retrieved passages and its tools' results."""
    return [h.text for h in ctx.hits] + [json.dumps(c.result, ensure_ascii=False, default=str) for c in tool_calls]


def _grounded_answer(question: str, hits: list[Hit], language: str) -> str:
    """The answer composed from the passages alone, for a model answer the knowledge does not support."""
    return compose_from_passages(question, _passages(hits), language) if hits else phrase(language, "dont_know")


async def _not_a_question(state: _Run, reading: dialogue.Reading, stream: bool) -> AsyncIterator[ChatEvent]:
    """Small talk gets a courtesy reply and no sources; a request for a person hands the conversation over."""
    turn = state.turn
    state.asked = {"act": reading.kind, "form": reading.form}
    tool_calls: list[ToolCallRecord] = []
    if reading.kind == dialogue.HUMAN:
        # The tool only reads who is available now; a rehearsal's hand-off is stored nowhere (`_finish`),
        # so "Try a question" tells the admin what a customer would be told at this moment.
        ctx = await load_tool_context(turn.tenant_id, turn.conversation_id, version=None)
        record = await run_tool(ctx, REQUEST_HUMAN, {"reason": turn.text[:300]})
        tool_calls.append(record)
        answer = phrase(state.language, handoff_phrase(record.result))
    else:
        answer = phrase(state.language, reading.form if reading.form in dialogue.SMALL_TALK_FORMS else "ack")
    result = ChatResult(turn.conversation_id, uuid.uuid4(), answer, [], 1.0, reading.kind == dialogue.HUMAN,
                        False, state.language, tool_calls,
                        fallback_reason="small_talk" if reading.kind == dialogue.SMALL_TALK else None)
    if stream:
        yield ChatEvent("delta", answer)
    yield ChatEvent("final", result=await _finish(state, result))


async def _answer_chosen(state: _Run, turns: list[dict[str, Any]], stream: bool) -> AsyncIterator[ChatEvent]:
    """The customer chose a "did you mean" suggestion: answer from that entry and record the choice."""
    turn = state.turn
    assert turn.suggestion is not None
    hit = await entry_hit(turn.tenant_id, turn.suggestion)
    if hit is None:
        if turn.stored:  # queued: checked when accepted, and the entry has gone since
            async for event in _answer_gone(state, stream):
                yield event
            return
        raise _unknown_suggestion(turn.suggestion)
    question = str(hit.metadata.get("question") or suggestion_question(hit))
    state.chosen = {"source_ref": turn.suggestion, "question": question}
    state.asked = {"act": dialogue.QUESTION, "query": question}
    ctx = await load_tool_context(turn.tenant_id, turn.conversation_id, version=None)
    ctx.hits = [hit]
    ctx.user_id = turn.user.id if turn.user else None
    async for event in _answer_from(state, ctx, turns, confidence([hit]), stream, None):
        yield event


def _unknown_suggestion(source_ref: str) -> ValidationFailed:
    return ValidationFailed(f"suggestion.source_ref {source_ref!r} is not an entry of this knowledge base; "
                            "send one from the reply's suggestions.")


async def _chosen_entry(tenant_id: uuid.UUID, source_ref: str) -> dict[str, str]:
    """The `suggestion_chosen` note for a chosen entry; ValidationFailed when it is not the tenant's."""
    hit = await entry_hit(tenant_id, source_ref)
    if hit is None:
        raise _unknown_suggestion(source_ref)
    return {"source_ref": source_ref, "question": str(hit.metadata.get("question") or suggestion_question(hit))}


async def _answer_gone(state: _Run, stream: bool) -> AsyncIterator[ChatEvent]:
    """A queued choice whose entry was deleted before the worker got to it: say so, offer a person."""
    result = ChatResult(state.turn.conversation_id, uuid.uuid4(), phrase(state.language, "dont_know"), [], 0.0,
                        False, False, state.language, fallback_reason="low_confidence")
    if stream:
        yield ChatEvent("delta", result.answer)
    yield ChatEvent("final", result=await _finish(state, result))


def not_answered_as_asked(reading: dialogue.Reading, choice: followups.Choice, topic: followups.Topic | None,
                          settings: BotSettings) -> bool:
    """Whether an unsure reading (small talk or a request for a person) stands, given the knowledge.

    Small talk: the knowledge does not answer the message as asked, and read with the conversation
    it finds nothing but the entry already answered ("thanks thats helpful" does not repeat it).
    A request for a person (a hand-off is not undone by the next turn): the bot has nothing to
    offer, alone or with the conversation: below the suggestion floor, where it would say it does
    not know and offer a person anyway (a "did you mean" list or a clear lead is a plausible reading
    of the message as a question)."""
    threshold = settings.confidence_threshold
    if reading.kind == dialogue.HUMAN:
        return choice.score < suggestion_floor(settings)
    return choice.alone_score < threshold and (
        choice.score < threshold or (topic is not None and choice.entry == topic.entry))


def clear_lead(hits: list[Hit], score: float, settings: BotSettings) -> bool:
    """Whether a question below the answering threshold is answered anyway: its top entry is good
    enough to be offered (at least the suggestion floor) and leads the next distinct entry by at
    least one unit of the confidence curve (`knowledge.confidence.SCALE`: the top entry's odds are
    then at least e times the runner-up's). A "did you mean" list whose first entry stands out
    that far is what the customer would pick; near ties and a row merely sharing a word with an
    out-of-scope question (small leads) still get the list. The lead must also hold on meaning
    alone: the top entry's dense similarity (centred cosine when centring is on) is above the
    runner-up's, so a lead made only by a shared word (the lexical and overlap parts) is not
    enough. With no runner-up there is no lead to judge (a knowledge base of one entry): the
    threshold alone decides. A tenant that prefers the list switches it off (bot setting
    `answer_clear_lead`).
    """
    if not settings.answer_clear_lead or not hits or score < suggestion_floor(settings):
        return False
    runner_up = next((h for h in hits[1:] if _entry_key(h) != _entry_key(hits[0])), None)
    # The unit of the curve that maps this kind of score (knowledge.confidence): fused centred, plain, reranked.
    unit = curve_of(hits[0])[1]
    return (runner_up is not None and hits[0].score - runner_up.score >= LEAD_UNITS * unit
            and _meaning(hits[0]) > _meaning(runner_up))


def _meaning(hit: Hit) -> float:
    """The dense part of a hit's score: its centred cosine, else the plain one."""
    return hit.centred if hit.centred is not None else hit.dense


def _entry_key(hit: Hit) -> str:
    return hit.source_ref or f"{hit.document_id}:{hit.chunk_id}"


def suggestion_floor(settings: BotSettings) -> float:
    """Below this confidence the bot offers no suggestions: it says it does not know and offers a person."""
    return settings.confidence_threshold * SUGGEST_SHARE


def suggestion_question(hit: Hit) -> str:
    """How an entry is offered: its FAQ question, else its first line."""
    asked = hit.metadata.get("question")
    if asked:
        return str(asked)
    first = hit.text.strip().splitlines()[0] if hit.text.strip() else ""
    return first if len(first) <= 80 else first[:79] + "…"


def _suggestions(hits: list[Hit]) -> list[Suggestion]:
    """Up to three distinct entries (the FAQ questions) to offer as "did you mean"."""
    offered: list[Suggestion] = []
    seen: set[str] = set()
    for hit in hits:
        key = _entry_key(hit)
        if hit.source_ref is None or key in seen:
            continue
        seen.add(key)
        offered.append(Suggestion(hit.source_ref, hit.document_id, hit.chunk_id, suggestion_question(hit)))
        if len(offered) == MAX_SUGGESTIONS:
            break
    return offered


def _from_cache(turn: store.Turn, cached: dict[str, Any], language: str) -> ChatResult:
    return ChatResult(turn.conversation_id, uuid.uuid4(), cached["answer"],
                      [Citation(uuid.UUID(c["document_id"]), c["chunk_id"], c["source_ref"], c.get("metadata") or {})
                       for c in cached["citations"]],
                      cached["confidence"], False, cached["answered"], language,
                      fallback_reason=cached.get("fallback_reason"),
                      suggestions=[Suggestion(s["source_ref"], uuid.UUID(s["document_id"]), s["chunk_id"],
                                              s["question"]) for s in cached.get("suggestions") or []])


def _entry_note(source_ref: str | None, cached: dict[str, Any]) -> dict[str, Any]:
    return {"entry": source_ref, "entry_question": cached.get("entry_question", "")}


async def _tool_loop(provider: Provider, state: _Run, ctx: ToolContext, turns: list[dict[str, Any]],
                     tool_calls: list[ToolCallRecord]) -> AsyncIterator[TextDelta]:
    app = get_settings()
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system_prompt(state.settings.persona, state.language, _passages(ctx.hits))},
        *({"role": t["role"], "content": t["content"]} for t in turns),
        {"role": "user", "content": state.turn.text},
    ]
    specs = tool_specs(ctx)
    for _ in range(app.chat_max_tool_rounds):
        # The model name is the provider's own (chat.model_choice applies the tenant's choice).
        request = CompletionRequest(messages, specs, "",
                                    state.settings.temperature, state.settings.max_tokens,
                                    app.llm_timeout_seconds, state.language, _passages(ctx.hits))
        calls: list[ToolCallRequest] = []
        async for event in provider.complete(request):
            if isinstance(event, TextDelta):
                yield event
            elif isinstance(event, ToolCallRequest):
                calls.append(event)
            elif isinstance(event, Usage):
                state.prompt_tokens += event.prompt_tokens
                state.completion_tokens += event.completion_tokens
                state.model = event.model
                state.provider_name = event.provider or state.provider_name
        if not calls:
            return
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": c.id, "type": "function",
             "function": {"name": c.name, "arguments": json.dumps(c.arguments, ensure_ascii=False)}}
            for c in calls]})
        for call in calls:
            record = await run_tool(ctx, call.name, call.arguments)
            tool_calls.append(record)
            messages.append({"role": "tool", "tool_call_id": call.id,
                             "content": json.dumps(record.result, ensure_ascii=False, default=str)[:8000]})
    # Out of rounds: answer from what was retrieved rather than loop forever.
    yield TextDelta(compose_from_passages(state.turn.text, _passages(ctx.hits), state.language))


def _grounded_fallback(hits: list[Hit], score: float, settings: BotSettings, language: str) -> str:
    if hits and score >= settings.confidence_threshold:
        best = compose_from_passages("", _passages(hits), language)
        return f"{phrase(language, 'error')}\n{best}"
    return phrase(language, "error_nothing")


async def _finish(state: _Run, result: ChatResult, cache_key: str | None = None) -> ChatResult:
    """Store the answer (with its question, if that is not stored yet), then remember the turns and
    cache the answer under `cache_key` in one Redis round trip."""
    turn = state.turn
    latency_ms = int((time.perf_counter() - state.started) * 1000)
    result.customer_message_id = turn.message_id
    if state.rehearsal is not None:
        state.rehearsal += [{**state.asked, "role": "user", "content": turn.text},
                            {**state.replied, "role": "assistant", "content": result.answer}]
        return result
    save = store.save_reply if turn.stored else store.save_exchange
    result.message_id = await save(
        turn, result, provider=state.provider_name, model=state.model, latency_ms=latency_ms,
        prompt_tokens=state.prompt_tokens, completion_tokens=state.completion_tokens)
    if state.chosen is not None:
        await store.record_suggestion_chosen(turn, state.chosen["source_ref"], state.chosen["question"])
    await memory.remember_turns(turn.tenant_id, turn.visitor_id, turn.conversation_id, turn.text, result.answer,
                                (cache_key, {**_cacheable(result), **state.replied}) if cache_key is not None else None,
                                user_id=turn.user.id if turn.user else None, asked=state.asked, replied=state.replied)
    if result.handoff:  # the conversation now waits in the agent inbox (migration 0019's trigger)
        await announce_handoff(turn.tenant_id, turn.conversation_id, store.handoff_reason(result), "bot")
        await notifications.emit(turn.tenant_id, "handoff.requested", {
            "conversation_id": str(turn.conversation_id), "reason": store.handoff_reason(result), "source": "bot",
            "language": result.language, "question": turn.text, "message_id": str(result.message_id)})
    outcome = "handoff" if result.handoff else "answered" if result.answered else result.fallback_reason or "fallback"
    metrics.CHAT_ANSWERS.labels(outcome, state.provider_name).inc()
    metrics.CHAT_SECONDS.labels(state.provider_name).observe(latency_ms / 1000)
    if state.prompt_tokens or state.completion_tokens:
        metrics.LLM_TOKENS.labels(state.provider_name, "prompt").inc(state.prompt_tokens)
        metrics.LLM_TOKENS.labels(state.provider_name, "completion").inc(state.completion_tokens)
    return result


def _cacheable(result: ChatResult) -> dict[str, Any]:
    return {"answer": result.answer, "citations": [c.as_dict() for c in result.citations],
            "confidence": result.confidence, "answered": result.answered, "fallback_reason": result.fallback_reason,
            "suggestions": [s.as_dict() for s in result.suggestions]}


async def rehearse(tenant_id: uuid.UUID, messages: list[str]) -> list[ChatResult]:
    """What the live bot answers to each of `messages`, asked in order in one conversation, storing
    nothing: the same reading, retrieval, gate and provider as `run` (the admin's "Try a question")."""
    version = await tenant_version(tenant_id)
    settings = await settings_at(tenant_id, version)
    turns: list[dict[str, Any]] = []
    conversation_id = uuid.uuid4()
    results: list[ChatResult] = []
    for message in messages:
        text = validate_message(message)
        turn = store.unstored_turn(tenant_id, "admin-try", conversation_id, text, is_first=not turns,
                                   channel="try")
        prepared = Prepared(settings, version, turns=list(turns), rehearsal=turns)
        async for event in run(turn, stream=False, prepared=prepared):
            if event.kind == "final" and event.result is not None:
                results.append(event.result)
    return results


async def answer(tenant_id: uuid.UUID, message: str, *, visitor_id: str, conversation_id: uuid.UUID | None = None,
                 channel: str = "widget", user: UserClaim | None = None, address: str | None = None,
                 suggestion: str | None = None) -> ChatResult:
    """Check and answer in one call (the HTTP request/response path)."""
    turn, prepared = await prepare(tenant_id, message, visitor_id=visitor_id, conversation_id=conversation_id,
                                   channel=channel, user=user, address=address, suggestion=suggestion)
    final: ChatResult | None = None
    async for event in run(turn, stream=False, prepared=prepared):
        if event.kind == "final":
            final = event.result
    assert final is not None
    return final
