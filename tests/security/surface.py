"""The API's attack surface, read from the Litestar app itself, and how to aim each route at a tenant.

`api_routes(app)` lists every route the app serves, so a route added later shows up here without
anyone remembering to add it. The coverage test then fails until the new route has a `Probe`
(how to call it with another tenant's ids) or is listed in `PUBLIC` or `EXPLICIT` on purpose.
"""

from __future__ import annotations

import inspect
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar
from litestar.routes import HTTPRoute, WebSocketRoute

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


@dataclass(frozen=True)
class Route:
    method: str  # an HTTP method, or "WS"
    path: str  # the template as the app declares it, e.g. /api/v1/documents/{document_id:uuid}
    handler: Any

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    @property
    def guarded(self) -> bool:
        return bool(self.handler.resolve_guards())

    def takes(self, name: str) -> bool:
        return name in inspect.signature(self.handler.fn).parameters

    @property
    def audience(self) -> str:
        """'admin' (bearer credential), 'widget' (widget key) or 'public' (nothing)."""
        if self.guarded or self.takes("principal"):
            return "admin"
        return "widget" if self.takes("widget") else "public"

    @property
    def path_params(self) -> list[str]:
        return PARAM.findall(self.path)

    def url(self, values: dict[str, str]) -> str:
        return PARAM.sub(lambda m: values[m.group(1)], self.path)


def api_routes(app: Litestar) -> list[Route]:
    """Every (method, path) the app serves, without the automatic OPTIONS and HEAD handlers."""
    found: list[Route] = []
    for route in app.routes:
        if isinstance(route, WebSocketRoute):
            found.append(Route("WS", route.path, route.route_handler))
        elif isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                    found.append(Route(method, route.path, handler))
    # The app's route order varies between processes; test ids must not (pytest-xdist compares them).
    return sorted(found, key=lambda r: (r.path, r.method))


@dataclass
class Seeded:
    """One tenant's credentials and a row of every kind, each text carrying the tenant's marker."""

    tenant_id: uuid.UUID
    admin: dict[str, str]
    analyst: dict[str, str]  # an analyst API key
    analyst_token: dict[str, str]  # an analyst user's login token
    widget_key: str
    marker: str  # in the tenant's names (files, collections, tools); attack probes reuse these names
    secret: str  # only inside the tenant's content (FAQ, records, persona, chat); never sent by a probe
    document_id: str = ""
    collection: str = ""  # a collection only this tenant has
    record_key: str = ""
    tool_name: str = ""
    visitor_id: str = ""
    conversation_id: str = ""
    question_id: str = ""
    answer_id: str = ""
    user_id: str = ""  # the tenant's signed-in customer (owner of its orders)
    user_conversation_id: str = ""
    source_id: str = ""
    agent_token: dict[str, str] = field(default_factory=dict)  # an agent user's login token (the inbox)
    canned_id: str = ""
    webhook_id: str = ""
    run_id: str = ""  # a scored evaluation run

    @property
    def widget(self) -> dict[str, str]:
        return {"X-Widget-Key": self.widget_key}

    def user_claim(self, user_id: str | None = None) -> dict[str, str]:
        """`user: {id, hash}` signed with the tenant's current identity secret (as its web site would)."""
        from core.identity import user_hash
        from core.tenancy import identity_secret

        user_id = user_id or self.user_id
        return {"id": user_id, "hash": user_hash(identity_secret(self.tenant_id), user_id)}

    def user_headers(self) -> dict[str, str]:
        claim = self.user_claim()
        return {**self.widget, "X-Kefu-User-Id": claim["id"], "X-Kefu-User-Hash": claim["hash"]}

    def path_values(self) -> dict[str, str]:
        return {"document_id": self.document_id, "conversation_id": self.conversation_id,
                "message_id": self.answer_id, "collection": self.collection, "key": self.record_key,
                "name": self.tool_name, "visitor_id": self.visitor_id, "user_id": self.user_id,
                "source_id": self.source_id, "template": "weather", "canned_id": self.canned_id,
                "webhook_id": self.webhook_id, "run_id": self.run_id}

    def names(self) -> str:
        """The victim's names and keys the attack tests send, which the attacker's own rows may then hold."""
        return f"{self.collection} {self.tool_name} {self.record_key} {self.visitor_id} {self.user_id}"

    def secrets(self) -> list[str]:
        """Strings that must never appear in another tenant's responses."""
        return [self.secret, self.marker, str(self.tenant_id), self.document_id, self.conversation_id, self.question_id,
                self.answer_id, self.visitor_id, self.collection, self.tool_name, self.widget_key, self.record_key,
                self.user_id, self.user_conversation_id,
                self.source_id, self.canned_id, self.webhook_id, self.run_id]


