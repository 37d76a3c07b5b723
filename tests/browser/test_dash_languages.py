"""Every admin page in Chinese and English in headless Chromium, desktop and phone.

In Chinese mode a detector reads every visible text node (chart text included), placeholder and
title on each page and fails on any Latin word that is not a product name or unit on a short
allow-list: an English string someone forgot to translate. The tenant's own data (questions,
answers, names, emails) is marked `user-text` and is not read; table cells are checked only for raw
values (True, None, NaN, long floats). In both languages the pages are screenshotted for review.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from dash_app.pages import PAGES
from tests.browser import test_dash_admin as dash_admin

PASSWORD, WAIT = dash_admin.PASSWORD, dash_admin.WAIT
# The admin app and the shop with a week of conversations from test_dash_admin, as this module's fixtures.
week_shop = dash_admin.shop


@pytest.fixture(scope="module")
def admin_app(admin_url: str) -> str:
    return admin_url


pytestmark = pytest.mark.integration

DESKTOP = {"width": 1440, "height": 930}
PHONE = {"width": 390, "height": 844}

# Names and units that stay Latin in Chinese text, as Chinese software writes them.
ALLOWED = {
    "kefu",
    "faq",
    "api",
    "csv",
    "xlsx",
    "json",
    "pdf",
    "docx",
    "html",
    "txt",
    "markdown",
    "parquet",
    "auc",
    "csat",
    "mrr",
    "top",
    "url",
    "http",
    "https",
    "redis",
    "p50",
    "p95",
    "p90",
    "english",
    "openai",
    "hmac",
    "sha256",
    "hex",
    "utc",
    "kb",
    "mb",
    "bom",
    "excel",
    "crm",
    "id",
    "top-1",
    "hmac-sha256",
    "webhook",
    "post",
    # speech-to-text products and model names (Settings → voice questions)
    "whisper",
    "whisper-1",
    "faster-whisper",
    "groq",
    # reranker servers and the `/rerank` API they speak (Settings → Reranker)
    "rerank",
    "hugging",
    "face",
    "tei",
    "jina",
    "cohere",
    "infinity",
    "vllm",
}
# Raw values that must never reach a reader in either language.
RAW = re.compile(r"^(True|False|None|nan|NaN|null|undefined|\d+\.\d{4,})$")

COLLECT = """() => {
  // The tenant's data, code, and what a user types (input and textarea values) are not the app's words.
  const skip = (el) => el.closest('.user-text, script, style, noscript, pre, code, textarea, .snippet, .dash-cell,'
      + ' .ag-cell, .modebar');
  const shown = (el) => {
    if (!el.getClientRects().length) return false;
    const style = getComputedStyle(el);
    return style.visibility !== 'hidden' && style.display !== 'none' && parseFloat(style.opacity || '1') > 0;
  };
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (el && node.textContent.trim() && !skip(el) && shown(el)) texts.push(node.textContent.trim());
  }
  for (const el of document.querySelectorAll('[placeholder], [title], [aria-label]')) {
    if (skip(el) || !shown(el)) continue;
    for (const name of ['placeholder', 'title', 'aria-label']) {
      const value = el.getAttribute(name);
      if (value && value.trim()) texts.push(value.trim());
    }
  }
  const cells = [...document.querySelectorAll('.dash-cell, .ag-cell')].filter(shown).map((c) => c.innerText.trim());
  return {texts, cells};
}"""


def untranslated(texts: list[str]) -> list[str]:
    """Latin words outside the allow-list; code-like tokens (paths, a-b-c names, e-mails, zones) are skipped."""
    found = []
    for text in texts:
        for token in re.findall(r"[A-Za-z][A-Za-z0-9_./@:+*-]*", re.sub(r"</?[a-z]+>", "", text)):
            if any(mark in token for mark in "/.@_:*") or token.count("-") >= 2:
                continue
            if len(token) > 1 and token.lower() not in ALLOWED:
                found.append(f"{token!r} in {text[:80]!r}")
    return found


def open_signed_in(browser, base: str, email: str, *, lang: str, viewport: dict[str, int]) -> Page:
    context = browser.new_context(
        viewport=viewport, locale="zh-CN" if lang == "zh" else "en-US", timezone_id="Asia/Shanghai"
    )
    page = context.new_page()
    page.goto(f"{base}/login")
    expect(page.locator("#sign-in")).to_have_text("登录" if lang == "zh" else "Sign in")  # the browser's language
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    expect(page.locator("#who")).to_contain_text(email, timeout=WAIT)
    return page


def visit(page: Page, base: str, path: str) -> None:
    page.goto(base + path)
    expect(page.locator("#page h2").first).to_be_visible(timeout=WAIT)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(400)  # Plotly draws after the last response


def test_every_page_in_chinese_has_no_untranslated_words(browser, admin_app, week_shop, artifacts_dir):
    page = open_signed_in(browser, admin_app, week_shop.created.admin_email, lang="zh", viewport=DESKTOP)
    problems: dict[str, list[str]] = {}
    for info in PAGES:
        visit(page, admin_app, info.path)
        seen = page.evaluate(COLLECT)
        words = untranslated(seen["texts"])
        raw = [cell for cell in seen["cells"] if RAW.match(cell)]
        if words or raw:
            problems[info.path] = words + [f"raw value {cell!r}" for cell in raw]
        page.screenshot(path=str(artifacts_dir / f"dash-zh-desktop-{info.slug}.png"), full_page=True)
    assert problems == {}, "\n".join(f"{path}: {', '.join(found[:15])}" for path, found in problems.items())
    page.context.close()


def test_the_detector_sees_an_english_word_in_chinese_mode(browser, admin_app, week_shop):
    page = open_signed_in(browser, admin_app, week_shop.created.admin_email, lang="zh", viewport=DESKTOP)
    visit(page, admin_app, "/")
    page.evaluate(
        "() => { const p = document.createElement('p'); p.textContent = '共 3 个 Conversations';"
        " document.querySelector('#page').appendChild(p); }"
    )
    assert untranslated(page.evaluate(COLLECT)["texts"]) == ["'Conversations' in '共 3 个 Conversations'"]
    page.context.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pages_for_review_in_both_languages(browser, admin_app, week_shop, artifacts_dir, lang):
    """Desktop pictures of the main pages (the phone's are taken by the sideways-scroll test below)."""
    device = "desktop"
    page = open_signed_in(browser, admin_app, week_shop.created.admin_email, lang=lang, viewport=DESKTOP)
    for slug, path in (
        ("overview", "/"),
        ("conversations", "/conversations"),
        ("knowledge", "/knowledge"),
        ("settings", "/settings"),
    ):
        visit(page, admin_app, path)
        if slug == "overview":
            expect(page.locator("#onboarding")).to_contain_text("开始使用" if lang == "zh" else "Get started")
            expect(page.locator("#onb-invite")).to_have_class(re.compile(r"\bdone\b"))  # the week_shop has an analyst
            expect(page.locator("#ov-heatmap")).to_contain_text("Asia/Shanghai", timeout=WAIT)  # the browser's zone
        page.screenshot(path=str(artifacts_dir / f"dash-{lang}-{device}-{slug}.png"), full_page=slug != "knowledge")
    seen = page.evaluate(COLLECT)
    assert [cell for cell in seen["cells"] if RAW.match(cell)] == []
    page.context.close()


# Elements sticking out past the right edge of the window, outermost first (their insides follow them out).
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (!box.width || box.right <= width + 0.5) continue;
    let clipped = false;  // inside a box that scrolls or clips sideways (an AG Grid's body does): not the page's
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      const x = getComputedStyle(up).overflowX;
      if (x !== 'visible' && up.getBoundingClientRect().right <= width + 0.5) { clipped = true; break; }
    }
    if (clipped || out.some((o) => o.contains(el))) continue;
    out.push(el);
  }
  return {scrollWidth: document.documentElement.scrollWidth, width,
          offenders: out.slice(0, 8).map((el) => `${el.tagName.toLowerCase()}#${el.id}.${[...el.classList].join('.')}`
                                               + ` right=${Math.round(el.getBoundingClientRect().right)}`)};
}"""


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_no_page_scrolls_sideways_on_a_phone(browser, admin_app, week_shop, artifacts_dir, lang):
    """At 390 × 844 every page fits the width: tables scroll inside themselves, the page never does."""
    page = open_signed_in(browser, admin_app, week_shop.created.admin_email, lang=lang, viewport=PHONE)
    wide: dict[str, object] = {}
    for info in PAGES:
        visit(page, admin_app, info.path)
        measured = page.evaluate(OVERFLOW)
        if measured["scrollWidth"] > measured["width"]:
            wide[info.path] = measured
        page.screenshot(path=str(artifacts_dir / f"dash-{lang}-phone-{info.slug}.png"), full_page=True)
    assert wide == {}, "\n".join(f"{path}: {found}" for path, found in wide.items())
    page.context.close()
