"""Settings → Model in headless Chromium: choose Gemini with a key, save, test the connection against a
local server speaking Gemini's API, in English and Chinese, desktop and phone. Screenshots go to the
artifacts directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from chat import model_choice
from core.settings import get_settings
from tests.factories import make_tenant
from tests.support import admin_sign_in
from tests.support.admin_sign_in import WAIT
from tests.support.fake_models import fake_gemini_fixture  # noqa: F401 - fixture
from tests.support.fake_openai import text
from tests.support.views import EVERY_VIEW

pytestmark = pytest.mark.integration
KEY = "AIza-browser-test-key-42"


@pytest.fixture
def lan_models(monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("KEFU_LLM_ALLOW_PRIVATE_HOSTS", "true")
    get_settings.cache_clear()
    model_choice._providers.clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
    model_choice._providers.clear()


def sign_in(page: Page, base: str, email: str, lang: str) -> None:
    """Signed in as `email` in `lang`, on Settings (test_dash_voice signs in this way too)."""
    admin_sign_in.sign_in(page, base, email, lang, "/settings")


@EVERY_VIEW
def test_choose_gemini_save_the_key_and_test_the_connection(
    page: Page, admin_url, lan_models, fake_gemini, artifacts_dir, lang, viewport
) -> None:
    tenant = make_tenant(f"Model {lang} {viewport[0]}")
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    sign_in(page, admin_url, tenant.created.admin_email, lang)
    model = page.locator("#model")
    expect(model).to_be_visible(timeout=WAIT)
    model.locator("#model-provider").click()
    page.get_by_text("Google Gemini", exact=True).click()
    page.fill("#model-name", "gemini-2.5-flash")
    page.fill("#model-base-url", fake_gemini.base_url)
    page.fill("#model-api-key", KEY)
    page.click("#model-save")
    saved = "已保存。新的回答将使用此模型。" if lang == "zh" else "Saved. New answers use this model."
    expect(page.locator("#model-result")).to_contain_text(saved, timeout=WAIT)
    expect(page.locator("#model-api-key")).to_have_value("")  # the key never comes back to the page

    page.reload()
    hint = "已保存密钥；输入新密钥即可替换" if lang == "zh" else "A key is saved; type a new one to replace it"
    expect(page.locator("#model-api-key")).to_have_attribute("placeholder", hint, timeout=WAIT)
    assert KEY not in page.content()

    fake_gemini.script(text("OK"))
    page.click("#model-test")
    connected = "连接成功" if lang == "zh" else "Connected"
    expect(page.locator("#model-result")).to_contain_text(connected, timeout=WAIT)
    expect(page.locator("#model-result")).to_contain_text("gemini-2.5-flash")
    assert fake_gemini.headers[-1]["x-goog-api-key"] == KEY
    page.locator("#model").scroll_into_view_if_needed()
    page.locator("#model").screenshot(path=str(artifacts_dir / f"dash-model-{lang}-{viewport[0]}.png"))
    page.screenshot(path=str(artifacts_dir / f"dash-model-page-{lang}-{viewport[0]}.png"))
    assert not [e for e in page.console_errors if "favicon" not in e]  # type: ignore[attr-defined]