Body = Callable[[Seeded, Seeded], dict[str, Any]]  # (attacker, victim) -> keyword arguments for the request


@dataclass(frozen=True)
class Probe:
    """How to call a route as the attacker, aimed at the victim's data.

    `query` and `body` are built from (attacker, victim). `foreign` is the status expected when the
    request names the victim's object in its path or body (404: it does not exist for the attacker),
    or None when the route only ever works in the caller's own namespace. `lists_own` says that, called with the
    attacker's own ids, the response shows the attacker's own rows (so "B is absent" means something).
    """

    query: Body = field(default=lambda a, v: {})
    body: Body = field(default=lambda a, v: {})
    foreign: int | None = 404
    lists_own: bool = False
    read_only: bool = False  # a POST that changes nothing (search): analysts may call it
    # The response reports the attacker's own earlier requests (the audit log), which named the
    # victim's ids and marker on purpose: those are the attacker's words, not a leak.
    echoes_requests: bool = False


def site_url(marker: str) -> str:
    """A website source's address: on 127.0.0.1's discard port, so its crawl fails at once, locally."""
    return f"http://127.0.0.1:9/{marker}/"


def faq_csv(marker: str, secret: str) -> bytes:
    return (f"id,question,answer\n{marker}-1,What is the {marker} refund policy?,"
            f"Refunds for {secret} take 14 days.\n").encode()


def labelled_csv(marker: str) -> bytes:
    """A labelled question set for the tenant's FAQ (`faq_csv`): one question it answers, one it should not."""
    return (f"question,expected\nWhat is the {marker} refund policy?,{marker}-1\n"
            "What is the weather on Mars?,\n").encode()


