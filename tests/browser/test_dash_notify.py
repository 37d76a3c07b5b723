"""Settings → office hours and webhooks in the admin app, in headless Chromium, English and Chinese,
desktop and phone: set hours, add a webhook (its secret shown once), see its deliveries. Screenshots
go to the artifacts directory."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from chat import service_hours
from core.db import tenant_session_sync
from tests.factories import make_tenant
from tests.support.admin_sign_in import WAIT, sign_in
from tests.support.receivers import webhook_receiver
from tests.support.views import EVERY_VIEW

pytestmark = pytest.mark.integration
WORDS = {
    "en": {"saved": "Saved.", "copy": "Copy the signing secret now", "closed": "Closed now"},
    "zh": {"saved": "已保存。", "copy": "请立即复制签名密钥", "closed": "当前不在营业时间内"},
}


@EVERY_VIEW
def test_office_hours_and_a_webhook_from_the_settings_page(
    page: Page, admin_url, artifacts_dir, lang, viewport
) -> None:
    tenant = make_tenant("Hours")
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    sign_in(page, admin_url, tenant.created.admin_email, lang, "/settings")
    hours = page.locator("#office-hours")
    expect(hours).to_be_visible(timeout=WAIT)
    page.locator("#hours-enabled input").check()
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
        page.fill(f"#hours-{day}", "")
    page.click("#hours-save")
    expect(page.locator("#hours-result")).to_contain_text(WORDS[lang]["saved"], timeout=WAIT)
    expect(page.locator("#hours-state")).to_have_text(WORDS[lang]["closed"])
    with tenant_session_sync(tenant.id) as session:
        saved = service_hours.load_sync(session, tenant.id)
    assert saved.office_hours_enabled and saved.hours["mon"] == []
    hours.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / f"dash-office-hours-{lang}-{viewport[0]}.png"))
    with webhook_receiver() as receiver:
        page.fill("#hooks-url", receiver.url)
        page.click("#hooks-add")
        expect(page.locator("#hooks-result")).to_contain_text(WORDS[lang]["copy"], timeout=WAIT)
        expect(page.locator("#hooks-secret")).to_contain_text("whsec_")
    expect(page.locator("#hooks-table")).to_contain_text(receiver.url)
    page.locator("#webhooks").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / f"dash-webhooks-{lang}-{viewport[0]}.png"))
