"""Voice questions: which transcription endpoint a tenant uses, the transcription call, the kept audio.

Any OpenAI-compatible `/audio/transcriptions` endpoint works (OpenAI's Whisper, Groq, a
faster-whisper or whisper.cpp server), called through the `openai` SDK. A tenant's own endpoint
(`transcription_base_url`, `transcription_api_key`, `transcription_model` in its bot settings)
replaces the operator's (`KEFU_TRANSCRIPTION_*`); with neither, or with the tenant's `voice`
setting off, voice is unavailable and the widget hides its microphone.

The recording is kept in the blob store under its conversation
(`tenants/<tenant>/audio/<conversation>/<message><ext>`), so erasing a visitor or the retention
sweep, which delete conversations, delete their audio too (`analytics.privacy.forget_audio`).
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import time
import uuid
import wave
from dataclasses import dataclass, replace
from typing import Any

import httpx
import openai

from chat.audio import AudioClip
from chat.bot_settings import BotSettings
from chat.model_choice import ConnectionCheck
from chat.model_keys import unsealed
from core.blobstore import conversation_audio_prefix
from core.errors import Conflict, ServiceUnavailable, ValidationFailed
from core.outbound import UnsafeDestinationError, resolve_destination
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)
_CACHED_CLIENTS = 64
LANGUAGES = ("zh", "en")


class VoiceUnavailable(Conflict):
    """Voice questions are not set up for this tenant (HTTP 409; the widget hides its microphone).

    A 4xx, not a 503: nothing is down and retrying will not help until someone configures an endpoint.
    """

    title = "Voice questions unavailable"


class NothingHeard(ValidationFailed):
    """The endpoint answered but heard no words (a silent or noisy recording)."""


@dataclass(frozen=True)
class TranscriptionConfig:
    base_url: str | None  # None: OpenAI's own endpoint
    api_key: str | None
    model: str
    tenant_url: bool = False  # the tenant chose the URL: checked by the SSRF guard at each call

    def __repr__(self) -> str:  # never the key
        return f"TranscriptionConfig({self.base_url}, {self.model})"


def transcription_config(settings: BotSettings, app: Settings | None = None) -> TranscriptionConfig | None:
    """The endpoint that transcribes this tenant's voice questions, or None when voice is off."""
    app = app or get_settings()
    if not settings.voice:
        return None
    key = unsealed(settings.sealed_keys).get("transcription_api_key") if settings.sealed_keys else None
    model = settings.transcription_model
    if settings.transcription_base_url or key:
        return TranscriptionConfig(settings.transcription_base_url, key, model or app.transcription_model,
                                   tenant_url=bool(settings.transcription_base_url))
    if app.transcription_base_url or app.transcription_api_key:
        return TranscriptionConfig(app.transcription_base_url, app.transcription_api_key,
                                   model or app.transcription_model)
    return None


def require_config(settings: BotSettings) -> TranscriptionConfig:
    config = transcription_config(settings)
    if config is None:
        raise VoiceUnavailable(
            "Voice questions are not available for this chat: no speech-to-text endpoint is configured "
            "(the operator sets KEFU_TRANSCRIPTION_BASE_URL or KEFU_TRANSCRIPTION_API_KEY; a tenant sets "
            "transcription_base_url / transcription_api_key in its bot settings). Type the question instead.")
    return config


_clients: dict[tuple[Any, ...], openai.AsyncOpenAI] = {}


def _client(config: TranscriptionConfig, app: Settings) -> openai.AsyncOpenAI:
    """One SDK client per endpoint and event loop (it keeps its connections), as the chat providers do.

    Its connection pool is bound to the loop that opened it, and the admin app's "test connection"
    runs each check in a fresh loop (asyncio.run); clients of finished loops are dropped.
    """
    loop = asyncio.get_running_loop()
    cache_key = (loop, config.base_url, config.api_key, app.transcription_timeout_seconds,
                 app.transcription_max_retries)
    client = _clients.get(cache_key)
    if client is None:
        for finished in [key for key in _clients if key[0].is_closed()]:
            del _clients[finished]
        client = openai.AsyncOpenAI(api_key=config.api_key or "not-needed", base_url=config.base_url,
                                    timeout=app.transcription_timeout_seconds,
                                    max_retries=app.transcription_max_retries)
        while len(_clients) >= _CACHED_CLIENTS:
            _clients.pop(next(iter(_clients)))
        _clients[cache_key] = client
    return client


