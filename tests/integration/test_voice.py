"""Voice questions: `POST /api/v1/chat/audio` with real recordings (espeak-ng), transcribed through the
real `openai` SDK by a local server speaking OpenAI's `/audio/transcriptions` protocol, answered by
the same engine as typed questions, the recording kept and erased with its conversation."""

from __future__ import annotations

import io
import shutil
import subprocess
import uuid
import wave
from pathlib import Path

import pytest
from sqlalchemy import select, update

from analytics import commands as analytics_commands
from core.blobstore import get_blob_store
from core.db import tenant_session_sync
from core.models import Conversation, Message, Tenant
from core.settings import get_settings
from tests.factories import TenantCtx, qa_csv
from tests.support.fake_speech import error, hang, heard

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "audio"


def speak(tmp_path: Path, text: str, voice: str = "en") -> bytes:
    """A real spoken recording (espeak-ng, 16-bit PCM WAV)."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is required for the voice tests (apt-get install espeak-ng; .ci/run installs it)")
    out = tmp_path / f"{uuid.uuid4().hex}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(out), text], check=True, capture_output=True)
    return out.read_bytes()


def silence_wav(seconds: float, rate: int = 4000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * int(seconds * rate))
    return buffer.getvalue()


@pytest.fixture
def speech(fake_speech, monkeypatch):
    monkeypatch.setenv("KEFU_TRANSCRIPTION_BASE_URL", fake_speech.base_url)
    monkeypatch.setenv("KEFU_TRANSCRIPTION_API_KEY", "operator-speech-key")
    monkeypatch.setenv("KEFU_TRANSCRIPTION_MODEL", "whisper-test")
    monkeypatch.setenv("KEFU_TRANSCRIPTION_TIMEOUT_SECONDS", "1.5")
    monkeypatch.setenv("KEFU_TRANSCRIPTION_MAX_RETRIES", "0")
    get_settings.cache_clear()
    yield fake_speech
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
async def shop(client, tenant: TenantCtx, stub_worker) -> TenantCtx:
    faq = qa_csv([("F1", "How long does delivery take?", "Two to four working days."),
                  ("F2", "What is your return policy?", "Unopened items within 14 days."),
                  ("F3", "退货政策是什么？", "未拆封的商品可在14天内退货。")])
    assert (await client.post("/api/v1/documents", headers=tenant.admin,
                              files={"file": ("faq.csv", faq)})).status_code == 202
    stub_worker()
    return tenant


async def ask_audio(client, tenant: TenantCtx, audio: bytes, *, name: str = "question.wav",
                    content_type: str = "audio/wav", **fields: str):
    form = {"visitor_id": "v_voice_1", **fields}
    return await client.post("/api/v1/chat/audio", headers={"X-Widget-Key": tenant.created.widget_key},
                             files={"file": (name, audio, content_type)}, data=form)


def stored_question(tenant: TenantCtx, message_id: str) -> Message:
    with tenant_session_sync(tenant.id) as session:
        return session.get(Message, uuid.UUID(message_id))


async def test_a_spoken_question_is_transcribed_answered_and_kept(client, shop, speech, tmp_path) -> None:
    audio = speak(tmp_path, "How long does delivery take?")
    speech.script(heard("How long does delivery take?"))
    response = await ask_audio(client, shop, audio, language="en")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["transcript"] == "How long does delivery take?"
    assert "Two to four working days." in body["answer"]
    assert body["citations"][0]["source_ref"] == "F1"
    # OpenAI's wire protocol, as the real SDK sent it
    sent = speech.requests[-1]
    assert sent.fields["model"] == "whisper-test" and sent.fields["language"] == "en"
    assert sent.audio == audio and sent.filename == "question.wav" and sent.content_type == "audio/wav"
    assert sent.authorization == "Bearer operator-speech-key"
    # the transcript is the customer's message, the recording is kept beside it
    with tenant_session_sync(shop.id) as session:
        question = session.scalars(select(Message).where(Message.reply_to.is_(None), Message.role == "customer",
                                                         Message.conversation_id == uuid.UUID(body["conversation_id"]))
                                   ).one()
    assert question.text == "How long does delivery take?"
    kept = question.meta["voice"]
    assert kept["container"] == "wav" and kept["codec"] == "pcm" and 1.0 < kept["seconds"] < 5.0
    assert kept["audio_key"] == f"tenants/{shop.id}/audio/{body['conversation_id']}/{question.id}.wav"
    assert get_blob_store().get(kept["audio_key"]) == audio
    history = (await client.get(f"/api/v1/chat/conversations/{body['conversation_id']}/messages",
                                headers={"X-Widget-Key": shop.created.widget_key},
                                params={"visitor_id": "v_voice_1"})).json()["messages"]
    assert [(m["role"], m.get("voice")) for m in history] == [("customer", True), ("assistant", None)]
    assert "audio_key" not in str(history)  # where the recording is kept stays with the tenant


async def test_a_chinese_question_is_answered_in_chinese(client, shop, speech, tmp_path) -> None:
    audio = speak(tmp_path, "退货政策是什么？", voice="zh")
    speech.script(heard("退货政策是什么？"))
    response = await ask_audio(client, shop, audio, language="zh")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["transcript"] == "退货政策是什么？" and "14天内退货" in body["answer"]
    assert speech.requests[-1].fields["language"] == "zh"


async def test_a_webm_opus_recording_from_chromium_is_accepted(client, shop, speech) -> None:
    audio = (FIXTURES / "question-en.webm").read_bytes()  # MediaRecorder's output (tests/fixtures/audio/README.md)
    speech.script(heard("What is your return policy?"))
    response = await ask_audio(client, shop, audio, name="voice.webm", content_type="audio/webm;codecs=opus")
    assert response.status_code == 200, response.text
    assert speech.requests[-1].filename == "question.webm" and speech.requests[-1].content_type == "audio/webm"
    question = stored_question(shop, response.json()["message_id"])  # the answer: its reply_to is the question
    customer = stored_question(shop, str(question.reply_to))
    assert customer.meta["voice"]["codec"] == "opus" and 1.0 < customer.meta["voice"]["seconds"] < 10.0


async def test_an_mp4_recording_as_safari_and_chromium_write_it_is_accepted(client, shop, speech) -> None:
    audio = (FIXTURES / "question-en.m4a").read_bytes()  # fragmented MP4 from MediaRecorder (audio/mp4)
    speech.script(heard("How long does delivery take?"))
    response = await ask_audio(client, shop, audio, name="voice.mp4", content_type="audio/mp4")
    assert response.status_code == 200, response.text
    assert speech.requests[-1].filename == "question.m4a" and speech.requests[-1].content_type == "audio/mp4"
    customer = stored_question(shop, str(stored_question(shop, response.json()["message_id"]).reply_to))
    assert customer.meta["voice"]["container"] == "mp4" and 2.5 < customer.meta["voice"]["seconds"] < 3.5


async def test_without_a_transcription_endpoint_voice_is_off_and_says_so(client, shop, fake_speech, tmp_path) -> None:
    config = await client.get("/api/v1/widget/config", headers={"X-Widget-Key": shop.created.widget_key})
    assert config.json()["voice"]["available"] is False
    response = await ask_audio(client, shop, speak(tmp_path, "hello"))
    assert response.status_code == 409, response.text
    assert "not available" in response.json()["detail"] and "KEFU_TRANSCRIPTION_BASE_URL" in response.json()["detail"]
    assert fake_speech.requests == []


async def test_the_widget_config_offers_voice_when_configured_unless_the_tenant_turns_it_off(
        client, shop, speech) -> None:
    headers = {"X-Widget-Key": shop.created.widget_key}
    voice = (await client.get("/api/v1/widget/config", headers=headers)).json()["voice"]
    assert voice == {"available": True, "max_seconds": 60, "max_bytes": 10 * 1024 * 1024}
    assert (await client.put("/api/v1/settings/bot", headers=shop.admin, json={"voice": False})).status_code == 200
    assert (await client.get("/api/v1/widget/config", headers=headers)).json()["voice"]["available"] is False


@pytest.mark.parametrize(("case", "status", "words"), [
    ("empty", 422, "empty"),
    ("text", 415, "not an audio recording"),
    ("too_long", 422, "61 seconds long; the limit is 60"),
    ("too_large", 413, "the limit is 1 MB"),
    ("adpcm_wav", 415, "codec"),
    ("cut_webm", 422, "damaged"),
    ("cut_mp4", 422, "damaged"),
    ("silence_only_header", 422, "no sound"),
])
async def test_bad_recordings_get_a_4xx_that_says_what_to_fix(client, shop, speech, tmp_path, case, status,
                                                               words, monkeypatch) -> None:
    monkeypatch.setenv("KEFU_VOICE_MAX_BYTES", str(1024 * 1024))
    get_settings.cache_clear()
    spoken = speak(tmp_path, "hello there")
    audio = {
        "empty": b"",
        "text": b"What are your opening hours?\n" * 20,
        "too_long": silence_wav(61.2),
        "too_large": b"RIFF" + b"\0" * (1024 * 1024 + 10),  # KEFU_VOICE_MAX_BYTES=1 MiB below
        # the same recording relabelled as IMA ADPCM (format 0x11): a codec speech recognition refuses
        "adpcm_wav": spoken[:20] + (0x11).to_bytes(2, "little") + spoken[22:],
        "cut_webm": (FIXTURES / "question-en.webm").read_bytes()[:60],
        "cut_mp4": (FIXTURES / "question-en.m4a").read_bytes()[:120],
        "silence_only_header": silence_wav(0.0),
    }[case]
    response = await ask_audio(client, shop, audio)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"], response.json()["detail"]
    assert speech.requests == []  # refused before any transcription
    with tenant_session_sync(shop.id) as session:
        assert session.scalar(select(Conversation.id).where(Conversation.visitor_id == "v_voice_1")) is None


@pytest.mark.parametrize(("scripted", "status", "words"), [
    (error(429, "Rate limit reached for requests", code="rate_limit_exceeded"), 503, "busy"),
    (error(500, "The server had an error"), 503, "HTTP 500"),
    (hang(5), 503, "did not answer in time"),
    (error(400, "Audio file might be corrupted or unsupported"), 422, "might be corrupted"),
    (heard("   "), 422, "No speech was heard"),
])
async def test_transcription_failures_are_clear_and_store_nothing(client, shop, speech, tmp_path, scripted, status,
                                                                  words) -> None:
    speech.script(scripted)
    response = await ask_audio(client, shop, speak(tmp_path, "Where is my order?"))
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    with tenant_session_sync(shop.id) as session:
        assert session.scalar(select(Conversation.id).where(Conversation.visitor_id == "v_voice_1")) is None


async def test_voice_questions_share_the_visitors_rate_limit(client, shop, speech, tmp_path) -> None:
    assert (await client.put("/api/v1/settings/bot", headers=shop.admin,
                             json={"visitor_rate_limit_per_minute": 2})).status_code == 200
    speech.script(heard("How long does delivery take?"))
    audio = speak(tmp_path, "How long does delivery take?")
    assert (await ask_audio(client, shop, audio)).status_code == 200  # counted twice: recording, then its answer
    refused = await ask_audio(client, shop, audio)
    assert refused.status_code == 429 and refused.headers.get("Retry-After")
    assert len(speech.requests) == 1  # refused before the speech service was asked


async def test_a_conversation_a_person_holds_gets_the_transcript_not_a_bot_answer(client, shop, speech,
                                                                                  tmp_path) -> None:
    speech.script(heard("How long does delivery take?"), heard("Can you check my parcel?"))
    audio = speak(tmp_path, "How long does delivery take?")
    first = (await ask_audio(client, shop, audio)).json()
    conversation_id = first["conversation_id"]
    handed = await client.post(f"/api/v1/chat/conversations/{conversation_id}/handoff",
                               headers={"X-Widget-Key": shop.created.widget_key}, json={"visitor_id": "v_voice_1"})
    assert handed.status_code == 200, handed.text
    held = await ask_audio(client, shop, audio, conversation_id=conversation_id)
    assert held.status_code == 202, held.text
    body = held.json()
    assert body["status"] == "with_agent" and body["transcript"] == "Can you check my parcel?"
    message = stored_question(shop, body["message_id"])
    assert message.text == "Can you check my parcel?" and message.status == "human"
    assert get_blob_store().get(message.meta["voice"]["audio_key"]) == audio


async def test_a_tenants_own_endpoint_and_key_replace_the_operators(client, shop, speech, tmp_path,
                                                                    monkeypatch) -> None:
    monkeypatch.setenv("KEFU_LLM_ALLOW_PRIVATE_HOSTS", "true")  # the tenant's endpoint is on 127.0.0.1
    get_settings.cache_clear()
    saved = await client.put("/api/v1/settings/bot", headers=shop.admin, json={
        "transcription_base_url": speech.base_url, "transcription_api_key": "tenant-speech-key",
        "transcription_model": "faster-whisper-large-v3"})
    assert saved.status_code == 200, saved.text
    assert saved.json()["transcription_api_key_set"] is True and "tenant-speech-key" not in saved.text
    speech.script(heard("What is your return policy?"))
    assert (await ask_audio(client, shop, speak(tmp_path, "What is your return policy?"))).status_code == 200
    sent = speech.requests[-1]
    assert sent.authorization == "Bearer tenant-speech-key" and sent.fields["model"] == "faster-whisper-large-v3"


async def test_erasure_and_retention_delete_the_recordings(client, shop, speech, tmp_path) -> None:
    speech.script(heard("How long does delivery take?"), heard("What is your return policy?"))
    audio = speak(tmp_path, "How long does delivery take?")
    kept = []
    for visitor in ("v_erase_me", "v_expire_me"):
        body = (await ask_audio(client, shop, audio, visitor_id=visitor)).json()
        answer = stored_question(shop, body["message_id"])
        kept.append(stored_question(shop, str(answer.reply_to)).meta["voice"]["audio_key"])
    assert all(get_blob_store().get(key) == audio for key in kept)
    analytics_commands.erase_visitor(shop.id, "v_erase_me")
    with pytest.raises(FileNotFoundError):
        get_blob_store().get(kept[0])
    assert get_blob_store().get(kept[1]) == audio  # the other visitor's is untouched
    with tenant_session_sync(shop.id) as session:
        session.execute(update(Tenant).where(Tenant.id == shop.id).values(retention_days=1))
        session.execute(update(Conversation).where(Conversation.visitor_id == "v_expire_me")
                        .values(last_message_at=conversations_started_long_ago()))
    erased = analytics_commands.apply_retention(shop.id)
    assert erased.conversations == 1
    with pytest.raises(FileNotFoundError):
        get_blob_store().get(kept[1])


def conversations_started_long_ago():
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) - timedelta(days=3)



async def test_test_connection_sends_a_tone_with_the_tenants_key_and_model(client, shop, speech, monkeypatch) -> None:
    monkeypatch.setenv("KEFU_LLM_ALLOW_PRIVATE_HOSTS", "true")  # the tenant's endpoint is on 127.0.0.1
    get_settings.cache_clear()
    assert (await client.put("/api/v1/settings/bot", headers=shop.admin, json={
        "voice": False, "transcription_base_url": speech.base_url, "transcription_api_key": "tenant-speech-key",
        "transcription_model": "whisper-large-v3"})).status_code == 200
    speech.script(heard(""))  # a tone has no words: the endpoint answered, that is what counts
    check = await client.post("/api/v1/settings/bot/test", headers=shop.admin, json={"slot": "transcription"})
    assert check.status_code == 200, check.text
    assert check.json() | {"latency_ms": 0} == {"ok": True, "provider": "transcription", "model": "whisper-large-v3",
                                                "latency_ms": 0, "reply": "", "error": None}
    sent = speech.requests[-1]
    assert sent.authorization == "Bearer tenant-speech-key" and sent.fields["model"] == "whisper-large-v3"
    with wave.open(io.BytesIO(sent.audio)) as tone:  # a real recording, tested even while voice is off
        assert (tone.getnchannels(), tone.getframerate(), tone.getnframes()) == (1, 16_000, 16_000)


@pytest.mark.parametrize(("scripted", "says"), [
    (error(401, "Incorrect API key provided: sk-wr***"), "The endpoint answered HTTP 401: Incorrect API key provided"),
    (error(404, "The model `whisper-9` does not exist"), "The endpoint answered HTTP 404: The model `whisper-9`"),
    (hang(5), "The endpoint did not answer within 1.5 s."),
], ids=["wrong-key", "unknown-model", "timeout"])
async def test_test_connection_says_what_the_endpoint_answered(client, shop, speech, scripted, says) -> None:
    speech.script(scripted)
    check = await client.post("/api/v1/settings/bot/test", headers=shop.admin, json={"slot": "transcription"})
    assert check.status_code == 200 and check.json()["ok"] is False
    assert check.json()["error"].startswith(says) and check.json()["model"] == "whisper-test"


async def test_test_connection_without_an_endpoint_says_where_to_set_one(client, shop, fake_speech) -> None:
    check = await client.post("/api/v1/settings/bot/test", headers=shop.admin, json={"slot": "transcription"})
    assert check.status_code == 200
    assert check.json()["ok"] is False and "KEFU_TRANSCRIPTION_BASE_URL" in check.json()["error"]
    assert fake_speech.requests == []
    wrong = await client.post("/api/v1/settings/bot/test", headers=shop.admin, json={"slot": "whisper"})
    assert wrong.status_code == 422 and "primary, fallback, transcription" in wrong.text
    wrong = await client.post("/api/v1/settings/bot/test", headers=shop.admin, json={"slot": ["primary"]})
    assert wrong.status_code == 422


async def test_the_widget_microphone_follows_the_tenants_own_endpoint(client, shop, fake_speech,
                                                                     monkeypatch) -> None:
    monkeypatch.setenv("KEFU_LLM_ALLOW_PRIVATE_HOSTS", "true")
    get_settings.cache_clear()
    headers = {"X-Widget-Key": shop.created.widget_key}
    assert (await client.get("/api/v1/widget/config", headers=headers)).json()["voice"]["available"] is False
    assert (await client.put("/api/v1/settings/bot", headers=shop.admin,
                             json={"transcription_base_url": fake_speech.base_url})).status_code == 200
    assert (await client.get("/api/v1/widget/config", headers=headers)).json()["voice"]["available"] is True
    assert (await client.put("/api/v1/settings/bot", headers=shop.admin, json={"voice": False})).status_code == 200
    assert (await client.get("/api/v1/widget/config", headers=headers)).json()["voice"]["available"] is False
