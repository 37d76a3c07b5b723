"""Accuracy → Grounded answers in headless Chromium: the grounded rate per day and the flagged answers,
in English and Chinese, desktop and phone. Screenshots go to the artifacts directory."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.factories import TenantCtx, make_tenant
from tests.support.admin_sign_in import WAIT, sign_in
from tests.support.analytics_seed import add_checked_answers
from tests.support.views import EVERY_VIEW

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def shop() -> TenantCtx:
    ctx = make_tenant("Grounded shop")
    add_checked_answers(ctx.id)
    return ctx


@EVERY_VIEW
def test_grounded_rate_and_flagged_answers(page: Page, admin_url, shop, artifacts_dir, lang, viewport) -> None:
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    sign_in(page, admin_url, shop.created.admin_email, lang, "/accuracy")
    section = page.locator("#grounded")
    expect(section.locator("h3")).to_have_text("有依据的回答" if lang == "zh" else "Grounded answers", timeout=WAIT)
    expect(section.locator(".js-plotly-plot .bars").first).to_be_visible(timeout=WAIT)
    expect(section.locator("#acc-flagged")).to_contain_text("Shipping back is free of charge.", timeout=WAIT)
    expect(section.locator("#acc-flagged")).to_contain_text("我们还赠送一张二十元优惠券。")
    legend = section.locator(".legend")
    expect(legend).to_contain_text("有依据率" if lang == "zh" else "Grounded rate")
    section.scroll_into_view_if_needed()
    section.screenshot(path=str(artifacts_dir / f"dash-grounded-{lang}-{viewport[0]}.png"))
    assert not [e for e in page.console_errors if "favicon" not in e]  # type: ignore[attr-defined]
