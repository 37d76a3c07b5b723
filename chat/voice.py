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

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import openai

from chat.audio import AudioClip
from chat.bot_settings import BotSettings
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
    """One SDK client per endpoint (it keeps its connections), as the chat providers do."""
    cache_key = (config.base_url, config.api_key, app.transcription_timeout_seconds, app.transcription_max_retries)
    client = _clients.get(cache_key)
    if client is None:
        client = openai.AsyncOpenAI(api_key=config.api_key or "not-needed", base_url=config.base_url,
                                    timeout=app.transcription_timeout_seconds,
                                    max_retries=app.transcription_max_retries)
        while len(_clients) >= _CACHED_CLIENTS:
            _clients.pop(next(iter(_clients)))
        _clients[cache_key] = client
    return client


async def transcribe(config: TranscriptionConfig, clip: AudioClip, language: str | None = None) -> str:
    """The words spoken in `clip`; 503 when the endpoint fails, 422 when it hears nothing."""
    app = get_settings()
    if config.tenant_url and config.base_url:
        url = httpx.URL(config.base_url)
        try:
            await resolve_destination(url.raw_host.decode("ascii"), url.port or (443 if url.scheme == "https" else 80),
                                      allow_private=app.llm_allow_private_hosts)
        except UnsafeDestinationError as exc:
            raise ServiceUnavailable(f"The tenant's speech-to-text endpoint is refused: {exc}.") from exc
    options: dict[str, Any] = {"language": language} if language in LANGUAGES else {}
    try:
        result = await _client(config, app).audio.transcriptions.create(
            model=config.model, file=(clip.filename, clip.data, clip.content_type), response_format="json", **options)
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
    text = " ".join(str(getattr(result, "text", "") or "").split())
    if not text:
        raise ValidationFailed("No speech was heard in the recording: speak closer to the microphone, "
                               "or type your question.")
    return text[: app.chat_max_message_chars]


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
