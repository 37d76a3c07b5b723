"""Every user-visible write of the chat domain, whole: validate, store, enqueue, bump the tenant's version.

The API, the admin app and the CLI call these, so a change reaches answers the same way whichever
door it came through: bot settings and tenant HTTP tools change what the bot says (and the tools
the model is offered), so each bumps the version that keys cached answers and settings. A question
the customer waits for is answered in the request by `chat.engine`; a queued one is stored here and
answered by the `chat` worker.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from chat import engine, handoff, http_tool_specs, identity, model_choice, service_hours, store, voice, webhooks
from chat.audio import AudioClip, inspect_audio
from chat.bot_settings import URL_FIELDS, BotSettings, check_base_url, load_bot_settings, write_bot_settings
from chat.limits import check_rate_limits
from chat.service_hours import ServiceSettings
from chat.tasks import answer_message
from chat.types import ChatResult
from core import audit
from core.audit import Actor
from core.blobstore import get_blob_store
from core.db import tenant_session, tenant_session_sync
from core.errors import ValidationFailed
from core.identity import UserClaim
from core.jobs import enqueue
from core.settings import get_settings
from core.versions import bump_tenant_version_sync
from knowledge import evaluation, reranker, reranker_settings
from knowledge.thresholds import ThresholdReport

log = logging.getLogger(__name__)


async def ask_queued(tenant_id: uuid.UUID, message: str, *, visitor_id: str, conversation_id: uuid.UUID | None,
                     channel: str = "widget", user: UserClaim | None = None,
                     address: str | None = None, suggestion: str | None = None) -> store.Turn:
    """Store a customer's question as pending and queue its answer for the `chat` worker.

    `suggestion`: the source_ref of a "did you mean" entry the customer chose (answered from it).

    If the queue cannot take it, the question is marked failed (never left pending) and the
    customer is asked to send it again.
    """
    turn = await engine.accept(tenant_id, message, visitor_id=visitor_id, conversation_id=conversation_id,
                               channel=channel, user=user, address=address, suggestion=suggestion)
    await queue_answer(turn)
    return turn


async def hand_to_person(tenant_id: uuid.UUID, message: str, *, visitor_id: str, conversation_id: uuid.UUID | None,
                         user: UserClaim | None = None) -> handoff.HeldMessage | None:
    """A message in a conversation a person holds (or is about to): stored for them and pushed to the
    inbox, with no bot answer. None when the bot answers it as usual (chat.handoff)."""
    if conversation_id is None:
        return None
    text = engine.validate_message(message)
    verified = await identity.verify(tenant_id, user)
    return await handoff.hold_for_human(tenant_id, text, visitor_id=visitor_id, conversation_id=conversation_id,
                                        user=verified)


@dataclass(frozen=True)
class VoiceQuestion:
    """A spoken question: what was heard, and the bot's answer (or the hold when a person has the conversation)."""

    transcript: str
    seconds: float
    answer: ChatResult | None = None
    held: handoff.HeldMessage | None = None


async def ask_by_voice(tenant_id: uuid.UUID, audio: bytes, *, visitor_id: str, conversation_id: uuid.UUID | None,
                       user: UserClaim | None = None, address: str | None = None,
                       language: str | None = None) -> VoiceQuestion:
    """Check the recording, transcribe it, and answer the transcript as if it had been typed.

    Refused before any transcription: voice not set up (503), bad audio (413/415/422), rate limits
    (429, the same limits as typed messages: a spoken question counts once here and once when its
    transcript is answered). The transcript goes through `hand_to_person` and the engine like a
    typed message; afterwards the recording is kept under the conversation and noted on the message.
    """
    settings = await engine.settings_for(tenant_id)
    config = voice.require_config(settings)
    app = get_settings()
    clip = await asyncio.to_thread(inspect_audio, audio, max_seconds=app.voice_max_seconds,
                                   max_bytes=app.voice_max_bytes)
    await check_rate_limits(tenant_id, visitor_id, engine.limits_of(settings), language or "en", address)
    transcript = await voice.transcribe(config, clip, language)
    held = await hand_to_person(tenant_id, transcript, visitor_id=visitor_id, conversation_id=conversation_id,
                                user=user)
    if held is not None:
        await _keep_recording(tenant_id, held.conversation_id, held.message_id, clip)
        return VoiceQuestion(transcript, clip.seconds, held=held)
    result = await engine.answer(tenant_id, transcript, visitor_id=visitor_id, conversation_id=conversation_id,
                                 user=user, address=address)
    if result.customer_message_id is not None:
        await _keep_recording(tenant_id, result.conversation_id, result.customer_message_id, clip)
    return VoiceQuestion(transcript, clip.seconds, answer=result)


async def _keep_recording(tenant_id: uuid.UUID, conversation_id: uuid.UUID, message_id: uuid.UUID,
                          clip: AudioClip) -> None:
    """Keep the recording beside its message; the answer stands even if the blob store fails."""
    key = voice.audio_key(tenant_id, conversation_id, message_id, clip)
    try:
        await asyncio.to_thread(get_blob_store().put, key, clip.data)
    except Exception:  # a lost recording must not lose the customer's answer
        log.exception("voice recording not kept", extra={"tenant_id": str(tenant_id)})
        return
    await store.record_voice(tenant_id, message_id, {"audio_key": key, "seconds": round(clip.seconds, 2),
                                                     "container": clip.container, "codec": clip.codec,
                                                     "bytes": len(clip.data)})