PROBES: dict[tuple[str, str], Probe] = {
    ("GET", "/api/v1/documents"): Probe(foreign=None, lists_own=True),
    ("POST", "/api/v1/documents"): Probe(
        body=lambda a, v: {"files": {"file": (f"{v.marker}.csv", faq_csv(a.marker + "-new", a.secret), "text/csv")}},
        foreign=None),
    ("GET", "/api/v1/documents/{document_id:uuid}"): Probe(lists_own=True),
    ("DELETE", "/api/v1/documents/{document_id:uuid}"): Probe(),
    ("POST", "/api/v1/documents/{document_id:uuid}/reindex"): Probe(),
    ("GET", "/api/v1/documents/{document_id:uuid}/faq-rows"): Probe(lists_own=True),
    ("PUT", "/api/v1/documents/{document_id:uuid}/faq-rows"): Probe(body=lambda a, v: {"json": {
        "source_ref": f"{v.marker}-1", "question": "What is the refund policy?", "answer": f"{a.marker} says no."}}),
    ("DELETE", "/api/v1/documents/{document_id:uuid}/faq-rows"): Probe(
        query=lambda a, v: {"source_ref": f"{v.marker}-1"}),
    ("POST", "/api/v1/search"): Probe(body=lambda a, v: {"json": {"query": "refund policy"}},
                                      foreign=None, read_only=True),
    ("GET", "/api/v1/settings/bot"): Probe(foreign=None, lists_own=True),
    ("PUT", "/api/v1/settings/bot"): Probe(body=lambda a, v: {"json": {"persona": f"persona of {a.marker}"}},
                                           foreign=None),
    ("POST", "/api/v1/settings/bot/test"): Probe(body=lambda a, v: {"json": {"slot": "primary"}}, foreign=None),
    ("GET", "/api/v1/settings/widget"): Probe(foreign=None, lists_own=True),
    ("PUT", "/api/v1/settings/widget/appearance"): Probe(body=lambda a, v: {"json": {"title": f"title of {a.marker}"}},
                                                         foreign=None),
    ("GET", "/api/v1/records"): Probe(foreign=None, lists_own=True),
    ("POST", "/api/v1/records/{collection:str}"): Probe(
        body=lambda a, v: {"files": {"file": ("rows.csv", f"order_id,status\n{a.marker}-9,new\n".encode())},
                           "data": {"key_column": "order_id"}},
        foreign=None),
    ("DELETE", "/api/v1/records/{collection:str}"): Probe(),
    ("GET", "/api/v1/records/{collection:str}/{key:str}"): Probe(lists_own=True),
    ("GET", "/api/v1/tools"): Probe(foreign=None, lists_own=True),
    ("POST", "/api/v1/tools"): Probe(body=lambda a, v: {"json": {
        "name": v.tool_name, "description": "tool of the attacker",
        "url_template": "https://shop.example.com/orders/{order_id}",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}}}}, foreign=None),
    ("DELETE", "/api/v1/tools/{name:str}"): Probe(),
    ("GET", "/api/v1/tools/templates"): Probe(foreign=None),
    ("POST", "/api/v1/tools/templates/{template:str}"): Probe(body=lambda a, v: {"json": {
        "name": f"{a.marker}_weather"}}, foreign=None),
    ("POST", "/api/v1/chat"): Probe(body=lambda a, v: {"json": {
        "message": "What is the refund policy?", "conversation_id": v.conversation_id,
        "visitor_id": v.visitor_id}}),
    ("GET", "/api/v1/chat/messages/{message_id:uuid}"): Probe(query=lambda a, v: {"visitor_id": v.visitor_id},
                                                              lists_own=True),
    ("GET", "/api/v1/chat/conversations/{conversation_id:uuid}/messages"): Probe(
        query=lambda a, v: {"visitor_id": v.visitor_id}, lists_own=True),
    ("POST", "/api/v1/chat/messages/{message_id:uuid}/feedback"): Probe(
        body=lambda a, v: {"json": {"rating": -1, "visitor_id": v.visitor_id, "comment": "x"}}),
    ("POST", "/api/v1/chat/conversations/{conversation_id:uuid}/csat"): Probe(
        body=lambda a, v: {"json": {"score": 1, "visitor_id": v.visitor_id}}),
    ("POST", "/api/v1/chat/conversations/{conversation_id:uuid}/handoff"): Probe(
        body=lambda a, v: {"json": {"visitor_id": v.visitor_id, "reason": "x"}}),
    ("GET", "/api/v1/widget/config"): Probe(foreign=None),
    ("GET", "/api/v1/widget/conversations/{conversation_id:uuid}/sources"): Probe(
        query=lambda a, v: {"visitor_id": v.visitor_id, "message_id": v.answer_id}, lists_own=True),
    ("GET", "/api/v1/sources"): Probe(foreign=None, lists_own=True),
    ("POST", "/api/v1/sources"): Probe(body=lambda a, v: {"json": {"type": "website", "url": site_url(v.marker)}},
                                       foreign=None),
    ("GET", "/api/v1/sources/{source_id:uuid}"): Probe(lists_own=True),
    ("GET", "/api/v1/sources/{source_id:uuid}/pages"): Probe(lists_own=True),
    ("POST", "/api/v1/sources/{source_id:uuid}/sync"): Probe(),
    ("DELETE", "/api/v1/sources/{source_id:uuid}"): Probe(),
    ("GET", "/api/v1/analytics/export"): Probe(query=lambda a, v: {"dataset": "messages", "format": "csv"},
                                               foreign=None, lists_own=True),
    # Issue 20: identity verification, private records, privacy operations, the audit log.
    ("GET", "/api/v1/chat/conversations"): Probe(foreign=None),  # needs a signed-in user: test_identity.py
    # The records-import probe gave the attacker a collection of the victim's name, so this one works
    # in the attacker's own namespace; the victim's collection is unchanged (snapshot).
    ("PUT", "/api/v1/records/{collection:str}/access"): Probe(body=lambda a, v: {"json": {"public": True}},
                                                              foreign=None),
    # Erasing the victim's visitor or user id from the attacker's tenant finds nothing there.
    ("DELETE", "/api/v1/visitors/{visitor_id:str}"): Probe(foreign=None),
    ("DELETE", "/api/v1/customers/{user_id:str}"): Probe(foreign=None),
    ("GET", "/api/v1/settings/privacy"): Probe(foreign=None),
    ("PUT", "/api/v1/settings/privacy"): Probe(body=lambda a, v: {"json": {"retention_days": 3650}}, foreign=None),
    ("POST", "/api/v1/settings/identity-secret/rotate"): Probe(foreign=None),
    ("GET", "/api/v1/audit"): Probe(foreign=None, lists_own=True, echoes_requests=True),
    ("GET", "/api/v1/audit/export"): Probe(foreign=None, lists_own=True, echoes_requests=True),
    # Issue 19: webhooks (admin-only even to read: a receiver URL is often a secret), office hours,
    # a customer's contact for a later reply.
    ("GET", "/api/v1/webhooks"): Probe(foreign=None, lists_own=True),
    ("POST", "/api/v1/webhooks"): Probe(body=lambda a, v: {"json": {
        "url": f"http://127.0.0.1:9/{a.marker}-new", "events": ["conversation.resolved"]}}, foreign=None),
    ("DELETE", "/api/v1/webhooks/{webhook_id:uuid}"): Probe(),
    ("GET", "/api/v1/webhooks/{webhook_id:uuid}/deliveries"): Probe(),
    ("GET", "/api/v1/settings/service"): Probe(foreign=None),
    ("PUT", "/api/v1/settings/service"): Probe(body=lambda a, v: {"json": {"timezone": "Asia/Shanghai"}},
                                               foreign=None),
    ("POST", "/api/v1/chat/conversations/{conversation_id:uuid}/contact"): Probe(
        body=lambda a, v: {"json": {"visitor_id": v.visitor_id, "email": f"{a.marker}@example.com"}}),
    # Issue 18: similar questions suggested from traffic, evaluation runs and the threshold they recommend.
    ("GET", "/api/v1/similar-questions/suggestions"): Probe(foreign=None),
    ("POST", "/api/v1/similar-questions/suggestions/accept"): Probe(body=lambda a, v: {"json": {
        "document_id": v.document_id, "source_ref": f"{v.marker}-1", "question": f"refund question of {a.marker}"}}),
    ("POST", "/api/v1/similar-questions/suggestions/dismiss"): Probe(body=lambda a, v: {"json": {
        "document_id": v.document_id, "source_ref": f"{v.marker}-1", "question": f"refund question of {a.marker}"}}),
    ("GET", "/api/v1/evaluations"): Probe(foreign=None, lists_own=True),
    ("POST", "/api/v1/evaluations"): Probe(
        body=lambda a, v: {"files": {"file": (f"{v.marker}.csv", labelled_csv(a.marker), "text/csv")}},
        foreign=None),
    ("GET", "/api/v1/evaluations/{run_id:uuid}/thresholds"): Probe(
        query=lambda a, v: {"target_precision": 0.9}),
    ("POST", "/api/v1/evaluations/{run_id:uuid}/apply-threshold"): Probe(
        body=lambda a, v: {"json": {"target_precision": 0.9}}),
    # Issue 19: people and the agent inbox.
    ("POST", "/api/v1/users"): Probe(body=lambda a, v: {"json": {
        "email": f"agent-{uuid.uuid4().hex[:8]}-{a.marker}@example.com", "password": "password-123",
        "role": "agent"}}, foreign=None),
    ("GET", "/api/v1/users"): Probe(foreign=None, lists_own=True),
    ("GET", "/api/v1/inbox"): Probe(query=lambda a, v: {"status": "open"}, foreign=None),
    ("GET", "/api/v1/inbox/{conversation_id:uuid}"): Probe(lists_own=True),
    ("POST", "/api/v1/inbox/{conversation_id:uuid}/assign"): Probe(),
    ("POST", "/api/v1/inbox/{conversation_id:uuid}/messages"): Probe(body=lambda a, v: {"json": {
        "text": f"reply from {a.marker}"}}),
    ("POST", "/api/v1/inbox/{conversation_id:uuid}/resolve"): Probe(),
    ("POST", "/api/v1/inbox/{conversation_id:uuid}/release"): Probe(),
    ("GET", "/api/v1/canned-responses"): Probe(foreign=None, lists_own=True),
    ("POST", "/api/v1/canned-responses"): Probe(body=lambda a, v: {"json": {
        "shortcut": f"x{uuid.uuid4().hex[:8]}", "text": f"canned of {a.marker}"}}, foreign=None),
    ("DELETE", "/api/v1/canned-responses/{canned_id:uuid}"): Probe(),
}

