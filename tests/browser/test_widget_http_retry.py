"""The widget's HTTP path (no WebSocket in this browser) sends an Idempotency-Key with each question,
one per customer message, and a retry after a lost response reuses it: the question is stored and
answered once, and the customer sees one answer."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, Route, expect
from sqlalchemy import func, select

from core.db import tenant_session_sync
from core.models import Message
from core.tenancy import create_tenant
from knowledge.commands import upload_document
from tests.browser.widget_server import free_port, running_api
from tests.factories import qa_csv

pytestmark = pytest.mark.integration
FAQ = [("D-1", "How long does delivery take?", "Delivery takes 2-4 working days."),
       ("D-2", "运费多少？", "订单满 99 元包邮。")]


@pytest.fixture(scope="module")
def shop():
    port = free_port()
    suffix = uuid.uuid4().hex[:8]
    created = create_tenant(f"Retry shop {suffix}", f"owner-{suffix}@example.com", "password-123",
                            origins=[f"http://127.0.0.1:{port}"])
    upload_document(created.tenant_id, "faq.csv", qa_csv(FAQ), inline=True)
    with running_api(port) as api:
        yield api, created.tenant_id, created.widget_key


def stored(tenant_id, text: str) -> int:
    with tenant_session_sync(tenant_id) as session:
        return session.scalar(select(func.count()).select_from(Message).where(Message.role == "customer",
                                                                               Message.text == text))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_lost_response_is_retried_with_the_same_key_and_answered_once(page: Page, shop, lang) -> None:
    api, tenant_id, key = shop
    question = FAQ[0][1] if lang == "en" else FAQ[1][1]
    sent: list[str | None] = []
    replayed: list[str | None] = []

    def lose_the_first_response(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        sent.append(route.request.headers.get("idempotency-key"))
        if len(sent) == 1:
            route.fetch()  # the API stores and answers the question...
            route.abort("connectionreset")  # ...and the answer is lost on the way back
        else:
            response = route.fetch()
            replayed.append(response.headers.get("idempotent-replayed"))
            route.fulfill(response=response)

    page.add_init_script("delete window.WebSocket")  # a network that refuses WebSockets: the HTTP path
    page.route("**/api/v1/chat", lose_the_first_response)
    page.goto(f"{api}/demo/shop?key={key}&lang={lang}")
    widget = page.locator("kefu-chat")
    widget.locator(".launcher").click()
    widget.locator("textarea").fill(question)
    widget.locator("textarea").press("Enter")
    answer = widget.locator(".msg.bot[data-message-id]")
    expect(answer).to_have_count(1, timeout=30_000)
    expect(answer).to_contain_text("2-4" if lang == "en" else "99")
    assert answer.get_attribute("data-transport") == "http"
    assert len(sent) == 2 and sent[0] and sent[0] == sent[1], sent  # one key, reused on the retry
    assert replayed == ["true"]  # the server replayed the stored answer
    assert stored(tenant_id, question) == 1
    expect(widget.locator(".failed-label")).to_have_count(0)

    widget.locator("textarea").fill(question + " ?")  # the next customer message gets a key of its own
    widget.locator("textarea").press("Enter")
    expect(answer).to_have_count(2, timeout=30_000)
    assert len(sent) == 3 and sent[2] and sent[2] != sent[0]
