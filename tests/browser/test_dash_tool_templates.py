"""Settings → HTTP tools in headless Chromium: start from the weather preset, add it, and see the order
status preset ask for the shop's own address, in English and Chinese, desktop and phone. Screenshots go
to the artifacts directory."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.factories import make_tenant
from tests.support.admin_sign_in import WAIT, sign_in
from tests.support.views import EVERY_VIEW

pytestmark = pytest.mark.integration


@EVERY_VIEW
def test_add_a_tool_from_a_template(page: Page, admin_url, artifacts_dir, lang, viewport) -> None:
    tenant = make_tenant(f"Tools {lang} {viewport[0]}")
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    sign_in(page, admin_url, tenant.created.admin_email, lang, "/settings")
    picker = page.locator("#tools-template")
    expect(picker).to_be_visible(timeout=WAIT)
    picker.click()
    page.get_by_text("订单状态（您自己的接口）" if lang == "zh" else "Order status (your own API)", exact=True).click()
    expect(page.locator("#tools-spec")).to_contain_text("shop.example.com/api/orders/{order_id}", timeout=WAIT)
    expect(page.locator("#tools-template-hint")).to_contain_text("shop.example.com")
    page.click("#tools-add")
    expect(page.locator("#tools-result")).to_contain_text("set url_template", timeout=WAIT)

    picker.click()
    page.get_by_text(
        "天气（Open-Meteo，无需密钥）" if lang == "zh" else "Weather (Open-Meteo, no key)", exact=True
    ).click()
    expect(page.locator("#tools-spec")).to_contain_text("api.open-meteo.com", timeout=WAIT)
    page.click("#tools-add")
    expect(page.locator("#tools-table")).to_contain_text("weather", timeout=WAIT)
    section = page.locator("#tools-table").locator("xpath=ancestor::section[1]")
    section.scroll_into_view_if_needed()
    section.screenshot(path=str(artifacts_dir / f"dash-tool-templates-{lang}-{viewport[0]}.png"))
    assert not [e for e in page.console_errors if "favicon" not in e]  # type: ignore[attr-defined]
