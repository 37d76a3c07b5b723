"""The agent inbox over HTTP and a WebSocket: list hand-offs, take one, reply, resolve, hand back;
canned responses; live events for the agents' page (served at /inbox, backend.api.inbox_page)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Response, WebSocket, delete, get, post, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromPath, JSONBody, QueryParameter

from backend.api.auth import CurrentPrincipal, principal_for, requires
from chat import canned, events, handoff, inbox, inbox_view, presence
from core.errors import KefuError, NotAuthenticated, PermissionDenied
from core.security import role_allows

log = logging.getLogger(__name__)
AUTH_TIMEOUT_SECONDS = 10
PING_SECONDS = 25
RENEW_SECONDS = 5  # a client sending frames faster than this renews its presence no more often


@dataclass
class UsedEntryIn:
    source_ref: str  # one of agent assist's entries


@dataclass
class ReplyIn:
    text: str
    client_ref: str | None = None  # the page's id for this reply: a retry with the same one is stored once
    used_entry: UsedEntryIn | None = None  # the agent-assist entry the reply was written from


@dataclass
class CannedIn:
    shortcut: str
    text: str


class InboxController(Controller):
    path = "/api/v1/inbox"
    tags = ("inbox",)
    guards = [requires("agent")]

    @get("/", summary="Conversations waiting for a person, open (held by an agent) or resolved")
    async def list_inbox(
        self,
        principal: CurrentPrincipal,
        status: Annotated[str, QueryParameter(required=False)] = "waiting",
        mine: Annotated[bool, QueryParameter(required=False)] = False,
        limit: Annotated[int, QueryParameter(required=False)] = 50,
        offset: Annotated[int, QueryParameter(required=False)] = 0,
    ) -> dict[str, Any]:
        return await inbox.list_inbox(
            principal.tenant_id, status, limit=limit, offset=offset, assignee_id=principal.user_id if mine else None
        )

    @get("/{conversation_id:uuid}", summary="A conversation: transcript with sources and confidence, agent assist")
    async def detail(self, principal: CurrentPrincipal, conversation_id: FromPath[uuid.UUID]) -> dict[str, Any]:
        return await inbox_view.conversation_detail(principal.tenant_id, conversation_id)

    @post("/{conversation_id:uuid}/assign", status_code=200, summary="Take the conversation (409 if taken)")
    async def assign(self, principal: CurrentPrincipal, conversation_id: FromPath[uuid.UUID]) -> dict[str, Any]:
        return await inbox.assign(await inbox.agent_of(principal), conversation_id)

    @post("/{conversation_id:uuid}/messages", status_code=201, summary="Reply to the customer")
    async def reply(
        self, principal: CurrentPrincipal, conversation_id: FromPath[uuid.UUID], data: JSONBody[ReplyIn]
    ) -> Response[dict[str, Any]]:
        agent = await inbox.agent_of(principal)
        used = data.used_entry.source_ref if data.used_entry is not None else None
        message_id, stored = await inbox.reply(agent, conversation_id, data.text, data.client_ref, used)
        body = {"message_id": str(message_id), "duplicate": not stored, "agent_name": agent.name}
        return Response(body, status_code=201 if stored else 200)

    @post("/{conversation_id:uuid}/resolve", status_code=200, summary="Resolved: the bot answers again")
    async def resolve(self, principal: CurrentPrincipal, conversation_id: FromPath[uuid.UUID]) -> dict[str, Any]:
        return await inbox.resolve(await inbox.agent_of(principal), conversation_id)

    @post("/{conversation_id:uuid}/release", status_code=200, summary="Hand back to the bot, unresolved")
    async def release(self, principal: CurrentPrincipal, conversation_id: FromPath[uuid.UUID]) -> dict[str, Any]:
        return await inbox.release(await inbox.agent_of(principal), conversation_id)


class CannedController(Controller):
    path = "/api/v1/canned-responses"
    tags = ("inbox",)

    @get("/", guards=[requires("agent")], summary="The tenant's canned responses (typed as /shortcut)")
    async def list_canned(self, principal: CurrentPrincipal) -> dict[str, Any]:
        return await canned.list_canned(principal.tenant_id)

    @post("/", status_code=201, guards=[requires("admin")], summary="Add a canned response")
    async def add_canned(self, principal: CurrentPrincipal, data: JSONBody[CannedIn]) -> dict[str, Any]:
        return await canned.add_canned(principal.tenant_id, data.shortcut, data.text)

    @delete("/{canned_id:uuid}", status_code=204, guards=[requires("admin")], summary="Delete a canned response")
    async def delete_canned(self, principal: CurrentPrincipal, canned_id: FromPath[uuid.UUID]) -> None:
        await canned.delete_canned(principal.tenant_id, canned_id)


@websocket("/api/v1/inbox/ws")
async def inbox_socket(socket: WebSocket[Any, Any, Any]) -> None:
    """Live events of the caller's tenant inbox. The first frame authenticates (browsers cannot set
    headers on a WebSocket, and a token in the URL would land in access logs):
    {"type": "auth", "token": "<login token or API key>"} → {"type": "ready"}; then the server sends
    {"type": "handoff" | "customer_message" | "agent_message" | "assigned" | "resolved" | "released", …}
    and {"type": "ping"} every 25 s. While a signed-in user's socket is open they count as an agent
    online (chat.presence); the page keeps that alive with {"type": "heartbeat"} frames.
    """
    await socket.accept()
    try:
        raw = await asyncio.wait_for(socket.receive_data(mode="text"), AUTH_TIMEOUT_SECONDS)
        frame = json.loads(raw) if len(raw) < 4096 else None
        if not isinstance(frame, dict) or frame.get("type") != "auth" or not isinstance(frame.get("token"), str):
            raise NotAuthenticated('Send {"type": "auth", "token": "<login token>"} first.')
        principal = await principal_for(frame["token"])
        if not role_allows(principal.role, "agent"):
            raise PermissionDenied(f"The inbox needs the agent role; you are {principal.role}.")
    except (KefuError, ValueError, TimeoutError) as exc:
        detail = exc.detail if isinstance(exc, KefuError) else "Send the auth frame first, as JSON."
        with contextlib.suppress(Exception):
            await socket.send_json({"type": "error", "status": getattr(exc, "status_code", 401), "detail": detail})
            await socket.close(code=4401 if getattr(exc, "status_code", 401) == 401 else 4403, reason=detail[:120])
        return
    except (WebSocketDisconnect, RuntimeError):
        return
    name = events.inbox_channel(principal.tenant_id)
    queue = await events.relay.subscribe_channel(name)
    # A signed-in person at the page is an agent online (chat.presence); an API key is not a person.
    seat = presence.Seat(principal.tenant_id, principal.user_id, uuid.uuid4().hex) if principal.user_id else None

    async def forward() -> None:
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), PING_SECONDS)
            except TimeoutError:
                event = {"type": "ping"}
            await socket.send_json(event)

    async def heartbeats() -> None:
        """Every frame the page sends ({"type": "heartbeat"}, its answer to a ping) renews its seat;
        at most one Redis write per RENEW_SECONDS however fast a client sends. Reading also notices a
        closed socket."""
        renewed = time.monotonic()
        while True:
            await socket.receive_data(mode="text")
            if seat is not None and time.monotonic() - renewed >= RENEW_SECONDS:
                renewed = time.monotonic()
                if await presence.renew(seat):
                    await tell_waiting_customers()

    async def tell_waiting_customers() -> None:
        """Someone is here now, or no one is any more; a failure here never costs the agent their socket."""
        try:
            await handoff.announce_queue(principal.tenant_id)
        except Exception:
            log.warning("could not tell waiting customers", exc_info=True,
                        extra={"tenant_id": str(principal.tenant_id)})

    if seat is not None and await presence.arrive(seat):
        await tell_waiting_customers()
    await socket.send_json({"type": "ready", "tenant_id": str(principal.tenant_id),
                            "heartbeat_seconds": presence.HEARTBEAT_SECONDS})
    tasks = [asyncio.create_task(forward()), asyncio.create_task(heartbeats())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await events.relay.unsubscribe_channel(name, queue)
        if seat is not None:
            with contextlib.suppress(Exception):
                if await presence.leave(seat):
                    await tell_waiting_customers()
