"""Voice questions across tenants and credentials: `POST /api/v1/chat/audio` reaches only the widget
key's tenant, takes no admin credential, and keeps the tenant's speech key write-only."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from core.blobstore import conversation_audio_prefix, get_blob_store
from core.settings import get_settings
from tests.security.world import seed, snapshot
from tests.support.fake_speech import heard

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def world(client):
    return await seed(client, "Voice attacker"), await seed(client, "Voice victim")


@pytest.fixture
def speech(fake_speech, monkeypatch):
    monkeypatch.setenv("KEFU_TRANSCRIPTION_BASE_URL", fake_speech.base_url)
    monkeypatch.setenv("KEFU_TRANSCRIPTION_API_KEY", "operator-speech-key")
    get_settings.cache_clear()
    yield fake_speech
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> bytes:
    assert shutil.which("espeak-ng"), "espeak-ng is required (apt-get install espeak-ng)"
    out = Path(tmp_path_factory.mktemp("voice")) / "q.wav"
    subprocess.run(["espeak-ng", "-w", str(out), "What is the refund policy?"], check=True, capture_output=True)
    return out.read_bytes()


def local_audio(tenant_id: uuid.UUID, conversation_id: str) -> list[Path]:
    root = get_settings().uploads_dir / conversation_audio_prefix(tenant_id, conversation_id)
    return sorted(root.glob("*")) if root.exists() else []


async def test_a_voice_question_cannot_join_another_tenants_conversation(client, world, speech, recording) -> None:
    attacker, victim = world
    before = snapshot(victim.tenant_id)
    speech.script(heard("What is the refund policy?"))
    response = await client.post("/api/v1/chat/audio", headers=attacker.widget,
                                 files={"file": ("q.wav", recording, "audio/wav")},
                                 data={"visitor_id": victim.visitor_id, "conversation_id": victim.conversation_id})
    assert response.status_code == 404, response.text
    assert victim.secret not in response.text and victim.marker not in response.text  # (its own id is echoed)
    assert snapshot(victim.tenant_id) == before
    assert local_audio(victim.tenant_id, victim.conversation_id) == []
    assert local_audio(attacker.tenant_id, victim.conversation_id) == []


async def test_voice_answers_come_from_the_widget_keys_tenant_only(client, world, speech, recording) -> None:
    attacker, victim = world
    speech.script(heard("What is the refund policy?"))
    response = await client.post("/api/v1/chat/audio", headers=attacker.widget,
                                 files={"file": ("q.wav", recording, "audio/wav")}, data={"visitor_id": "v_attacker"})
    assert response.status_code == 200, response.text
    assert victim.secret not in response.text and victim.marker not in response.text
    kept = local_audio(attacker.tenant_id, response.json()["conversation_id"])
    assert len(kept) == 1 and kept[0].read_bytes() == recording
    assert get_blob_store().get(str(kept[0].relative_to(get_settings().uploads_dir))) == recording


@pytest.mark.parametrize("credential", ["none", "admin", "analyst", "admin_as_widget_key", "revoked_shape"])
async def test_only_a_widget_key_may_ask_by_voice(client, world, speech, recording, credential) -> None:
    attacker, _ = world
    headers = {"none": {}, "admin": attacker.admin, "analyst": attacker.analyst,
               "admin_as_widget_key": {"X-Widget-Key": attacker.admin["Authorization"].removeprefix("Bearer ")},
               "revoked_shape": {"X-Widget-Key": "wk_" + "0" * 40}}[credential]
    response = await client.post("/api/v1/chat/audio", headers=headers,
                                 files={"file": ("q.wav", recording, "audio/wav")}, data={"visitor_id": "v_x"})
    assert response.status_code == 401, response.text
    assert speech.requests == []  # nothing was transcribed for an unauthenticated caller


async def test_the_speech_key_is_write_only_and_analysts_cannot_set_it(client, world) -> None:
    attacker, _ = world
    saved = await client.put("/api/v1/settings/bot", headers=attacker.admin,
                             json={"transcription_api_key": "sk-speech-secret-123"})
    assert saved.status_code == 200 and "sk-speech-secret-123" not in saved.text
    shown = await client.get("/api/v1/settings/bot", headers=attacker.analyst)
    assert shown.json()["transcription_api_key_set"] is True and "sk-speech-secret-123" not in shown.text
    refused = await client.put("/api/v1/settings/bot", headers=attacker.analyst,
                               json={"transcription_api_key": "sk-other", "voice": False})
    assert refused.status_code == 403
    assert (await client.put("/api/v1/settings/bot", headers=attacker.admin,
                             json={"transcription_api_key": None})).status_code == 200


async def test_another_tenants_speech_test_never_reaches_the_victims_endpoint(client, world, fake_speech,
                                                                               monkeypatch) -> None:
    attacker, victim = world
    monkeypatch.setenv("KEFU_LLM_ALLOW_PRIVATE_HOSTS", "true")
    get_settings.cache_clear()
    assert (await client.put("/api/v1/settings/bot", headers=victim.admin, json={
        "transcription_base_url": fake_speech.base_url, "transcription_api_key": "sk-victim-speech"})).status_code == 200
    check = await client.post("/api/v1/settings/bot/test", headers=attacker.admin, json={"slot": "transcription"})
    assert check.status_code == 200 and check.json()["ok"] is False  # the attacker has no endpoint of its own
    assert fake_speech.base_url not in check.text and "sk-victim-speech" not in check.text
    assert fake_speech.requests == []
    assert (await client.put("/api/v1/settings/bot", headers=victim.admin, json={
        "transcription_base_url": None, "transcription_api_key": None})).status_code == 200


async def test_analysts_cannot_test_the_speech_endpoint(client, world, fake_speech) -> None:
    attacker, _ = world
    for headers in (attacker.analyst, attacker.analyst_token):
        response = await client.post("/api/v1/settings/bot/test", headers=headers, json={"slot": "transcription"})
        assert response.status_code == 403
    assert fake_speech.requests == []