async def transcribe(config: TranscriptionConfig, clip: AudioClip, language: str | None = None) -> str:
    """The words spoken in `clip`; 503 when the endpoint fails, 422 when it hears nothing."""
    try:
        text = await _heard(config, clip, language)
    except UnsafeDestinationError as exc:
        raise ServiceUnavailable(f"The tenant's speech-to-text endpoint is refused: {exc}.") from exc
    except openai.RateLimitError as exc:
        raise ServiceUnavailable("The speech-to-text service is busy right now; try again in a moment "
                                 "or type your question.") from exc
    except openai.APITimeoutError as exc:
        raise ServiceUnavailable("The speech-to-text service did not answer in time; try again or type "
                                 "your question.") from exc
    except openai.BadRequestError as exc:
        raise ValidationFailed(f"The speech-to-text service could not read the recording ({_reason(exc)}); "
                               "record it again or type your question.") from exc
    except openai.APIStatusError as exc:
        log.warning("transcription failed: HTTP %s %s", exc.status_code, _reason(exc))
        raise ServiceUnavailable(f"The speech-to-text service failed (HTTP {exc.status_code}); try again "
                                 "or type your question.") from exc
    except openai.APIError as exc:
        log.warning("transcription unreachable: %s", exc)
        raise ServiceUnavailable("The speech-to-text service cannot be reached; try again or type "
                                 "your question.") from exc
    if not text:
        raise NothingHeard("No speech was heard in the recording: speak closer to the microphone, "
                           "or type your question.")
    return text


async def _heard(config: TranscriptionConfig, clip: AudioClip, language: str | None = None) -> str:
    """The endpoint's transcript ('' for none); the SDK's errors and the SSRF guard's refusal as raised."""
    app = get_settings()
    if config.tenant_url and config.base_url:
        url = httpx.URL(config.base_url)
        await resolve_destination(url.raw_host.decode("ascii"), url.port or (443 if url.scheme == "https" else 80),
                                  allow_private=app.llm_allow_private_hosts)
    options: dict[str, Any] = {"language": language} if language in LANGUAGES else {}
    result = await _client(config, app).audio.transcriptions.create(
        model=config.model, file=(clip.filename, clip.data, clip.content_type), response_format="json", **options)
    return " ".join(str(getattr(result, "text", "") or "").split())[: app.chat_max_message_chars]


async def check_connection(settings: BotSettings) -> ConnectionCheck:
    """Send a one-second test tone to the tenant's speech-to-text endpoint: do its URL, key and model work?

    Tested even while `voice` is off, so an admin can check an endpoint before turning the
    microphone on. Hearing nothing in the tone is a success: the endpoint took the key, the
    model and the recording. Failures say what the endpoint answered, for the admin to fix.
    """
    config = transcription_config(replace(settings, voice=True))
    if config is None:
        return ConnectionCheck(False, "transcription", None, 0, error=NO_ENDPOINT)
    started = time.perf_counter()
    try:
        heard = await _heard(config, test_tone())
    except UnsafeDestinationError as exc:
        error = f"The endpoint is refused: {exc}."
    except openai.APIStatusError as exc:
        error = f"The endpoint answered HTTP {exc.status_code}: {_reason(exc)}."
    except openai.APITimeoutError:
        error = f"The endpoint did not answer within {get_settings().transcription_timeout_seconds:g} s."
    except openai.APIError as exc:
        error = f"The endpoint cannot be reached: {exc}."
    else:
        return ConnectionCheck(True, "transcription", config.model, _ms(started), heard[:200])
    return ConnectionCheck(False, "transcription", config.model, _ms(started), error=error)


NO_ENDPOINT = ("No speech-to-text endpoint is configured: enter one here, or ask the operator to set "
               "KEFU_TRANSCRIPTION_BASE_URL.")


def test_tone(seconds: float = 1.0, rate: int = 16_000) -> AudioClip:
    """A short 440 Hz tone as 16-bit mono WAV: a recording every transcription endpoint accepts."""
    frames = int(seconds * rate)
    samples = b"".join(int(8000 * math.sin(2 * math.pi * 440 * i / rate)).to_bytes(2, "little", signed=True)
                       for i in range(frames))
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples)
    return AudioClip(out.getvalue(), "wav", "pcm", seconds)


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _reason(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else None
        if isinstance(message, str) and message:
            return message[:200]
    return f"HTTP {exc.status_code}"


def audio_key(tenant_id: uuid.UUID, conversation_id: uuid.UUID, message_id: uuid.UUID, clip: AudioClip) -> str:
    return f"{conversation_audio_prefix(tenant_id, conversation_id)}{message_id}{clip.extension}"
