"""A local speech-to-text server speaking OpenAI's `POST /v1/audio/transcriptions` (multipart form).

Driven by the real `openai` SDK. Tests queue what the "model" hears, in order:

    fake_speech.script(heard("What are your opening hours?"), error(429), hang(5))

It parses the multipart form as OpenAI does (`file`, `model`, `language`, `response_format`),
refuses a form without `file` or `model` with OpenAI's 400 error body, checks that the file is a
RIFF/WebM/Ogg recording it could decode (else 400 "Invalid file format"), and answers
`{"text": ...}` (or the plain text for `response_format=text`). Every request is kept in
`requests` (fields, file name, content type and bytes). With the queue empty it answers 500, so a
test that forgets to script a reply fails loudly.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

_AUDIO_MAGIC = (b"RIFF", b"\x1a\x45\xdf\xa3", b"OggS", b"ID3", b"fLaC")


@dataclass(frozen=True)
class Heard:
    text: str
    delay: float = 0.0


@dataclass(frozen=True)
class Failure:
    status: int
    message: str = "scripted failure"
    code: str | None = None


@dataclass(frozen=True)
class Hang:
    seconds: float


Scripted = Heard | Failure | Hang


def heard(text: str, *, delay: float = 0.0) -> Heard:
    return Heard(text, delay)


def error(status: int, message: str = "scripted failure", code: str | None = None) -> Failure:
    return Failure(status, message, code)


def hang(seconds: float) -> Hang:
    return Hang(seconds)


@dataclass
class Received:
    fields: dict[str, str]
    filename: str | None
    content_type: str | None
    audio: bytes
    authorization: str | None


@dataclass
class FakeSpeech:
    queue: deque[Scripted] = field(default_factory=deque)
    requests: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def script(self, *responses: Scripted) -> None:
        self.queue.extend(responses)

    def start(self) -> FakeSpeech:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def parse_form(content_type: str, body: bytes) -> tuple[dict[str, str], tuple[str | None, str | None, bytes] | None]:
    """The text fields and the `file` part (name, type, bytes) of a multipart/form-data body."""
    message = message_from_bytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body, policy=HTTP)
    fields: dict[str, str] = {}
    upload = None
    if not message.is_multipart():
        return fields, None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if name == "file":
            upload = (part.get_filename(), part.get_content_type(), payload)
        elif name:
            fields[str(name)] = payload.decode("utf-8")
    return fields, upload


def _handler(fake: FakeSpeech) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, code: str | None = None) -> None:
            self._json(status, {"error": {"message": message, "type": "invalid_request_error", "param": None,
                                          "code": code}})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.rstrip("/") != "/v1/audio/transcriptions":
                self._error(404, f"Unknown path {self.path}")
                return
            fields, upload = parse_form(self.headers.get("Content-Type", ""), body)
            fake.requests.append(Received(fields, upload[0] if upload else None, upload[1] if upload else None,
                                          upload[2] if upload else b"", self.headers.get("Authorization")))
            if upload is None or "model" not in fields:
                self._error(400, "you must provide a model parameter" if upload else "'file' is a required property")
                return
            if not upload[2].startswith(_AUDIO_MAGIC) and upload[2][4:8] != b"ftyp":
                self._error(400, "Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', "
                                 "'mpga', 'oga', 'ogg', 'wav', 'webm']")
                return
            if not fake.queue:
                self._error(500, "nothing scripted for this request")
                return
            reply = fake.queue.popleft()
            if isinstance(reply, Hang):
                fake._stop.wait(reply.seconds)
                self.close_connection = True
                return
            if isinstance(reply, Failure):
                self._error(reply.status, reply.message, reply.code)
                return
            if reply.delay:
                time.sleep(reply.delay)
            if fields.get("response_format") == "text":
                data = reply.text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self._json(200, {"text": reply.text})

    return Handler


@pytest.fixture
def fake_speech() -> Iterator[FakeSpeech]:
    server = FakeSpeech().start()
    yield server
    server.stop()
