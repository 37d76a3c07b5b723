"""Settings → Widget (live preview of the real widget, the tag to copy) and the Records page, in Chromium.

Screenshots in English and Chinese at desktop (1440×930) and phone (390×844) sizes.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from core.db import tenant_session_sync
from core.models import RecordCollection
from core.widget_appearance import load_appearance
from tests.factories import TenantCtx, make_tenant

pytestmark = pytest.mark.integration
PASSWORD = "password-123"
WAIT = 30_000  # ms: a cold Dash bundle on a busy machine; a wait, not a speed check
VIEWPORTS = {"desktop": {"width": 1440, "height": 930}, "phone": {"width": 390, "height": 844}}
ORDERS = (
    "order_id,customer_id,status,carrier\n10023,c-1001,Shipped 已发货,SF Express\n"
    "10024,c-1001,Paid 已付款,\n10025,c-1002,Delivered 已签收,JD\n"
).encode()


@pytest.fixture(scope="module")
def shop() -> TenantCtx:
    return make_tenant("Lotus Tea House")


def sign_in(page: Page, base: str, email: str, lang: str = "en") -> None:
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    expect(page.locator("#who")).to_contain_text(email, timeout=WAIT)
    page.goto(f"{base}/lang/{lang}")  # the choice lives in the signed-in session
    expect(page.locator("#who")).to_contain_text(email, timeout=WAIT)


def preview(page: Page):
    return page.frame_locator("#wl-preview")


def test_widget_settings_preview_follows_the_form_and_the_tag_carries_it(page: Page, admin_url, shop) -> None:
    page.set_viewport_size(VIEWPORTS["desktop"])
    sign_in(page, admin_url, shop.created.admin_email)
    page.goto(f"{admin_url}/settings")
    frame = preview(page)
    expect(frame.locator("kefu-chat .panel")).to_be_visible(timeout=WAIT)  # the real widget, opened
    expect(frame.locator("kefu-chat #kefu-title")).to_have_text(shop.created.name)  # the shop's name by default
    expect(page.locator("#wl-tag-0")).to_contain_text(f'data-title="{shop.created.name}"')

    page.locator("#wl-color").evaluate(
        "(el, v) => { const set = Object.getOwnPropertyDescriptor("
        "HTMLInputElement.prototype, 'value').set; set.call(el, v);"
        " el.dispatchEvent(new Event('input', {bubbles: true})); }",
        "#7b2cbf",
    )
    page.fill("#wl-title", "Lotus Tea")
    page.fill("#wl-starters", "Where is my order?\n运费多少？")
    page.fill("#wl-greeting", "Welcome to Lotus!")
    page.locator("#wl-greeting").press("Tab")
    expect(frame.locator("kefu-chat #kefu-title")).to_have_text("Lotus Tea", timeout=WAIT)
    expect(frame.locator("kefu-chat .starter")).to_have_text(["Where is my order?", "运费多少？"])
    expect(frame.locator("kefu-chat .msg.greeting")).to_have_text("Welcome to Lotus!")
    launcher = frame.locator("kefu-chat .launcher")
    assert launcher.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(123, 44, 191)"
    frame.locator("kefu-chat .starter").first.click()  # preview mode answers with a sample reply
    expect(frame.locator("kefu-chat .msg.bot").last).to_contain_text("This is a preview")
    tag = page.locator("#wl-tag-0")
    expect(tag).to_contain_text('data-title="Lotus Tea" data-color="#7b2cbf"')
    expect(tag).to_contain_text('data-starters="Where is my order?|运费多少？"')
    expect(page.locator("#wl-copy-0")).to_be_visible()

    page.click("#wl-save")
    expect(page.locator("#wl-save-result")).to_contain_text("Saved", timeout=WAIT)
    with tenant_session_sync(shop.id) as session:
        look, _ = load_appearance(session, shop.id)
    assert (look.color, look.title, look.starters) == ("#7b2cbf", "Lotus Tea", ("Where is my order?", "运费多少？"))

    page.fill("#wl-avatar", "javascript:alert(1)")
    page.locator("#wl-avatar").press("Tab")
    expect(page.locator("#wl-tags")).to_contain_text("avatar must be an https://", timeout=WAIT)


def test_records_upload_preview_import_and_delete(page: Page, admin_url, shop, tmp_path, artifacts_dir) -> None:
    page.set_viewport_size(VIEWPORTS["desktop"])
    sign_in(page, admin_url, shop.created.admin_email)
    page.goto(f"{admin_url}/records")
    expect(page.locator("#rec-list")).to_contain_text("No record collections yet", timeout=WAIT)
    orders = tmp_path / "orders.csv"
    orders.write_bytes(ORDERS)
    page.locator("#rec-upload input[type=file]").set_input_files(str(orders))
    expect(page.locator("#rec-preview")).to_contain_text("Preview: 3 of 3 records, key column order_id", timeout=WAIT)
    expect(page.locator("#rec-preview")).to_contain_text("Shipped 已发货")
    expect(page.locator("#rec-owner")).to_contain_text("customer_id")  # guessed from its name
    page.click("#rec-import")
    expect(page.locator("#rec-import-result")).to_contain_text("Imported 3 records into 'orders'", timeout=WAIT)
    expect(page.locator("#rec-list")).to_contain_text("Only the signed-in customer in the owner column")
    with tenant_session_sync(shop.id) as session:
        stored = session.scalars(select(RecordCollection)).one()
        assert (stored.row_count, stored.owner_column, stored.access) == (3, "customer_id", "owner")

    page.locator("#rec-list .ag-row .ag-selection-checkbox input").first.check()
    expect(page.locator("#rec-sample")).to_contain_text("10023", timeout=WAIT)
    expect(page.locator("#rec-delete")).to_be_enabled()
    # Who may read it changes without a new upload: no owner column, anyone may ask (a catalogue).
    page.locator("#rec-access-owner").click()
    option = page.get_by_role("option", name="none", exact=True)
    expect(option).to_be_visible(timeout=WAIT)
    option.click()
    expect(page.locator("#rec-access-owner")).to_contain_text("none", timeout=WAIT)
    page.locator("#rec-access-public input").check()
    page.click("#rec-access-save")
    expect(page.locator("#rec-access-result")).to_contain_text("Saved: Anyone who asks", timeout=WAIT)
    expect(page.locator("#rec-list")).to_contain_text("Anyone who asks")
    page.screenshot(path=str(artifacts_dir / "dash-records-access-en-desktop.png"), full_page=True)
    page.click("#rec-delete")
    expect(page.locator("#rec-delete-result")).to_contain_text("Deleted the collection 'orders'", timeout=WAIT)
    with tenant_session_sync(shop.id) as session:
        assert session.scalars(select(RecordCollection)).all() == []


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_screenshots(browser: Browser, admin_url, shop, artifacts_dir, tmp_path, lang: str, size: str) -> None:
    context = browser.new_context(viewport=VIEWPORTS[size], locale="zh-CN" if lang == "zh" else "en-US")
    page = context.new_page()
    try:
        sign_in(page, admin_url, shop.created.admin_email, lang)
        page.goto(f"{admin_url}/settings")
        expect(preview(page).locator("kefu-chat .panel")).to_be_visible(timeout=WAIT)
        page.locator(".widget-settings").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / f"dash-widget-settings-{lang}-{size}.png"))
        page.locator("#wl-tags").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / f"dash-widget-tag-{lang}-{size}.png"))
        page.goto(f"{admin_url}/records")
        orders = tmp_path / "orders.csv"
        orders.write_bytes(ORDERS)
        page.locator("#rec-upload input[type=file]").set_input_files(str(orders))
        expect(page.locator("#rec-preview .ag-row").first).to_be_visible(timeout=WAIT)
        page.screenshot(path=str(artifacts_dir / f"dash-records-{lang}-{size}.png"), full_page=True)
    finally:
        context.close()
