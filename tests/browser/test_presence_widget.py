"""Inside office hours with no agent at the inbox, the widget says so and asks for a contact; when an
agent opens the inbox, the waiting customer sees their place in the queue, live; when the agent
leaves, the widget says no one is online again. Two browser contexts (customer widget, agent
inbox) against one real API, in English and Chinese; screenshots on a desktop and a phone."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from core.db import tenant_session_sync
from core.models import Conversation
from core.tenancy import add_user, create_tenant
from knowledge.commands import upload_document
from tests.browser.widget_server import free_port, running_api
from tests.factories import qa_csv
from tests.support.inbox import sign_in_to_inbox

pytestmark = pytest.mark.integration
DESKTOP = {"width": 1440, "height": 930}
PHONE = {"width": 390, "height": 844}
PUSH_MS = 5000  # live, without a reload; generous for a shared two-core machine
FAQ = [("R-1", "What is the refund policy?", "Refunds are accepted within 14 days of delivery."),
       ("R-2", "退货政策是什么？", "收货后14天内可以申请退货。")]
WORDS = {
    "en": {"question": "What is the refund policy?", "nobody": "No colleague is online right now",
           "strip_nobody": "no colleague online", "queued": "you are number 1", "strip_queued": "number 1",
           "saved": "We'll get back to you at"},
    "zh": {"question": "退货政策是什么？", "nobody": "现在暂时没有客服在线", "strip_nobody": "暂时没有客服在线",
           "queued": "您排在第 1 位", "strip_queued": "第 1 位", "saved": "我们会通过"},
}


@dataclass
class Shop:
    api: str
    tenant_id: uuid.UUID
    widget_key: str
    agent_email: str


def _shop(port: int) -> tuple[uuid.UUID, str, str]:
    suffix = uuid.uuid4().hex[:8]
    created = create_tenant(f"Presence shop {suffix}", f"owner-{suffix}@example.com", "password-123",
                            origins=[f"http://127.0.0.1:{port}"])
    upload_document(created.tenant_id, "faq.csv", qa_csv(FAQ), inline=True)
    email = f"mei-{suffix}@example.com"
    with tenant_session_sync(created.tenant_id) as session:
        add_user(session, created.tenant_id, email, "password-123", "agent", display_name="Mei")
    return created.tenant_id, created.widget_key, email


@pytest.fixture(scope="module")
def server() -> tuple[int, str]:
    port = free_port()
    with running_api(port) as api:
        yield port, api


@pytest.fixture
def shop(server) -> Shop:
    port, api = server
    return Shop(api, *_shop(port))  # a tenant per test: presence is per tenant


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_no_agent_online_asks_for_a_contact_and_an_arriving_agent_gives_a_place(
    browser: Browser, shop: Shop, artifacts_dir, lang
) -> None:
    words = WORDS[lang]
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN" if lang == "zh" else "en-US")
    customer = context.new_page()
    errors: list[str] = []
    customer.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    customer.goto(f"{shop.api}/demo/shop?key={shop.widget_key}&lang={lang}")
    widget = customer.locator("kefu-chat")
    widget.locator(".launcher").click()
    widget.locator("textarea").fill(words["question"])
    widget.locator("textarea").press("Enter")
    expect(widget.locator(".msg.bot[data-message-id]").last).to_contain_text("14")

    # Nobody has the inbox open: the widget says so honestly and asks where to reply.
    widget.locator(".tool.human").click()
    expect(widget.locator(".note").last).to_contain_text(words["nobody"])
    form = widget.locator("form.contact")
    expect(form).to_be_visible()
    expect(widget.locator(".human-state")).to_contain_text(words["strip_nobody"])
    expect(widget.locator(".note").filter(has_text=words["queued"])).to_have_count(0)  # no queue promise
    customer.screenshot(path=str(artifacts_dir / f"widget-no-agent-{lang}-desktop.png"))
    customer.set_viewport_size(PHONE)
    customer.screenshot(path=str(artifacts_dir / f"widget-no-agent-{lang}-phone.png"))
    customer.set_viewport_size(DESKTOP)
    address = f"presence-{lang}@example.org"
    form.locator("input[type=email]").fill(address)
    form.locator(".contact-send").click()
    expect(widget.locator(".note").last).to_contain_text(words["saved"])
    with tenant_session_sync(shop.tenant_id) as session:
        waiting = session.execute(select(Conversation.inbox_status, Conversation.contact_email)).all()
    assert [tuple(row) for row in waiting] == [("waiting", address)]  # it waits in the inbox

    # An agent opens the inbox: the customer learns their place without a reload.
    agent = sign_in_to_inbox(browser, shop.api, shop.agent_email, lang)
    expect(widget.locator(".human-state")).to_contain_text(words["strip_queued"], timeout=PUSH_MS)
    expect(widget.locator(".note").last).to_contain_text(words["queued"])
    expect(agent.locator("#list .item")).to_have_count(1)
    customer.screenshot(path=str(artifacts_dir / f"widget-agent-online-{lang}-desktop.png"))
    customer.set_viewport_size(PHONE)
    customer.screenshot(path=str(artifacts_dir / f"widget-agent-online-{lang}-phone.png"))

    # The agent closes the inbox: no one is online again.
    agent.context.close()
    expect(widget.locator(".human-state")).to_contain_text(words["strip_nobody"], timeout=PUSH_MS)
    assert errors == []
    context.close()
