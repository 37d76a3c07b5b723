"""Settings → Voice questions in headless Chromium: turn voice on with the tenant's own speech-to-text
endpoint, model and key, save, test the connection against a local server speaking OpenAI's
`/audio/transcriptions`, and see the widget's microphone follow; English and Chinese, desktop and
phone. Screenshots go to the artifacts directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from chat import voice
from chat.bot_settings import load_bot_settings_sync
from core.db import tenant_session_sync
from core.settings import get_settings
from tests.browser.test_dash_model import sign_in
from tests.factories import make_tenant
from tests.support.fake_speech import error, heard
from tests.support.views import EVERY_VIEW

pytestmark = pytest.mark.integration
WAIT = 30_000
KEY = "gsk-browser-speech-key-42"


@pytest.fixture
def lan_speech(monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("KEFU_LLM_ALLOW_PRIVATE_HOSTS", "true")  # the fake endpoint is on 127.0.0.1
    monkeypatch.setenv("KEFU_TRANSCRIPTION_BASE_URL", "")
    monkeypatch.setenv("KEFU_TRANSCRIPTION_API_KEY", "")
    monkeypatch.setenv("KEFU_TRANSCRIPTION_MAX_RETRIES", "0")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def microphone_offered(tenant_id) -> bool:
    """What the widget's config says (`voice.available`), from the same function it calls."""
    with tenant_session_sync(tenant_id) as session:
        return voice.transcription_config(load_bot_settings_sync(session, tenant_id)) is not None


@EVERY_VIEW
def test_set_the_speech_endpoint_test_it_and_turn_voice_off(
    page: Page, admin_url, lan_speech, fake_speech, artifacts_dir, lang, viewport
) -> None:
    tenant = make_tenant(f"Voice {lang} {viewport[0]}")
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    sign_in(page, admin_url, tenant.created.admin_email, lang)
    section = page.locator("#voice")
    expect(section).to_be_visible(timeout=WAIT)
    no_endpoint = "这里和运营方都没有设置语音转文字接口" if lang == "zh" else "No speech-to-text endpoint is set"
    expect(page.locator("#voice-status")).to_contain_text(no_endpoint)
    assert not microphone_offered(tenant.id)

    page.fill("#voice-base-url", fake_speech.base_url)
    page.fill("#voice-model", "whisper-large-v3-turbo")
    page.fill("#voice-api-key", KEY)
    page.click("#voice-save")
    saved = "已保存。聊天窗口的麦克风将按此设置显示。" if lang == "zh" else "Saved. The chat's microphone follows"
    expect(page.locator("#voice-result")).to_contain_text(saved, timeout=WAIT)
    expect(page.locator("#voice-api-key")).to_have_value("")  # the key never comes back to the page
    own = "顾客可以看到麦克风；录音发送到下方的接口。" if lang == "zh" else "their recordings go to the endpoint below"
    expect(page.locator("#voice-status")).to_contain_text(own)
    assert microphone_offered(tenant.id)

    page.reload()
    hint = "已保存密钥；输入新密钥即可替换" if lang == "zh" else "A key is saved; type a new one to replace it"
    expect(page.locator("#voice-api-key")).to_have_attribute("placeholder", hint, timeout=WAIT)
    assert KEY not in page.content()

    fake_speech.script(error(401, "Incorrect API key provided"))
    page.click("#voice-test")
    failed = "接口返回 HTTP 401" if lang == "zh" else "The endpoint answered HTTP 401: Incorrect API key provided"
    expect(page.locator("#voice-result")).to_contain_text(failed, timeout=WAIT)
    fake_speech.script(heard(""))
    page.click("#voice-test")
    connected = "连接成功" if lang == "zh" else "Connected"
    expect(page.locator("#voice-result")).to_contain_text(connected, timeout=WAIT)
    expect(page.locator("#voice-result")).to_contain_text("whisper-large-v3-turbo")
    assert fake_speech.requests[-1].authorization == f"Bearer {KEY}"
    section.scroll_into_view_if_needed()
    section.screenshot(path=str(artifacts_dir / f"dash-voice-{lang}-{viewport[0]}.png"))

    page.locator("#voice-on input").uncheck()
    page.click("#voice-save")
    off = "语音提问已关闭" if lang == "zh" else "Voice is off: the chat shows no microphone."
    expect(page.locator("#voice-status")).to_contain_text(off, timeout=WAIT)
    assert not microphone_offered(tenant.id)
    assert not [e for e in page.console_errors if "favicon" not in e]  # type: ignore[attr-defined]
