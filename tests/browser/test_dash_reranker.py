"""Settings → Reranker in headless Chromium: a bad URL is refused with a message, then the tenant's
own `/rerank` endpoint, model and key are saved, tested against a local server speaking the real
wire format, and reorder the tenant's search; the key never comes back to the page; English and
Chinese, desktop and phone. Screenshots go to the artifacts directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from core.settings import get_settings
from knowledge.retrieval import retrieve_sync
from tests.browser.test_dash_model import sign_in
from tests.factories import make_tenant, qa_csv
from tests.support.fake_reranker import DELIVERY_FAQ
from tests.support.views import EVERY_VIEW

pytestmark = pytest.mark.integration
WAIT = 30_000
KEY = "rr-browser-key-42"
FAQ = DELIVERY_FAQ[:2]


@pytest.fixture
def lan_reranker(monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("KEFU_LLM_ALLOW_PRIVATE_HOSTS", "true")  # the fake endpoint is on 127.0.0.1
    monkeypatch.setenv("KEFU_RERANK_URL", "")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def indexed_shop(name: str):
    from knowledge import commands

    tenant = make_tenant(name)
    commands.upload_document(tenant.id, "faq.csv", qa_csv(FAQ), inline=True)
    return tenant


@EVERY_VIEW
def test_set_test_and_use_the_tenants_reranker(page: Page, admin_url, lan_reranker, fake_reranker, artifacts_dir,
                                               lang, viewport) -> None:
    tenant = indexed_shop(f"Rerank {lang} {viewport[0]}")
    question = "How long does delivery take?"
    assert retrieve_sync(tenant.id, question, 2)[0].source_ref == "D1"
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    sign_in(page, admin_url, tenant.created.admin_email, lang)
    section = page.locator("#reranker")
    expect(section).to_be_visible(timeout=WAIT)
    none = "这里和运营方都没有设置重排序模型" if lang == "zh" else "No reranker is set, here or by the operator"
    expect(page.locator("#rr-status")).to_contain_text(none)

    page.fill("#rr-url", "ftp://rerank.example.com/rerank")
    page.click("#rr-save")
    bad = "必须以 http:// 或 https:// 开头" if lang == "zh" else "must start with http:// or https://"
    expect(page.locator("#rr-result")).to_contain_text(bad, timeout=WAIT)

    page.fill("#rr-url", fake_reranker.url)
    page.fill("#rr-model", "bge-reranker-v2-m3")
    page.fill("#rr-api-key", KEY)
    page.click("#rr-save")
    saved = "已保存。新的回答将按此设置排序。" if lang == "zh" else "Saved. New answers are ranked with these settings."
    expect(page.locator("#rr-result")).to_contain_text(saved, timeout=WAIT)
    expect(page.locator("#rr-api-key")).to_have_value("")  # the key never comes back to the page
    own = "在填写拟合曲线之前" if lang == "zh" else "until you enter its fitted curve"
    expect(page.locator("#rr-status")).to_contain_text(own)

    page.reload()
    hint = "已保存密钥；输入新密钥即可替换" if lang == "zh" else "A key is saved; type a new one to replace it"
    expect(page.locator("#rr-api-key")).to_have_attribute("placeholder", hint, timeout=WAIT)
    assert KEY not in page.content()

    fake_reranker.mode = "error"
    page.click("#rr-test")
    failed = "接口返回 HTTP 500" if lang == "zh" else "The endpoint answered HTTP 500"
    expect(page.locator("#rr-result")).to_contain_text(failed, timeout=WAIT)
    fake_reranker.mode = "ok"
    page.click("#rr-test")
    expect(page.locator("#rr-result")).to_contain_text("连接成功" if lang == "zh" else "Connected", timeout=WAIT)
    expect(page.locator("#rr-result")).to_contain_text("bge-reranker-v2-m3")
    assert fake_reranker.requests[-1]["authorization"] == f"Bearer {KEY}"

    page.fill("#rr-centre", "0.3")
    page.fill("#rr-scale", "0.05")
    page.click("#rr-save")
    expect(page.locator("#rr-result")).to_contain_text(saved, timeout=WAIT)
    fitted = "置信度按其拟合曲线计算" if lang == "zh" else "its fitted curve gives the confidence"
    expect(page.locator("#rr-status")).to_contain_text(fitted)
    fake_reranker.favour = ["Saturdays"]
    top = retrieve_sync(tenant.id, question, 2)[0]
    assert top.source_ref == "D2" and top.curve == (0.3, 0.05)
    page.add_style_tag(content=".topbar { position: static !important; }")  # no sticky bar over the shot
    section.scroll_into_view_if_needed()
    section.screenshot(path=str(artifacts_dir / f"dash-reranker-{lang}-{viewport[0]}.png"))

    page.locator("#rr-on input").uncheck()
    page.click("#rr-save")
    off = "重排序已关闭" if lang == "zh" else "The reranker is off"
    expect(page.locator("#rr-status")).to_contain_text(off, timeout=WAIT)
    assert retrieve_sync(tenant.id, question, 2)[0].source_ref == "D1"
    assert not [e for e in page.console_errors if "favicon" not in e]  # type: ignore[attr-defined]
