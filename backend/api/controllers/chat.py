"""Customer chat over HTTP and WebSocket, authenticated by the public widget key.

Three ways in, one engine: request/response, streamed over a WebSocket, or queued to the `chat`
worker (202 at once; the answer arrives over pub/sub on any replica's socket, or by polling).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, WebSocket, get, post, websocket
from litestar.datastructures import UploadFile
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromPath, HeaderParameter, JSONBody, MultipartBody, QueryParameter

from backend.api.chat_frames import final_frame, http_answer, socket_frame
from backend.api.client_address import client_address
from backend.api.request_limits import read_socket_frame
from backend.api.widget_auth import CurrentWidget, resolve_widget
from backend.api.widget_identity import USER_HASH_HEADER, USER_ID_HEADER, UserIn, asker_from, claim_of, header_asker
from chat import commands, contact, conversations, engine, events, idempotency
from core.errors import KefuError, ValidationFailed
from core.identity import parse_claim

IdempotencyKey = Annotated[str | None, HeaderParameter(
    name="Idempotency-Key", required=False,
    description="A unique value per question (a UUID); a resend with the same key never stores the question twice.")]


@dataclass
class SuggestionIn:
    source_ref: str  # one of the previous reply's `suggestions`


@dataclass
class ChatIn:
    message: str
    conversation_id: uuid.UUID | None = None
    visitor_id: str | None = None
    user: UserIn | None = None  # a signed-in user vouched for by the site (docs/widget.md)
    suggestion: SuggestionIn | None = None  # a "did you mean" suggestion the customer chose


def _chosen(raw: Any) -> str | None:
    """The source_ref of a chosen suggestion (`{"source_ref": ...}`), checked."""
    if raw is None:
        return None
    ref = raw.source_ref if isinstance(raw, SuggestionIn) else raw.get("source_ref") if isinstance(raw, dict) else None
    if not isinstance(ref, str) or not ref.strip() or len(ref) > 500:
        raise ValidationFailed('suggestion must be {"source_ref": "<a source_ref from the reply\'s suggestions>"}.')
    return ref.strip()


@dataclass
class VoiceIn:
    """A spoken question: the recording in `file` (WebM/Ogg Opus, WAV, MP3, M4A or FLAC; at most 60 s, 10 MB)."""

    file: UploadFile | None = None
    visitor_id: str | None = None
    conversation_id: str | None = None
    language: str | None = None  # zh | en: a hint for speech recognition (the widget's language)


@dataclass
class FeedbackIn:
    rating: int
    visitor_id: str | None = None
    comment: str | None = None
    user: UserIn | None = None


@dataclass
class CsatIn:
    score: int
    visitor_id: str | None = None
    user: UserIn | None = None


@dataclass
class ContactIn:
    email: str | None = None
    phone: str | None = None
    visitor_id: str | None = None
    user: UserIn | None = None


@dataclass
class HandoffIn:
    visitor_id: str | None = None
    reason: str | None = None
    user: UserIn | None = None


class ChatController(Controller):
    path = "/api/v1/chat"
    tags = ["chat"]

    @post("/", status_code=200, summary="Ask a question (answer in the response, or 202 with mode=queued)",
          description="Send the same `Idempotency-Key` again after a lost response: the question is stored "
                      "once and the first response comes back (with `Idempotent-Replayed: true`).")
    async def chat(self, request: Request[Any, Any, Any], widget: CurrentWidget, data: JSONBody[ChatIn],
                   mode: Annotated[str, QueryParameter(required=False)] = "sync",
                   idempotency_key: IdempotencyKey = None) -> Response[dict[str, Any]]:
        if mode not in ("sync", "queued"):
            raise ValidationFailed("mode must be 'sync' or 'queued'.")
        held = await idempotency.claim(widget.tenant_id, idempotency_key, {
            "mode": mode, "message": data.message, "conversation_id": data.conversation_id,
            "visitor_id": data.visitor_id, "user": data.user.id if data.user else None})
        if isinstance(held, idempotency.Stored):
            return Response(held.body, status_code=held.status, headers={"Idempotent-Replayed": "true"})
        try:
            status, body = await self._ask(request, widget, data, mode)
        except BaseException:
            if held is not None:
                await idempotency.release(held)
            raise
        if held is not None:
            await idempotency.finish(held, status, body)
        return Response(body, status_code=status)

    @staticmethod
    async def _ask(request: Request[Any, Any, Any], widget: Any, data: ChatIn, mode: str) -> tuple[int, dict[str, Any]]:
        visitor_id = conversations.check_visitor_id(data.visitor_id or conversations.new_visitor_id())
        user = parse_claim(claim_of(data.user))
        held = await commands.hand_to_person(widget.tenant_id, data.message, visitor_id=visitor_id,
                                             conversation_id=data.conversation_id, user=user)
        if held is not None:  # a person holds the conversation: the bot stays silent
            return 202, held.public(visitor_id)
        address = client_address(request)
        if mode == "queued":
            turn = await commands.ask_queued(widget.tenant_id, data.message, visitor_id=visitor_id,
                                             conversation_id=data.conversation_id, user=user, address=address,
                                             suggestion=_chosen(data.suggestion))
            return 202, {"conversation_id": str(turn.conversation_id), "message_id": str(turn.message_id),
                         "status": "pending", "visitor_id": visitor_id}
        result = await engine.answer(widget.tenant_id, data.message, visitor_id=visitor_id,
                                     conversation_id=data.conversation_id, user=user, address=address,
                                     suggestion=_chosen(data.suggestion))
        return 200, {**http_answer(result), "visitor_id": visitor_id}

    @post("/audio", status_code=200, summary="Ask by voice: the recording is transcribed and answered",
          description="Multipart form: `file` (the recording: WebM or Ogg with Opus, WAV, MP3, M4A or FLAC; at most "
                      "60 seconds and 10 MB), `visitor_id`, `conversation_id`, `language` (zh|en, a hint). Answers "
                      "like `POST /api/v1/chat` plus `transcript` (202 with `status: with_agent` while a person "
                      "holds the conversation). 409 when no speech-to-text endpoint is configured "
                      "(`GET /api/v1/widget/config` says `voice.available: false`), 503 when it fails; 413/415/422 "
                      "for a recording that is too large, not audio, in another codec, empty or too long. A "
                      "signed-in user is sent in the X-Kefu-User-Id and X-Kefu-User-Hash headers.")
    async def ask_by_voice(self, request: Request[Any, Any, Any], widget: CurrentWidget,
                           data: MultipartBody[VoiceIn]) -> Response[dict[str, Any]]:
        upload = data.file
        if upload is None or not hasattr(upload, "read"):
            raise ValidationFailed("Send the recording as a multipart form field named 'file'.")
        if data.language not in (None, "", "zh", "en"):
            raise ValidationFailed("language must be 'zh' or 'en' (or left out).")
        try:
            conversation_id = uuid.UUID(data.conversation_id) if data.conversation_id else None
        except ValueError as exc:
            raise ValidationFailed("conversation_id must be a UUID.") from exc
        visitor_id = conversations.check_visitor_id(data.visitor_id or conversations.new_visitor_id())
        user_id, user_hash = request.headers.get(USER_ID_HEADER), request.headers.get(USER_HASH_HEADER)
        if (user_id is None) != (user_hash is None):
            raise ValidationFailed("Send both X-Kefu-User-Id and X-Kefu-User-Hash, or neither.")
        user = parse_claim({"id": user_id, "hash": user_hash} if user_id is not None else None)
        asked = await commands.ask_by_voice(widget.tenant_id, await upload.read(), visitor_id=visitor_id,
                                            conversation_id=conversation_id, user=user,
                                            address=client_address(request), language=data.language or None)
        if asked.held is not None:
            return Response({**asked.held.public(visitor_id), "transcript": asked.transcript}, status_code=202)
        assert asked.answer is not None
        return Response({**http_answer(asked.answer), "visitor_id": visitor_id, "transcript": asked.transcript})

    @get("/conversations", summary="A signed-in user's conversations, newest first (any device)")
    async def list_conversations(self, request: Request[Any, Any, Any], widget: CurrentWidget,
                                 limit: Annotated[int, QueryParameter(required=False)] = 20) -> dict[str, Any]:
        asker = await header_asker(request, widget, None)
        return await conversations.user_conversations(widget.tenant_id, asker, limit)

    @get("/messages/{message_id:uuid}", summary="A message and, for a question, its answer")
    async def get_message(self, request: Request[Any, Any, Any], widget: CurrentWidget,
                          message_id: FromPath[uuid.UUID],
                          visitor_id: Annotated[str | None, QueryParameter(required=False)] = None) -> dict[str, Any]:
        return await conversations.message_status(widget.tenant_id, message_id,
                                                  await header_asker(request, widget, visitor_id))

    @get("/conversations/{conversation_id:uuid}/messages",
         summary="The conversation so far (by visitor id, or by a signed-in user's X-Kefu-User-Id/-Hash)")
    async def get_history(self, request: Request[Any, Any, Any], widget: CurrentWidget,
                          conversation_id: FromPath[uuid.UUID],
                          visitor_id: Annotated[str | None, QueryParameter(required=False)] = None) -> dict[str, Any]:
        return await conversations.history(widget.tenant_id, conversation_id,
                                           await header_asker(request, widget, visitor_id))

    @post("/messages/{message_id:uuid}/feedback", status_code=200, summary="Thumbs up (1) or down (-1)")
    async def feedback(self, widget: CurrentWidget, message_id: FromPath[uuid.UUID],
                       data: JSONBody[FeedbackIn]) -> dict[str, str]:
        asker = await asker_from(widget, data.visitor_id, claim_of(data.user))
        await conversations.rate_message(widget.tenant_id, message_id, asker, data.rating, data.comment)
        return {"status": "recorded"}

    @post("/conversations/{conversation_id:uuid}/csat", status_code=200, summary="Satisfaction score 1-5")
    async def csat(self, widget: CurrentWidget, conversation_id: FromPath[uuid.UUID],
                   data: JSONBody[CsatIn]) -> dict[str, str]:
        asker = await asker_from(widget, data.visitor_id, claim_of(data.user))
        await conversations.rate_conversation(widget.tenant_id, conversation_id, asker, data.score)
        return {"status": "recorded"}

    @post("/conversations/{conversation_id:uuid}/handoff", status_code=200, summary="Ask for a human")
    async def handoff(self, widget: CurrentWidget, conversation_id: FromPath[uuid.UUID],
                      data: JSONBody[HandoffIn]) -> dict[str, Any]:
        asker = await asker_from(widget, data.visitor_id, claim_of(data.user))
        state = await conversations.request_human(widget.tenant_id, conversation_id, asker, data.reason)
        return {"status": "handed_off", "inbox": state.public(), **await contact.availability(widget.tenant_id)}

    @post("/conversations/{conversation_id:uuid}/contact", status_code=200,
          summary="Leave an email or phone number for a reply when no one can answer now")
    async def leave_contact(self, widget: CurrentWidget, conversation_id: FromPath[uuid.UUID],
                            data: JSONBody[ContactIn]) -> dict[str, Any]:
        asker = await asker_from(widget, data.visitor_id, claim_of(data.user))
        return await contact.leave_contact(widget.tenant_id, conversation_id, asker, data.email, data.phone)


@websocket("/api/v1/chat/ws")
async def chat_socket(socket: WebSocket[Any, Any, Any]) -> None:
    """Client frames: {"type": "message", "message", "conversation_id"?, "visitor_id"?, "mode"?: "stream"|"queued",
    "user"?: {"id", "hash", "name"?, "email"?, "details_hash"?}}.

    Server frames: {"type": "delta", "text"}…, then {"type": "final", conversation_id, message_id, answer,
    citations, confidence, handoff}; {"type": "accepted", message_id} for queued messages;
    {"type": "error", "status", "detail"} for a refused message (the socket stays open).
    """
    try:
        widget = await resolve_widget(socket)
    except KefuError as exc:
        await socket.close(code=4401 if exc.status_code == 401 else 4403, reason=exc.detail[:120])
        return
    await socket.accept()
    subscriptions: dict[str, asyncio.Queue[dict[str, Any]]] = {}
    forwarder: set[asyncio.Task[None]] = set()

    async def relay_to_socket(queue: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            await socket.send_json(socket_frame(await queue.get()))

    try:
        while True:
            raw = await socket.receive_data(mode="text")
            try:
                incoming = read_socket_frame(raw)  # a bad frame gets an error frame, not a closed socket
                widget = await resolve_widget(socket)  # a key revoked mid-conversation stops at once
                await _handle_frame(socket, widget, incoming, subscriptions, forwarder, relay_to_socket)
            except KefuError as exc:
                await socket.send_json({"type": "error", "status": exc.status_code, "detail": exc.detail})
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        for task in forwarder:
            task.cancel()
        for conversation_id, queue in subscriptions.items():
            with contextlib.suppress(Exception):
                await events.relay.unsubscribe(conversation_id, queue)


async def _handle_frame(socket: WebSocket[Any, Any, Any], widget: Any, incoming: Any,
                        subscriptions: dict[str, asyncio.Queue[dict[str, Any]]], forwarder: set[asyncio.Task[None]],
                        relay_to_socket: Any) -> None:
    kind = incoming.get("type", "message") if isinstance(incoming, dict) else None
    if kind not in ("message", "subscribe"):
        raise ValidationFailed('Send {"type": "message", "message": "..."} '
                               '(or {"type": "subscribe", "conversation_id": "..."} to follow a conversation).')
    visitor_id = conversations.check_visitor_id(incoming.get("visitor_id") or conversations.new_visitor_id())
    raw_conversation = incoming.get("conversation_id")
    try:
        conversation_id = uuid.UUID(str(raw_conversation)) if raw_conversation else None
    except ValueError as exc:
        raise ValidationFailed("conversation_id must be a UUID.") from exc

    async def follow(conversation: uuid.UUID) -> None:
        """Relay the conversation's events (queued answers, an agent's messages) to this socket."""
        if str(conversation) not in subscriptions:
            queue = await events.relay.subscribe(conversation)
            subscriptions[str(conversation)] = queue
            forwarder.add(asyncio.create_task(relay_to_socket(queue)))

    user = parse_claim(incoming.get("user"))
    if kind == "subscribe":  # a reloaded page follows its conversation again (agent replies, queue place)
        if conversation_id is None:
            raise ValidationFailed("subscribe needs the conversation_id.")
        asker = await asker_from(widget, visitor_id, incoming.get("user"))
        state = await conversations.inbox_status(widget.tenant_id, conversation_id, asker)
        await follow(conversation_id)
        await socket.send_json({"type": "subscribed", "conversation_id": str(conversation_id), "inbox": state})
        return
    mode = incoming.get("mode", "stream")
    if mode not in ("stream", "queued"):
        raise ValidationFailed("mode must be 'stream' or 'queued'.")
    text = str(incoming.get("message") or "")
    held = await commands.hand_to_person(widget.tenant_id, text, visitor_id=visitor_id,
                                         conversation_id=conversation_id, user=user)
    if held is not None:  # a person holds the conversation: stored for them, no bot answer
        await follow(held.conversation_id)
        await socket.send_json({"type": "accepted", **held.public(visitor_id)})
        return
    if mode == "stream":
        turn, prepared = await engine.prepare(widget.tenant_id, text, visitor_id=visitor_id,
                                              conversation_id=conversation_id, user=user,
                                              address=client_address(socket),
                                              suggestion=_chosen(incoming.get("suggestion")))
        await follow(turn.conversation_id)  # before the answer: a hand-off's queue place and agent arrive here
        async for event in engine.run(turn, stream=True, prepared=prepared):
            if event.kind == "delta":
                await socket.send_json({"type": "delta", "text": event.text})
            elif event.result is not None:
                await socket.send_json({**final_frame(event.result, turn.message_id), "visitor_id": visitor_id})
        return
    turn = await engine.accept(widget.tenant_id, text, visitor_id=visitor_id, conversation_id=conversation_id,
                               user=user, address=client_address(socket),
                               suggestion=_chosen(incoming.get("suggestion")))
    await follow(turn.conversation_id)
    await commands.queue_answer(turn)
    await socket.send_json({"type": "accepted", "message_id": str(turn.message_id),
                            "conversation_id": str(turn.conversation_id), "visitor_id": visitor_id})
