"""Built-in HTTP tool presets: listed in both languages, created in one call, edited before saving, and
called for real against a local server that answers like Open-Meteo and a shop's order API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from chat.http_tool_specs import get_http_tool_by_name
from chat.http_tools import call_http_tool
from core.db import tenant_session_sync

pytestmark = pytest.mark.integration


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.seen.append({"path": self.path, "auth": self.headers.get("Authorization")})  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        if url.path == "/v1/forecast":
            query = parse_qs(url.query)
            body: dict[str, Any] = {
                "latitude": float(query["latitude"][0]),
                "longitude": float(query["longitude"][0]),
                "current": {"temperature_2m": 21.5, "weather_code": 3},
                "daily": {"temperature_2m_max": [24.0, 25.1, 23.3]},
            }
        elif url.path.startswith("/api/orders/"):
            body = {"order_id": url.path.rsplit("/", 1)[1], "status": "shipped", "carrier": "SF Express"}
        else:
            body = {"monday": "09:00-18:00"}
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", server.seen  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def stored_tool(tenant, name: str):
    with tenant_session_sync(tenant.id) as session:
        tool = get_http_tool_by_name(session, tenant.id, name)
        session.expunge_all()
    return tool


async def test_presets_are_listed_in_both_languages(client, tenant) -> None:
    english = (await client.get("/api/v1/tools/templates", headers=tenant.analyst)).json()["items"]
    chinese = (await client.get("/api/v1/tools/templates", headers=tenant.analyst, params={"lang": "zh"})).json()
    assert [t["id"] for t in english] == ["weather", "order_status", "business_hours"]
    assert english[0]["needs"] == [] and english[1]["needs"] == ["url_template"]
    assert chinese["items"][0]["title"].startswith("天气")


async def test_weather_in_one_click_then_edited_to_a_local_copy_of_the_api(client, tenant, api) -> None:
    created = await client.post("/api/v1/tools/templates/weather", headers=tenant.admin)
    assert created.status_code == 201, created.text
    assert created.json()["url_template"].startswith("https://api.open-meteo.com/v1/forecast?")
    assert stored_tool(tenant, "weather").parameters["required"] == ["latitude", "longitude"]

    base, seen = api
    preset = created.json()["url_template"]
    edited = await client.post(
        "/api/v1/tools/templates/weather",
        headers=tenant.admin,
        json={"name": "weather_local", "url_template": preset.replace("https://api.open-meteo.com", base)},
    )
    assert edited.status_code == 201, edited.text
    result = await call_http_tool(
        stored_tool(tenant, "weather_local"), {"latitude": 31.23, "longitude": 121.47}, allow_private=True
    )
    assert result["status"] == 200 and result["body"]["current"]["temperature_2m"] == 21.5
    query = parse_qs(urlsplit(seen[-1]["path"]).query)
    # The preset's own query (what to forecast) is kept; the model's coordinates are added to it.
    assert query["latitude"] == ["31.23"] and query["longitude"] == ["121.47"]
    assert query["timezone"] == ["auto"] and "temperature_2m" in query["current"][0]


async def test_order_status_needs_the_shops_own_endpoint(client, tenant, api) -> None:
    refused = await client.post("/api/v1/tools/templates/order_status", headers=tenant.admin)
    assert refused.status_code == 422 and "set url_template" in refused.text
    assert (await client.get("/api/v1/tools", headers=tenant.admin)).json()["items"] == []
    base, seen = api
    created = await client.post(
        "/api/v1/tools/templates/order_status",
        headers=tenant.admin,
        json={"url_template": f"{base}/api/orders/{{order_id}}", "secret_header_value": "Bearer shop-token-1"},
    )
    assert created.status_code == 201 and created.json()["has_secret"] is True
    assert "shop-token-1" not in created.text
    result = await call_http_tool(stored_tool(tenant, "order_status"), {"order_id": "10023"}, allow_private=True)
    assert result["body"] == {"order_id": "10023", "status": "shipped", "carrier": "SF Express"}
    assert seen[-1]["auth"] == "Bearer shop-token-1"


async def test_the_example_token_is_never_sent_and_unknown_presets_are_404(client, tenant, api) -> None:
    base, seen = api
    created = await client.post(
        "/api/v1/tools/templates/order_status",
        headers=tenant.admin,
        json={"url_template": f"{base}/api/orders/{{order_id}}"},
    )
    assert created.status_code == 201 and created.json()["has_secret"] is False
    await call_http_tool(stored_tool(tenant, "order_status"), {"order_id": "7"}, allow_private=True)
    assert seen[-1]["auth"] is None
    hours = await client.post(
        "/api/v1/tools/templates/business_hours",
        headers=tenant.admin,
        json={"url_template": f"{base}/api/opening-hours"},
    )
    assert hours.status_code == 201
    missing = await client.post("/api/v1/tools/templates/lottery", headers=tenant.admin)
    assert missing.status_code == 404 and "weather" in missing.text
    bad = await client.post("/api/v1/tools/templates/weather", headers=tenant.admin, json={"method": "DELETE"})
    assert bad.status_code == 422 and "method" in bad.text
