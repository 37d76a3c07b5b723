"""Voice questions in the widget: Chromium records a real spoken question from its fake microphone
(espeak-ng's WAV played as the capture device), MediaRecorder's WebM goes to `POST /api/v1/chat/audio`,
the local speech server (OpenAI's wire protocol) returns the transcript, and the widget shows it as
the customer's message, then the answer. English and Chinese; the microphone is hidden when the
tenant has voice off or the browser cannot record."""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from chat.commands import save_bot_settings
from core.settings import get_settings
from core.tenancy import create_tenant
from knowledge.commands import upload_document
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.widget_server import free_port, running_api, site_page, tenant_site
from tests.factories import qa_csv
from tests.support.fake_speech import FakeSpeech, heard

pytestmark = pytest.mark.integration
DESKTOP, PHONE = {"width": 1440, "height": 930}, {"width": 390, "height": 844}


@dataclass
class VoiceShop:
    api: str
    site: str
    tenant_id: uuid.UUID
    speech: FakeSpeech
    pages: dict[str, bytes]


@pytest.fixture(scope="module")
def voice_shop(tmp_path_factory) -> VoiceShop:
    speech = FakeSpeech().start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KEFU_TRANSCRIPTION_BASE_URL", speech.base_url)
        patch.setenv("KEFU_TRANSCRIPTION_API_KEY", "operator-speech-key")
        get_settings.cache_clear()
        port = free_port()
        pages: dict[str, bytes] = {}
        with tenant_site(pages) as site_port:
            site = f"http://127.0.0.1:{site_port}"
            suffix = uuid.uuid4().hex[:8]
            created = create_tenant(f"Voice shop {suffix}", f"owner-{suffix}@example.com", "password-123",
                                    origins=[f"http://127.0.0.1:{port}", site])
            faq = qa_csv([("R1", "What is your return policy?", "Unopened items can be returned within 14 days."),
                          ("R2", "退货政策是什么？", "未拆封的商品可在 14 天内退货。")])
            upload_document(created.tenant_id, "faq.csv", faq, inline=True)
            with running_api(port) as api:
                for lang in ("en", "zh"):
                    pages[f"/{lang}.html"] = site_page(f"{api}/widget/kefu.js", created.widget_key, lang=lang,
                                                       title="Lotus Tea House" if lang == "en" else "莲花茶舍")
                yield VoiceShop(api, site, created.tenant_id, speech, pages)
    speech.stop()
    get_settings.cache_clear()


def spoken(tmp_path: Path, text: str, voice: str) -> Path:
    out = tmp_path / f"{voice}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(out), text], check=True, capture_output=True)
    return out


@pytest.mark.parametrize(("lang", "said", "answer_words", "recording_words"), [
    ("en", "What is your return policy?", "within 14 days", "Recording"),
    ("zh", "退货政策是什么？", "14 天内退货", "正在录音"),
])
def test_a_question_asked_by_voice_shows_its_transcript_then_the_answer(
        voice_shop, tmp_path, artifacts_dir, lang, said, answer_words, recording_words) -> None:
    wav = spoken(tmp_path, said, "zh" if lang == "zh" else "en")
    voice_shop.speech.queue.clear()
    voice_shop.speech.script(heard(said), heard(said))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            *CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}"])
        try:
            for size, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
                context = browser.new_context(viewport=size)
                context.grant_permissions(["microphone"], origin=voice_shop.site)
                page = context.new_page()
                errors: list[str] = []  # the tenant site has no favicon: judge the API's answers instead
                page.on("console", lambda m, e=errors: e.append(m.text)
                        if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
                page.on("response", lambda r, e=errors: e.append(f"{r.status} {r.url}")
                        if r.url.startswith(voice_shop.api) and r.status >= 400 else None)
                ask_by_voice(page, f"{voice_shop.site}/{lang}.html", recording_words, artifacts_dir,
                             f"widget-voice-{lang}-{name}")
                customer = page.locator("kefu-chat .msg.customer.voice").last
                expect(customer.locator(".bubble")).to_have_text(said)
                expect(page.locator("kefu-chat .msg.bot[data-message-id]").last).to_contain_text(answer_words)
                page.screenshot(path=str(artifacts_dir / f"widget-voice-{lang}-{name}.png"))
                if name == "desktop":  # after a reload the history still marks the question as spoken
                    page.reload()
                    if page.locator("kefu-chat .panel").is_hidden():
                        page.locator("kefu-chat .launcher").click()
                    expect(page.locator("kefu-chat .msg.customer.voice .bubble")).to_have_text(said)
                assert errors == []
                context.close()
        finally:
            browser.close()
    sent = voice_shop.speech.requests[-1]
    assert sent.content_type == "audio/webm" and sent.filename == "question.webm"
    assert sent.audio[:4] == b"\x1a\x45\xdf\xa3" and sent.fields["language"] == lang


def ask_by_voice(page: Page, url: str, recording_words: str, artifacts_dir: Path, shot: str) -> None:
    page.goto(url)
    page.locator("kefu-chat .launcher").click()
    mic = page.locator("kefu-chat .mic")
    expect(mic).to_be_visible()
    mic.click()
    state = page.locator("kefu-chat .recording")
    expect(state).to_be_visible()
    expect(state).to_contain_text(recording_words)
    page.wait_for_timeout(2500)  # let MediaRecorder capture the spoken question (about 2 s of audio)
    page.screenshot(path=str(artifacts_dir / f"{shot}-recording.png"))
    mic.click()
    expect(state).to_be_hidden()


def test_the_microphone_is_hidden_without_voice_or_without_mediarecorder(voice_shop, page: Page) -> None:
    url = f"{voice_shop.site}/en.html"
    page.add_init_script("delete window.MediaRecorder")  # a browser that cannot record
    page.goto(url)
    page.locator("kefu-chat .launcher").click()
    expect(page.locator("kefu-chat .msg.greeting")).to_be_visible()
    expect(page.locator("kefu-chat .mic")).to_be_hidden()
    save_bot_settings(voice_shop.tenant_id, {"voice": False})
    try:
        fresh = page.context.browser.new_page()  # type: ignore[union-attr]
        fresh.goto(url)
        fresh.locator("kefu-chat .launcher").click()
        expect(fresh.locator("kefu-chat .msg.greeting")).to_be_visible()
        expect(fresh.locator("kefu-chat .mic")).to_be_hidden()
        assert fresh.evaluate("() => typeof MediaRecorder") == "function"  # the browser could record
        fresh.close()
    finally:
        save_bot_settings(voice_shop.tenant_id, {"voice": True})
