"""A customer in the widget and an agent in the inbox, two browser contexts against one real API:
hand-off, takeover, replies both ways, canned response and assist, resolve; English and Chinese,
desktop and phone. Every push must show on the other side without a reload, within a second."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from core.db import tenant_session_sync
from core.models import CannedResponse, Conversation, Message
from core.tenancy import add_user, create_tenant
from knowledge.commands import upload_document
from tests.browser.widget_server import free_port, running_api
from tests.factories import qa_csv
from tests.support.inbox import sign_in_to_inbox

pytestmark = pytest.mark.integration
# The bound is 1 s, measured under load by bench/handoff_load.py; here the machine is shared
# (load averages of 20+ on two cores), so the browser allows 3 s: still "live, without a reload".
PUSH_MS = 3000
DESKTOP = {"width": 1440, "height": 930}
PHONE = {"width": 390, "height": 844}
FAQ = [
    ("R-1", "What is the refund policy?", "Refunds are accepted within 14 days of delivery."),
    ("R-2", "退货政策是什么？", "收货后14天内可以申请退货。"),
]


@dataclass
class Shop:
    api: str
    tenant_id: uuid.UUID
    widget_key: str
    agent_email: str


@pytest.fixture(scope="module")
def shop() -> Shop:
    port = free_port()
    suffix = uuid.uuid4().hex[:8]
    created = create_tenant(
        f"Inbox shop {suffix}", f"owner-{suffix}@example.com", "password-123", origins=[f"http://127.0.0.1:{port}"]
    )
    upload_document(created.tenant_id, "faq.csv", qa_csv(FAQ), inline=True)
    agent_email = f"lin-{suffix}@example.com"
    with tenant_session_sync(created.tenant_id) as session:
        add_user(session, created.tenant_id, agent_email, "password-123", "agent", display_name="Lin")
        session.add(
            CannedResponse(
                tenant_id=created.tenant_id, shortcut="thanks", text="Thank you for waiting! 感谢您的耐心等待！"
            )
        )
    with running_api(port) as api:
        yield Shop(api, created.tenant_id, created.widget_key, agent_email)


def customer_page(browser: Browser, shop: Shop, lang: str, viewport: dict[str, int]) -> Page:
    context = browser.new_context(viewport=viewport, locale="zh-CN" if lang == "zh" else "en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.console_errors = errors  # type: ignore[attr-defined]
    page.goto(f"{shop.api}/demo/shop?key={shop.widget_key}&lang={lang}")
    page.locator("kefu-chat .launcher").click()
    expect(page.locator("kefu-chat .panel")).to_be_visible()
    return page


WORDS = {
    "en": {
        "question": "What is the refund policy?",
        "answer": "14 days",
        "queued": "number 1",
        "joined": "Lin has joined",
        "with": "chatting with Lin",
        "back": "back with the assistant",
        "assign": "Assign to me",
        "resolve": "Resolve",
        "waiting": "Waiting",
        "follow": "Is there a refund policy for used items?",
    },
    "zh": {
        "question": "退货政策是什么？",
        "answer": "14天内",
        "queued": "第 1 位",
        "joined": "Lin 已加入",
        "with": "Lin 正在为您服务",
        "back": "已回到智能助手",
        "assign": "由我接待",
        "resolve": "标记已解决",
        "waiting": "等待中",
        "follow": "用过的商品可以退吗？",
    },
}


@pytest.mark.parametrize(("lang", "device"), [("en", "desktop"), ("zh", "desktop"), ("en", "phone"), ("zh", "phone")])
def test_handoff_takeover_reply_and_resolve(browser: Browser, shop: Shop, artifacts_dir, lang, device) -> None:
    words, viewport = WORDS[lang], DESKTOP if device == "desktop" else PHONE
    agent = sign_in_to_inbox(browser, shop.api, shop.agent_email, lang, viewport)
    customer = customer_page(browser, shop, lang, viewport)
    widget = customer.locator("kefu-chat")

    # The bot answers first; then the customer asks for a person and learns their place in the queue.
    widget.locator("textarea").fill(words["question"])
    widget.locator("textarea").press("Enter")
    expect(widget.locator(".msg.bot[data-message-id]").last).to_contain_text(words["answer"])
    widget.locator(".tool.human").click()
    expect(widget.locator(".human-state")).to_contain_text(words["queued"])

    # The agent's page, opened before the hand-off, shows it without a reload (and badges the title).
    item = agent.locator("#list .item").first
    expect(item).to_be_visible(timeout=PUSH_MS * 2)
    expect(agent).to_have_title(f"(1) {'Inbox' if lang == 'en' else '客服工作台'} · Kefu")
    conversation_id = item.get_attribute("data-id")
    item.click()
    expect(agent.locator("#transcript .msg.assistant .confidence")).to_be_visible()
    expect(agent.locator("#assist li").first).to_contain_text(words["answer"])

    # Takeover: the widget names the agent; replies travel both ways live.
    agent.click("#assign")
    expect(widget.locator(".human-state")).to_contain_text(words["with"], timeout=PUSH_MS)
    expect(widget.locator(".note").last).to_contain_text(words["joined"])
    agent.fill("#reply", "/than")
    agent.press("#reply", "Tab")  # the canned response's shortcut
    expect(agent.locator("#reply")).to_have_value("Thank you for waiting! 感谢您的耐心等待！")
    agent.press("#reply", "Enter")
    expect(widget.locator(".msg.agent .bubble").last).to_have_text(
        "Thank you for waiting! 感谢您的耐心等待！", timeout=PUSH_MS
    )
    expect(widget.locator(".msg.agent .agent-name").last).to_have_text("Lin")
    widget.locator("textarea").fill(words["follow"])
    widget.locator("textarea").press("Enter")
    expect(agent.locator("#transcript .msg.customer .bubble").last).to_have_text(words["follow"], timeout=PUSH_MS)
    expect(widget.locator(".msg.customer .delivered").last).to_be_visible()
    first_entry = agent.locator("#assist li").first
    expect(first_entry).to_contain_text(words["answer"])  # what the knowledge base has for that message
    first_entry.locator(".insert").click()  # agent assist: the FAQ answer in the reply box, one click
    assert first_entry.locator("p").inner_text() == agent.locator("#reply").input_value()
    agent.press("#reply", "Enter")
    expect(widget.locator(".msg.agent")).to_have_count(2, timeout=PUSH_MS)
    customer.screenshot(path=str(artifacts_dir / f"inbox-widget-{lang}-{device}.png"))
    agent.screenshot(path=str(artifacts_dir / f"inbox-agent-{lang}-{device}.png"))

    # Resolve: the widget says the assistant is back, and the bot answers again.
    agent.click("#resolve")
    expect(widget.locator(".note").last).to_contain_text(words["back"], timeout=PUSH_MS)
    expect(widget.locator(".human-state")).to_be_hidden()
    bot_answers = widget.locator(".msg.bot[data-message-id]")
    before = bot_answers.count()
    widget.locator("textarea").fill(words["question"])
    widget.locator("textarea").press("Enter")
    expect(bot_answers).to_have_count(before + 1)

    with tenant_session_sync(shop.tenant_id) as session:
        conversation = session.get(Conversation, uuid.UUID(conversation_id))
        assert conversation.inbox_status == "resolved"
        roles = [
            m.role
            for m in session.scalars(
                select(Message).where(Message.conversation_id == conversation.id).order_by(Message.created_at)
            )
        ]
    assert roles.count("agent") == 2 and roles[-2:] == ["customer", "assistant"]
    assert customer.console_errors == []  # type: ignore[attr-defined]
    agent.context.close()
    customer.context.close()


def test_a_reload_shows_the_agents_replies_and_keeps_following(browser: Browser, shop: Shop) -> None:
    agent = sign_in_to_inbox(browser, shop.api, shop.agent_email, "en", DESKTOP)
    customer = customer_page(browser, shop, "en", DESKTOP)
    widget = customer.locator("kefu-chat")
    widget.locator("textarea").fill("转人工")
    widget.locator("textarea").press("Enter")
    expect(widget.locator(".human-state")).to_contain_text("number 1")
    agent.locator("#list .item").first.click()
    agent.click("#assign")
    agent.fill("#reply", "Hi, Lin here.")
    agent.press("#reply", "Enter")
    expect(widget.locator(".msg.agent")).to_have_count(1, timeout=PUSH_MS)
    customer.reload()
    customer.locator("kefu-chat .launcher").click() if customer.locator("kefu-chat .panel").is_hidden() else None
    expect(widget.locator(".msg.agent .bubble")).to_have_text(["Hi, Lin here."])
    expect(widget.locator(".human-state")).to_contain_text("chatting with Lin")
    agent.fill("#reply", "Still here?")
    agent.press("#reply", "Enter")
    expect(widget.locator(".msg.agent")).to_have_count(2, timeout=PUSH_MS * 2)  # the reloaded page follows again
    agent.context.close()
    customer.context.close()
