"""Website sources in the admin app, in headless Chromium: add a local site, watch it crawl, read each
page's result, in English and Chinese, on a desktop and a phone. Screenshots go to the artifacts directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.factories import TenantCtx, make_tenant
from tests.support.website import Page as SitePage
from tests.support.website import Website, html

pytestmark = pytest.mark.integration
PASSWORD = "password-123"
WAIT = 30_000


@pytest.fixture
def site() -> Iterator[Website]:
    with Website() as website:
        website.add("/robots.txt", SitePage(b"User-agent: *\nAllow: /\n", content_type="text/plain"))
        website.add("/", html("Teapot Shop", "<h1>Teapot Shop</h1><p>Handmade teapots, shipped worldwide.</p>",
                              links=["/returns", "/zh/shipping", "/missing"]))
        website.add("/returns", html("Returns", "<h1>Returns</h1><p>Return unused teapots within 30 days.</p>"))
        website.add("/zh/shipping", html("配送说明", "<h1>配送说明</h1><p>全国包邮，三个工作日内发货。</p>", lang="zh"))
        yield website


def sign_in(page: Page, base: str, tenant: TenantCtx, lang: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#email", tenant.created.admin_email)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    expect(page.locator("#who")).to_contain_text(tenant.created.admin_email, timeout=WAIT)
    if lang == "zh":
        # Switched while no callback is in flight: a callback answered after the switch re-sends the
        # session cookie it started with (Flask refreshes it on every request), undoing the choice.
        page.wait_for_load_state("networkidle")
        page.click("a.lang")
        expect(page.locator("#nav-knowledge")).to_have_text("知识库", timeout=WAIT)
    page.goto(f"{base}/knowledge")


@pytest.mark.parametrize(("lang", "viewport"), [("en", (1280, 900)), ("zh", (390, 844))], ids=["en-desktop", "zh-phone"])
def test_add_a_website_and_watch_each_pages_result(page: Page, admin_url, site, stub_worker, artifacts_dir,
                                                   lang, viewport) -> None:
    tenant = make_tenant("Teahouse")
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    sign_in(page, admin_url, tenant, lang)
    page.fill("#src-url", site.url + "/")
    page.fill("#src-include", "")
    page.click("#src-add")
    words = {"ready": "就绪", "indexed": "已索引", "weekly": "每周"} if lang == "zh" else {}
    row = page.locator("#src-table .ag-row", has_text=site.url)
    expect(row).to_contain_text(words.get("ready", "ready"), timeout=WAIT)
    expect(page.locator("#src-delete")).to_be_disabled()  # nothing selected: nothing to delete
    row.locator(".ag-selection-checkbox input").check()
    expect(page.locator("#src-sync")).to_be_enabled(timeout=WAIT)
    pages = page.locator("#src-pages")
    expect(pages).to_contain_text(site.url + "/returns", timeout=WAIT)
    expect(pages).to_contain_text(words.get("indexed", "indexed"))
    expect(pages).to_contain_text("broken link")  # /missing answered 404: the reason is shown
    expect(page.locator("#src-table")).to_contain_text(words.get("weekly", "weekly"))
    page.locator("#sources").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / f"dash-sources-{lang}-{viewport[0]}.png"), full_page=True)
    if lang == "zh":
        expect(page.locator("#sources h3")).to_have_text("网站来源")
    assert page.console_errors == []  # type: ignore[attr-defined]
