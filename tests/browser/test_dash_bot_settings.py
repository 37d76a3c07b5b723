"""Settings → Bot in the admin app, in headless Chromium, English and Chinese, desktop and phone: the
"answer when one FAQ entry clearly leads" switch (bot setting `answer_clear_lead`, issue 18) is shown,
saved and read back. Screenshots go to the artifacts directory."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from chat.bot_settings import load_bot_settings_sync
from core.db import tenant_session_sync
from tests.browser.test_dash_sources import WAIT, sign_in
from tests.factories import make_tenant
from tests.support.views import EVERY_VIEW

pytestmark = pytest.mark.integration
WORDS = {
    "en": {"label": "Answer when one FAQ entry clearly leads", "saved": "Saved. New answers use these settings."},
    "zh": {"label": "某条问答明显领先时直接回答", "saved": "已保存，新的回答会使用这些设置。"},
}


@EVERY_VIEW
def test_the_clear_lead_switch_is_saved_from_the_bot_settings(
    page: Page, admin_url, artifacts_dir, lang, viewport
) -> None:
    tenant = make_tenant("ClearLead")
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    sign_in(page, admin_url, tenant, lang)
    page.goto(f"{admin_url}/settings")
    switch = page.locator("#set-clear-lead")
    expect(switch).to_contain_text(WORDS[lang]["label"], timeout=WAIT)
    box = page.locator("#set-clear-lead input")
    expect(box).to_be_checked()  # on by default
    box.uncheck()
    page.click("#set-save-bot")
    expect(page.locator("#set-bot-result")).to_contain_text(WORDS[lang]["saved"], timeout=WAIT)
    with tenant_session_sync(tenant.id) as session:
        assert load_bot_settings_sync(session, tenant.id).answer_clear_lead is False
    page.reload()
    expect(page.locator("#set-clear-lead input")).not_to_be_checked(timeout=WAIT)
    page.locator("#set-save-bot").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / f"dash-bot-clear-lead-{lang}-{viewport[0]}.png"))