async def queue_answer(turn: store.Turn) -> None:
    """Queue the answer to a question stored as pending (`engine.accept`); marked failed if the queue is down."""
    await enqueue(answer_message, str(turn.tenant_id), str(turn.message_id),
                  unavailable="The answer queue is unreachable; send the message again shortly.",
                  on_failure=lambda: store.mark_failed(
                      turn, "The answer queue was unreachable; the customer was asked to send it again."))


def save_bot_settings(tenant_id: uuid.UUID, changes: dict[str, Any], *, actor: Actor | None = None) -> BotSettings:
    """Validate and store bot settings; refused values leave everything as it was.

    A model `base_url` must resolve to addresses the SSRF guard allows (checked again at each call).
    """
    for name in URL_FIELDS:
        if isinstance(changes.get(name), str) and changes[name].strip():
            model_choice.check_destination(name, check_base_url(name, changes[name]) or "")
    if isinstance(changes.get("reranker_url"), str) and changes["reranker_url"].strip():
        reranker_settings.check_destination(reranker_settings.check_url(changes["reranker_url"]) or "")
    with tenant_session_sync(tenant_id) as session:
        updated = write_bot_settings(session, tenant_id, changes)
        audit.record(session, tenant_id, actor, "settings.bot", "bot settings", {"changed": sorted(changes)})
    bump_tenant_version_sync(tenant_id)  # cached answers and settings reflect the old values
    return updated


def apply_recommended_threshold(tenant_id: uuid.UUID, run_id: uuid.UUID, target_precision: float, *,
                                actor: Actor | None = None) -> tuple[BotSettings, ThresholdReport]:
    """Set the bot's confidence threshold to the one an evaluation run recommends for a target precision."""
    with tenant_session_sync(tenant_id) as session:
        found = evaluation.threshold_report(session, tenant_id, run_id, target_precision)
    if found.recommended is None:
        raise ValidationFailed(found.reason)
    with tenant_session_sync(tenant_id) as session:
        updated = write_bot_settings(session, tenant_id, {"confidence_threshold": found.recommended})
        audit.record(session, tenant_id, actor, "settings.bot", "bot settings",
                     {"changed": ["confidence_threshold"], "evaluation_run": str(run_id),
                      "target_precision": target_precision})
    bump_tenant_version_sync(tenant_id)  # cached answers were decided at the old threshold
    return updated, found


CONNECTION_SLOTS = ("primary", "fallback", "transcription", "reranker")


async def test_model_connection(tenant_id: uuid.UUID, slot: str = "primary") -> model_choice.ConnectionCheck:
    """Try the tenant's saved endpoint for `slot`: one short reply from the model (primary or fallback),
    a test tone through its speech-to-text endpoint (transcription), two passages ranked by its
    reranker (reranker: the tenant's own, else the operator's; also while it is switched off); or why it failed."""
    if slot not in CONNECTION_SLOTS:
        raise ValidationFailed(f"slot must be one of {', '.join(CONNECTION_SLOTS)}.")
    async with tenant_session(tenant_id) as session:
        settings = await load_bot_settings(session, tenant_id)
    if slot == "transcription":
        return await voice.check_connection(settings)
    if slot == "reranker":
        found = await reranker.check_connection(reranker.resolve(replace(settings.reranker, enabled=True)))
        return model_choice.ConnectionCheck(found.ok, "reranker", found.model, found.latency_ms, found.reply,
                                            found.error)
    return await model_choice.check_connection(settings, slot)


def create_http_tool(tenant_id: uuid.UUID, spec: Mapping[str, Any], *, actor: Actor | None = None) -> dict[str, Any]:
    """Define a tenant HTTP tool; returns what admins may see of it (never the secret's value)."""
    with tenant_session_sync(tenant_id) as session:
        view = http_tool_specs.tool_view(http_tool_specs.create_http_tool(session, tenant_id, spec))
        audit.record(session, tenant_id, actor, "tools.create", str(view.get("name")))
    bump_tenant_version_sync(tenant_id)  # the model's tool list changed
    return view


def delete_http_tool(tenant_id: uuid.UUID, name: str, *, actor: Actor | None = None) -> None:
    with tenant_session_sync(tenant_id) as session:
        http_tool_specs.delete_http_tool(session, tenant_id, name)
        audit.record(session, tenant_id, actor, "tools.delete", name)
    bump_tenant_version_sync(tenant_id)


def save_service_settings(tenant_id: uuid.UUID, changes: dict[str, Any], *,
                          actor: Actor | None = None) -> ServiceSettings:
    """Validate and store office hours, time zone and hand-off emails; refused values change nothing."""
    with tenant_session_sync(tenant_id) as session:
        updated = service_hours.write(session, tenant_id, changes)
        audit.record(session, tenant_id, actor, "settings.service", "office hours and notifications",
                     {"changed": sorted(changes)})
    return updated


def create_webhook(tenant_id: uuid.UUID, url: object, events: object, *, actor: Actor | None = None) -> dict[str, Any]:
    """Register a webhook; the result carries its signing secret, shown this once."""
    with tenant_session_sync(tenant_id) as session:
        view = webhooks.create_webhook(session, tenant_id, url, events)
        audit.record(session, tenant_id, actor, "webhooks.create", view["url"], {"events": view["events"]})
    return view


def delete_webhook(tenant_id: uuid.UUID, webhook_id: uuid.UUID, *, actor: Actor | None = None) -> None:
    with tenant_session_sync(tenant_id) as session:
        url = webhooks.delete_webhook(session, tenant_id, webhook_id)
        audit.record(session, tenant_id, actor, "webhooks.delete", url)
