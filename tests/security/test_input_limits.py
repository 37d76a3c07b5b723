"""Hostile or careless input gets a clear 4xx that says what to fix, never a 500, and stores nothing."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile

import pytest
import websockets
from sqlalchemy import func, select

from backend.api.request_limits import MAX_JSON_DEPTH, json_depth, request_limits
from core.db import tenant_session_sync
from core.models import Chunk, Conversation, Document
from core.settings import get_settings
from tests.factories import TenantCtx, make_tenant

pytestmark = pytest.mark.integration
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def shop() -> TenantCtx:
    return make_tenant("Limits")


def widget(tenant: TenantCtx) -> dict[str, str]:
    return {"X-Widget-Key": tenant.created.widget_key, **JSON}


def conversations(tenant: TenantCtx) -> int:
    with tenant_session_sync(tenant.id) as session:
        return int(session.scalar(select(func.count()).select_from(Conversation)) or 0)


def nested(depth: int) -> bytes:
    return b'{"persona": ' + b"[" * depth + b"]" * depth + b"}"


# -- size -------------------------------------------------------------------------------------------


async def test_oversized_json_body_is_413_before_it_is_read(client, shop) -> None:
    limit = get_settings().max_json_body_bytes
    body = json.dumps({"message": "a" * (limit + 10)}).encode()
    response = await client.post("/api/v1/chat", content=body, headers=widget(shop))
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert f"larger than {limit // 1024} KB" in response.json()["detail"]
    assert conversations(shop) == 0


async def test_oversized_json_body_without_content_length_is_413() -> None:
    """A chunked body is counted as it arrives; the handler never runs."""
    limit = get_settings().max_json_body_bytes
    chunks = [b'{"query": "'] + [b"a" * 65536] * (limit // 65536 + 2)
    reached: list[bool] = []

    async def handler(scope, receive, send) -> None:
        reached.append(True)

    async def receive():
        return {"type": "http.request", "body": chunks.pop(0), "more_body": bool(chunks)}

    sent: list[dict] = []

    async def send(message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/v1/search", "query_string": b"",
             "headers": [(b"content-type", b"application/json")]}
    await request_limits(handler)(scope, receive, send)
    assert reached == [] and sent[0]["status"] == 413
    assert b"larger than" in sent[1]["body"]


async def test_oversized_upload_is_413_with_the_limit(client, shop) -> None:
    limit = get_settings().max_upload_bytes
    data = b"question,answer\n" + b"q,a\n" * (limit // 4 + 10)
    response = await client.post("/api/v1/documents", headers=shop.admin, files={"file": ("big.csv", data)})
    assert response.status_code == 413
    assert f"the limit is {limit // (1024 * 1024)} MB" in response.json()["detail"]
    with tenant_session_sync(shop.id) as session:
        assert session.scalar(select(func.count()).select_from(Document)) == 0


async def test_huge_chat_message_is_422_naming_the_limit(client, shop) -> None:
    limit = get_settings().chat_max_message_chars
    response = await client.post("/api/v1/chat", json={"message": "问" * (limit + 1)}, headers=widget(shop))
    assert response.status_code == 422
    assert f"the limit is {limit}" in response.json()["detail"]
    assert conversations(shop) == 0


def test_huge_chat_message_over_the_socket_is_an_error_frame_naming_the_limit(live_api, shop) -> None:
    limit = get_settings().chat_max_message_chars

    async def scenario() -> dict:
        url = live_api.replace("http://", "ws://") + f"/api/v1/chat/ws?key={shop.created.widget_key}"
        async with websockets.connect(url) as socket:
            await socket.send(json.dumps({"type": "message", "message": "x" * (limit + 1)}))
            return json.loads(await asyncio.wait_for(socket.recv(), 30))

    frame = asyncio.run(scenario())
    assert frame["type"] == "error" and frame["status"] == 422
    assert f"the limit is {limit}" in frame["detail"]


# -- structure and encoding --------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 100_000])
async def test_deeply_nested_json_is_400(client, shop, depth) -> None:
    response = await client.put("/api/v1/settings/bot", content=nested(depth), headers={**shop.admin, **JSON})
    assert response.status_code == 400
    assert f"more than {MAX_JSON_DEPTH} levels" in response.json()["detail"]


async def test_nesting_within_the_limit_reaches_the_handler(client, shop) -> None:
    response = await client.put("/api/v1/settings/bot", content=nested(MAX_JSON_DEPTH - 1),
                                headers={**shop.admin, **JSON})
    assert response.status_code == 422  # the handler's own check: persona must be text
    assert "persona" in response.json()["detail"]


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = json.dumps({"persona": "[" * 500, "greeting": '\\"{{{' * 50}).encode()
    assert json_depth(text) == 1
    deep = b'{"a": ' + b"[" * 40 + b'"]]]\\"]]"' + b"]" * 40 + b"}"
    assert json_depth(deep) == 41


@pytest.mark.parametrize("path,body", [
    ("/api/v1/chat", b'{"message": "\xff\xfe hello"}'),
    ("/api/v1/search", b'{"query": "\xed\xa0\x80"}'),
    ("/api/v1/auth/login", b'{"email": "a@b.co", "password": "\xc3"}'),
])
async def test_invalid_utf8_is_400(client, shop, path, body) -> None:
    headers = widget(shop) if path == "/api/v1/chat" else {**shop.admin, **JSON}
    response = await client.post(path, content=body, headers=headers)
    assert response.status_code == 400
    assert "not valid UTF-8" in response.json()["detail"]


async def test_a_multipart_text_field_that_is_not_utf8_is_400_not_500(client, shop) -> None:
    """Found by bench/fuzz_api.py: a form field's bytes are decoded by the framework while it reads them."""
    boundary = "kefu-fuzz"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"visitor_id\"\r\n\r\n".encode()
            + b"v\x91\xff\r\n" + f"--{boundary}--\r\n".encode())
    response = await client.post("/api/v1/chat/audio", content=body,
                                 headers={"X-Widget-Key": shop.created.widget_key,
                                          "content-type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 400, response.text
    assert "not valid UTF-8" in response.json()["detail"]


async def test_malformed_json_is_400(client, shop) -> None:
    response = await client.post("/api/v1/chat", content=b'{"message": ', headers=widget(shop))
    assert response.status_code == 400
    assert conversations(shop) == 0


async def test_nul_character_in_json_is_400_and_nothing_is_stored(client, shop) -> None:
    response = await client.post("/api/v1/chat", json={"message": "hi\u0000there"}, headers=widget(shop))
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]
    assert conversations(shop) == 0


async def test_escaped_backslash_before_u0000_is_ordinary_text(client, shop) -> None:
    response = await client.put("/api/v1/settings/bot", json={"persona": "literally \\u0000"},
                                headers=shop.admin)
    assert response.status_code == 200
    assert response.json()["persona"] == "literally \\u0000"


async def test_nul_character_in_the_url_is_400(client, shop) -> None:
    response = await client.get("/api/v1/records/orders/a%00b", headers=shop.admin)
    assert response.status_code == 400
    response = await client.get("/api/v1/documents", params={"status": "ready\x00"}, headers=shop.admin)
    assert response.status_code == 400


async def test_nul_character_in_an_upload_form_field_is_422_not_500(client, shop) -> None:
    response = await client.post("/api/v1/records/orders", headers=shop.admin,
                                 files={"file": ("orders.csv", b"order_id,status\nA-1,new\n")},
                                 data={"key_column": "order\x00_id"})
    assert response.status_code in (400, 422), response.text


# -- archives ----------------------------------------------------------------------------------------


def zip_bomb(kind: str) -> bytes:
    """A small DOCX/XLSX whose one member expands more than 1000 times."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        member = "word/document.xml" if kind == "docx" else "xl/worksheets/sheet1.xml"
        archive.writestr(member, b"\x00" * (24 * 1024 * 1024))
    return buffer.getvalue()


async def test_zip_bomb_document_fails_with_a_clear_error_and_no_chunks(client, shop, stub_worker) -> None:
    data = zip_bomb("docx")
    assert len(data) < 100_000
    response = await client.post("/api/v1/documents", headers=shop.admin, files={"file": ("bomb.docx", data)})
    if response.status_code == 202:
        stub_worker()
        document = (await client.get(f"/api/v1/documents/{response.json()['id']}", headers=shop.admin)).json()
        assert document["status"] == "failed" and "zip bomb" in document["error"]
        with tenant_session_sync(shop.id) as session:
            assert session.scalar(select(func.count()).select_from(Chunk)) == 0
    else:
        assert response.status_code in (413, 422) and "zip bomb" in response.json()["detail"]


async def test_zip_bomb_records_import_is_refused(client, shop) -> None:
    response = await client.post("/api/v1/records/stock", headers=shop.admin,
                                 files={"file": ("stock.xlsx", zip_bomb("xlsx"))}, data={"key_column": "sku"})
    assert response.status_code in (413, 415, 422)
    assert (await client.get("/api/v1/records", headers=shop.admin)).json()["items"] == []



@pytest.mark.parametrize("frame", ["this is not json", '{"type": "message", "message": ' + "[" * 5000 + "]" * 5000 + "}",
                                   '{"type": "message", "message": "\\u0000"}'])
def test_a_bad_socket_frame_gets_an_error_frame_and_the_socket_stays_open(live_api, shop, frame) -> None:
    async def scenario() -> tuple[dict, dict]:
        url = live_api.replace("http://", "ws://") + f"/api/v1/chat/ws?key={shop.created.widget_key}"
        async with websockets.connect(url) as socket:
            await socket.send(frame)
            refused = json.loads(await asyncio.wait_for(socket.recv(), 30))
            await socket.send(json.dumps({"type": "message", "message": "hello"}))
            while (answer := json.loads(await asyncio.wait_for(socket.recv(), 60)))["type"] == "delta":
                pass
            return refused, answer

    refused, answer = asyncio.run(scenario())
    assert refused["type"] == "error" and refused["status"] == 400 and refused["detail"]
    assert answer["type"] == "final"