# Routes for the people who answer customers (agents, admins, owners), not analysts.
AGENT_ROUTES = frozenset({
    ("GET", "/api/v1/inbox"), ("GET", "/api/v1/inbox/{conversation_id:uuid}"),
    ("POST", "/api/v1/inbox/{conversation_id:uuid}/assign"), ("POST", "/api/v1/inbox/{conversation_id:uuid}/messages"),
    ("POST", "/api/v1/inbox/{conversation_id:uuid}/resolve"), ("POST", "/api/v1/inbox/{conversation_id:uuid}/release"),
    ("GET", "/api/v1/canned-responses"),
})

# Routes only admins and owners may call, even to read (analysts get 403): tests/security/test_roles.py.
ADMIN_ONLY = frozenset({("GET", "/api/v1/webhooks"), ("GET", "/api/v1/webhooks/{webhook_id:uuid}/deliveries")})

# Routes only owners may call (admins and analysts get 403): tests/security/test_roles.py.
OWNER_ONLY = frozenset({("GET", "/api/v1/audit"), ("GET", "/api/v1/audit/export")})

# Routes meant to need no credential, and why.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/health"): "liveness probe",
    ("GET", "/ready"): "readiness probe",
    ("GET", "/metrics"): "Prometheus scrape; labels never carry tenant ids",
    ("POST", "/api/v1/auth/login"): "how a credential is obtained (rate-limited)",
    ("GET", "/widget/kefu.js"): "the public widget script",
    ("GET", "/demo/shop"): "demo page, off in production",
    ("GET", "/inbox"): "the agent inbox page (static; it logs in through /api/v1/auth/login)",
    ("GET", "/inbox/{name:str}"): "the agent inbox page's script and style (static, fixed names)",
}
PUBLIC_PREFIXES = ("/schema",)  # OpenAPI document and its viewers

# Routes whose tenant isolation is tested by a dedicated test rather than a probe.
EXPLICIT: dict[tuple[str, str], str] = {
    ("WS", "/api/v1/chat/ws"): "tests/security/test_cross_tenant.py::test_socket_cannot_join_another_tenants_conversation",
    ("WS", "/api/v1/inbox/ws"): "tests/security/test_inbox_security.py",
    ("POST", "/api/v1/chat/audio"): "tests/security/test_voice_security.py (multipart, needs a speech server)",
}


def is_public(route: Route) -> bool:
    return route.key in PUBLIC or route.path.startswith(PUBLIC_PREFIXES)
