"""A signed-in shopper gets their own order status; an anonymous one is asked to sign in (issue 20).

The tenant's site renders the widget tag with `data-user-id` and `data-user-hash` (the HMAC its
server computes with the identity secret), exactly as docs/widget.md tells a shop to. Chromium
drives the real widget against a real API; screenshots in English and Chinese, desktop and phone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from core.db import tenant_session_sync
from core.identity import user_hash
from core.models import Conversation
from core.tenancy import create_tenant, identity_secret
from knowledge.commands import import_records
from knowledge.records import AccessChange
from tests.browser.widget_server import free_port, running_api, site_page, tenant_site

pytestmark = pytest.mark.integration
ORDERS = (b"order_id,customer_id,customer,address,status\n"
          b"10001,cust-1,Alice Alpha,1 Open Street,shipped\n"
          b"10002,cust-7,Carol Beta,2 Hidden Road,delivered\n")
PHONE = {"width": 390, "height": 844}


@dataclass
class Site:
    url: str
    tenant_id: uuid.UUID


@pytest.fixture(scope="module")
def site() -> Site:
    pages: dict[str, bytes] = {}
    port = free_port()
    with tenant_site(pages) as site_port:
        origin = f"http://127.0.0.1:{site_port}"
        suffix = uuid.uuid4().hex[:8]
        created = create_tenant(f"Identity shop {suffix}", f"owner-{suffix}@example.com", "password-123",
                                origins=[origin])
        import_records(created.tenant_id, "orders", "orders.csv", ORDERS, "order_id",
                       AccessChange(owner_column="customer_id", sensitive_columns=["address"]))
        # What the shop's server does for a signed-in customer: HMAC-SHA256 of their id.
        signed = {"user-id": "cust-7", "user-hash": user_hash(identity_secret(created.tenant_id), "cust-7")}
        with running_api(port) as api:
            script = f"{api}/widget/kefu.js"
            for lang in ("en", "zh"):
                pages[f"/account-{lang}.html"] = site_page(script, created.widget_key, lang=lang, **signed)
                pages[f"/guest-{lang}.html"] = site_page(script, created.widget_key, lang=lang)
            yield Site(origin, created.tenant_id)


def open_widget(page: Page, url: str) -> None:
    page.goto(url)
    page.locator("kefu-chat .launcher").click()
    expect(page.locator("kefu-chat .panel")).to_be_visible()
    expect(page.locator("kefu-chat .msg.greeting")).to_have_count(1)


def ask(page: Page, text: str):
    """Send a question; the widget shows it after any earlier conversation has loaded, then its answer."""
    page.locator("kefu-chat textarea").fill(text)
    page.locator("kefu-chat textarea").press("Enter")
    questions = page.locator("kefu-chat .msg.customer")
    expect(questions.last).to_have_text(text)
    answers = page.locator("kefu-chat .msg.bot[data-message-id]")
    # The first Chinese question loads the word segmenter in the API process: allow it time.
    expect(answers).to_have_count(questions.count(), timeout=20000)
    return answers.last.locator(".bubble")


QUESTIONS = {"en": "Where is my order 10002?", "zh": "我的订单 10002 到哪了？"}
SIGN_IN = {"en": "please sign in", "zh": "请先登录"}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_signed_in_shopper_sees_their_own_order(browser, site: Site, artifacts_dir, lang: str) -> None:
    for device, viewport in (("desktop", {"width": 1280, "height": 800}), ("phone", PHONE)):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        open_widget(page, f"{site.url}/account-{lang}.html")
        answer = ask(page, QUESTIONS[lang])
        expect(answer).to_contain_text("delivered")
        expect(answer).to_contain_text("Carol Beta")
        expect(answer).not_to_contain_text("2 Hidden Road")  # marked sensitive: masked even for its owner
        page.screenshot(path=str(artifacts_dir / f"identity-signed-in-{lang}-{device}.png"))
        context.close()
    with tenant_session_sync(site.tenant_id) as session:
        assert "cust-7" in set(session.scalars(select(Conversation.user_id)))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_anonymous_shopper_is_asked_to_sign_in(browser, site: Site, artifacts_dir, lang: str) -> None:
    for device, viewport in (("desktop", {"width": 1280, "height": 800}), ("phone", PHONE)):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        open_widget(page, f"{site.url}/guest-{lang}.html")
        answer = ask(page, QUESTIONS[lang])
        expect(answer).to_contain_text(SIGN_IN[lang])
        for private in ("Carol Beta", "2 Hidden Road", "delivered"):
            expect(answer).not_to_contain_text(private)
        existing = answer.inner_text()  # the locator follows the newest answer
        missing = ask(page, QUESTIONS[lang].replace("10002", "10099"))
        assert missing.inner_text().replace("10099", "#") == existing.replace("10002", "#")
        page.screenshot(path=str(artifacts_dir / f"identity-guest-{lang}-{device}.png"))
        context.close()


def test_the_signed_in_conversation_follows_the_shopper_to_another_browser(browser, site: Site) -> None:
    first = browser.new_context()
    page = first.new_page()
    open_widget(page, f"{site.url}/account-en.html")
    ask(page, "Where is my order 10001?")  # not theirs: "not in your account"
    asked = ask(page, "Where is my order 10002?")
    expect(asked).to_contain_text("delivered")
    seen = page.locator("kefu-chat .msg.customer").count()  # with what earlier tests asked as cust-7
    first.close()
    other = browser.new_context()  # another device: no stored visitor or conversation
    page = other.new_page()
    open_widget(page, f"{site.url}/account-en.html")
    expect(page.locator("kefu-chat .msg.customer")).to_have_count(seen)
    expect(page.locator("kefu-chat .msg.customer").last).to_have_text("Where is my order 10002?")
    expect(page.locator("kefu-chat .msg.bot[data-message-id]").last).to_contain_text("delivered")
    other.close()
    guest = browser.new_context()  # the same site signed out shows nothing of it
    page = guest.new_page()
    open_widget(page, f"{site.url}/guest-en.html")
    expect(page.locator("kefu-chat .msg.greeting")).to_have_count(1)
    expect(page.locator("kefu-chat .msg.customer")).to_have_count(0)
    guest.close()
