"""Record collections and HTTP tools through the API, and HTTP tool calls against a local server."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from chat.http_tool_specs import get_http_tool_by_name
from chat.http_tools import MAX_RESPONSE_BYTES, call_http_tool
from core.db import tenant_session_sync
from core.models import HttpTool, Record
from tests.factories import TenantCtx

pytestmark = pytest.mark.integration

ORDERS = (
    "order_id,status,eta\nA-10023,shipped,2025-05-02\nA-10024,pending,\n,ignored,\nA-10023,delivered,today\n"
)
ORDERS_GBK = "订单号,状态,收件人\n10023,已发货,张三\n10024,待发货,李四\n".encode("gbk")


async def upload(
    client: AsyncTestClient,
    tenant: TenantCtx,
    collection: str,
    data: bytes | str,
    key_column: str = "order_id",
    name: str = "orders.csv",
    headers: dict[str, str] | None = None,
):
    content = data.encode() if isinstance(data, str) else data
    return await client.post(
        f"/api/v1/records/{collection}",
        headers=headers or tenant.admin,
        files={"file": (name, content, "text/csv")},
        data={"key_column": key_column},
    )


def stored_rows(tenant: TenantCtx) -> int:
    with tenant_session_sync(tenant.id) as session:
        return int(session.scalar(select(func.count()).select_from(Record)) or 0)


# -- records ----------------------------------------------------------------------------------------


async def test_upload_then_look_up_by_key(client, tenant) -> None:
    response = await upload(client, tenant, "orders", ORDERS)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["collection"] == "orders" and body["key_column"] == "order_id"
    assert body["row_count"] == 2 and body["columns"] == ["order_id", "status", "eta"]
    record = await client.get("/api/v1/records/orders/A-10023", headers=tenant.analyst)
    assert record.status_code == 200
    assert record.json()["data"] == {
        "order_id": "A-10023",
        "status": "delivered",
        "eta": "today",
    }  # last wins
    assert (await client.get("/api/v1/records/orders/%20a-10024%20", headers=tenant.analyst)).json()["data"][
        "status"
    ] == "pending"  # trimmed, then case-insensitive
    assert (await client.get("/api/v1/records/orders/A-99999", headers=tenant.analyst)).status_code == 404


async def test_gbk_encoded_csv_is_read(client, tenant) -> None:
    response = await upload(client, tenant, "orders_gbk", ORDERS_GBK, key_column="订单号")
    assert response.status_code == 200, response.text
    collection = response.json()["collection"]
    record = (await client.get(f"/api/v1/records/{collection}/10024", headers=tenant.admin)).json()
    assert record["data"] == {"订单号": "10024", "状态": "待发货", "收件人": "李四"}


async def test_json_items_with_nested_values(client, tenant) -> None:
    items = {"items": [{"sku": "K-1", "price": 12.5, "stock": {"sh": 3}, "tags": ["a"]}, {"sku": "K-2"}]}
    response = await upload(client, tenant, "products", json.dumps(items), key_column="sku", name="p.json")
    assert response.status_code == 200, response.text
    data = (await client.get("/api/v1/records/products/k-1", headers=tenant.admin)).json()["data"]
    assert data == {"sku": "K-1", "price": 12.5, "stock": {"sh": 3}, "tags": ["a"]}


async def test_reupload_replaces_the_rows(client, tenant) -> None:
    await upload(client, tenant, "orders", ORDERS)
    response = await upload(client, tenant, "orders", "order_id;status\nB-1;new\n")
    assert response.status_code == 200 and response.json()["row_count"] == 1
    assert response.json()["columns"] == ["order_id", "status"]
    assert (await client.get("/api/v1/records/orders/A-10023", headers=tenant.admin)).status_code == 404
    assert (await client.get("/api/v1/records/orders/B-1", headers=tenant.admin)).json()["data"][
        "status"
    ] == "new"
    assert stored_rows(tenant) == 1


async def test_missing_key_column_is_422_and_keeps_the_old_rows(client, tenant) -> None:
    await upload(client, tenant, "orders", ORDERS)
    response = await upload(client, tenant, "orders", "id,status\n1,x\n")
    assert response.status_code == 422
    assert response.json()["detail"] == "key column 'order_id' not found; columns are: id, status"
    assert stored_rows(tenant) == 2


@pytest.mark.parametrize("name", ["Orders", "-orders", "a" * 65, "or ders"])
async def test_bad_collection_name_is_422(client, tenant, name) -> None:
    response = await upload(client, tenant, name, ORDERS)
    assert response.status_code == 422
    assert "lower-case letters" in response.json()["detail"]


async def test_binary_file_is_415(client, tenant) -> None:
    response = await upload(client, tenant, "orders", b"PK\x03\x04\x00\x00binary", name="orders.docx")
    assert response.status_code == 415
    unnamed = await upload(client, tenant, "orders", b"\x89PNG\r\n\x1a\n\x00\x00binary", name="orders")
    assert unnamed.status_code == 415


async def test_damaged_spreadsheet_is_422_with_what_to_do(client, tenant) -> None:
    response = await upload(client, tenant, "orders", b"PK\x03\x04\x00\x00binary", name="orders.xlsx")
    assert response.status_code == 422 and "XLSX" in response.json()["detail"]
    assert stored_rows(tenant) == 0


async def test_analyst_cannot_upload_or_delete(client, tenant) -> None:
    assert (await upload(client, tenant, "orders", ORDERS, headers=tenant.analyst)).status_code == 403
    await upload(client, tenant, "orders", ORDERS)
    assert (await client.delete("/api/v1/records/orders", headers=tenant.analyst)).status_code == 403


async def test_other_tenant_sees_nothing(client, tenant, other_tenant) -> None:
    await upload(client, tenant, "orders", ORDERS)
    assert (await client.get("/api/v1/records/orders/A-10023", headers=other_tenant.admin)).status_code == 404
    listing = (await client.get("/api/v1/records", headers=other_tenant.admin)).json()
    assert listing["items"] == []
    assert (await client.delete("/api/v1/records/orders", headers=other_tenant.admin)).status_code == 404
    mine = (await client.get("/api/v1/records", headers=tenant.analyst)).json()["items"]
    assert [(c["collection"], c["row_count"]) for c in mine] == [("orders", 2)]


async def test_delete_collection(client, tenant) -> None:
    await upload(client, tenant, "orders", ORDERS)
    assert (await client.delete("/api/v1/records/orders", headers=tenant.admin)).status_code == 204
    assert (await client.get("/api/v1/records/orders/A-10023", headers=tenant.admin)).status_code == 404
    assert stored_rows(tenant) == 0


# -- tool definitions -------------------------------------------------------------------------------


def tool_spec(base_url: str, **overrides: Any) -> dict[str, Any]:
    spec = {
        "name": "stock",
        "description": "Stock level of a product",
        "parameters": {
            "type": "object",
            "required": ["sku"],
            "properties": {
                "sku": {"type": "string"},
                "store": {"type": "string"},
                "qty": {"type": "integer"},
            },
        },
        "url_template": f"{base_url}/echo/{{sku}}",
        "secret_header_name": "X-Api-Key",
        "secret_header_value": "s3cret-value",
        "timeout_seconds": 2,
    }
    return spec | overrides


async def test_create_and_list_tools_hides_the_secret(client, tenant) -> None:
    created = await client.post(
        "/api/v1/tools", headers=tenant.admin, json=tool_spec("https://api.example.com")
    )
    assert created.status_code == 201, created.text
    assert created.json()["has_secret"] is True and "s3cret" not in created.text
    listing = await client.get("/api/v1/tools", headers=tenant.analyst)
    assert listing.status_code == 200 and "s3cret" not in listing.text
    [tool] = listing.json()["items"]
    assert tool["name"] == "stock" and tool["secret_header_name"] == "X-Api-Key" and tool["has_secret"]
    again = await client.post(
        "/api/v1/tools", headers=tenant.admin, json=tool_spec("https://api.example.com")
    )
    assert again.status_code == 409
    assert (await client.delete("/api/v1/tools/stock", headers=tenant.admin)).status_code == 204
    assert (await client.get("/api/v1/tools", headers=tenant.admin)).json()["items"] == []


async def test_bad_tool_definitions_are_422_and_analysts_cannot_create(client, tenant) -> None:
    host_placeholder = tool_spec("https://{sku}.example.com")
    assert (
        await client.post("/api/v1/tools", headers=tenant.admin, json=host_placeholder)
    ).status_code == 422
    builtin = tool_spec("https://api.example.com", name="request_human")
    assert (await client.post("/api/v1/tools", headers=tenant.admin, json=builtin)).status_code == 422
    spec = tool_spec("https://api.example.com")
    assert (await client.post("/api/v1/tools", headers=tenant.analyst, json=spec)).status_code == 403


# -- calling tools against a local server -----------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[dict[str, Any]]
    release: threading.Event


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        seen = {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        self.server.requests.append(seen)
        if self.path.startswith("/big"):
            return self._send(200, b"x" * (MAX_RESPONSE_BYTES + 10), "text/plain", chunked=True)
        if self.path.startswith("/slow"):
            self.server.release.wait(10)  # held until the test is over: the client must give up first
            return self._send(200, b"late", "text/plain")
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/secret")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return self._send(200, json.dumps(seen).encode(), "application/json")

    def _send(self, status: int, payload: bytes, content_type: str, *, chunked: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if chunked:  # no Content-Length: the size limit must hold while streaming
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
            return
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.requests, httpd.release = [], threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def base_url(server: _Server) -> str:
    server.requests.clear()
    return f"http://127.0.0.1:{server.server_port}"


async def make_tool(client, tenant: TenantCtx, spec: dict[str, Any]) -> HttpTool:
    response = await client.post("/api/v1/tools", headers=tenant.admin, json=spec)
    assert response.status_code == 201, response.text
    with tenant_session_sync(tenant.id) as session:
        tool = get_http_tool_by_name(session, tenant.id, spec["name"])
    assert tool is not None
    return tool


async def test_private_address_refused_unless_the_operator_allows_it(
    client, tenant, server, base_url
) -> None:
    tool = await make_tool(client, tenant, tool_spec(base_url))
    refused = await call_http_tool(tool, {"sku": "K-1"}, allow_private=False)
    assert "private" in refused["error"] and server.requests == []
    allowed = await call_http_tool(tool, {"sku": "K-1"}, allow_private=True)
    assert allowed["status"] == 200 and allowed["body"]["path"] == "/echo/K-1"


async def test_get_puts_arguments_in_path_and_query_and_sends_the_secret(
    client, tenant, server, base_url
) -> None:
    tool = await make_tool(client, tenant, tool_spec(base_url))
    result = await call_http_tool(tool, {"sku": "a/b?c=1#x", "store": "上海", "qty": 2}, allow_private=True)
    assert result["status"] == 200, result
    assert result["body"]["path"] == "/echo/a%2Fb%3Fc%3D1%23x?store=%E4%B8%8A%E6%B5%B7&qty=2"
    assert result["body"]["headers"]["X-Api-Key"] == "s3cret-value"


async def test_post_sends_remaining_arguments_as_json(client, tenant, server, base_url) -> None:
    tool = await make_tool(client, tenant, tool_spec(base_url, method="POST"))
    result = await call_http_tool(tool, {"sku": "K-9", "store": "sh", "qty": 3}, allow_private=True)
    assert result["status"] == 200
    assert result["body"]["method"] == "POST" and result["body"]["path"] == "/echo/K-9"
    assert result["body"]["body"] == {"store": "sh", "qty": 3}
    assert result["body"]["headers"]["X-Api-Key"] == "s3cret-value"


async def test_model_mistakes_come_back_as_errors(client, tenant, server, base_url) -> None:
    tool = await make_tool(client, tenant, tool_spec(base_url))
    assert "missing required argument 'sku'" in (await call_http_tool(tool, {}, allow_private=True))["error"]
    unknown = await call_http_tool(tool, {"sku": "1", "colour": "red"}, allow_private=True)
    assert "unknown argument" in unknown["error"] and server.requests == []


async def test_oversized_response_is_an_error(client, tenant, server, base_url) -> None:
    tool = await make_tool(client, tenant, tool_spec(base_url, url_template=f"{base_url}/big/{{sku}}"))
    assert (await call_http_tool(tool, {"sku": "1"}, allow_private=True))["error"] == "response too large"


async def test_slow_server_times_out(client, tenant, server, base_url) -> None:
    tool = await make_tool(
        client, tenant, tool_spec(base_url, url_template=f"{base_url}/slow/{{sku}}", timeout_seconds=0.5)
    )
    result = await call_http_tool(tool, {"sku": "1"}, allow_private=True)
    assert "timed out" in result["error"]


async def test_redirects_are_not_followed(client, tenant, server, base_url) -> None:
    tool = await make_tool(client, tenant, tool_spec(base_url, url_template=f"{base_url}/redirect/{{sku}}"))
    result = await call_http_tool(tool, {"sku": "1"}, allow_private=True)
    assert result["status"] == 302 and result["location"].endswith("/secret")
    assert [r["path"] for r in server.requests] == ["/redirect/1"]


async def test_connection_is_pinned_to_the_checked_address(
    client, tenant, server, base_url, monkeypatch
) -> None:
    """DNS rebinding: a second lookup would answer differently, but no second lookup happens."""
    loop = asyncio.get_running_loop()
    real_getaddrinfo = loop.getaddrinfo
    lookups: list[str] = []

    async def rebinding_dns(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "kefu-pinned.test":
            return await real_getaddrinfo(host, port, *args, **kwargs)
        lookups.append(host)
        address = "127.0.0.1" if len(lookups) == 1 else "10.255.255.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(loop, "getaddrinfo", rebinding_dns)
    url = f"http://kefu-pinned.test:{server.server_port}/echo/{{sku}}"
    tool = await make_tool(client, tenant, tool_spec(base_url, url_template=url))
    result = await call_http_tool(tool, {"sku": "1"}, allow_private=True)
    assert result["status"] == 200, result
    assert result["body"]["headers"]["Host"] == f"kefu-pinned.test:{server.server_port}"
    assert lookups == ["kefu-pinned.test"]
