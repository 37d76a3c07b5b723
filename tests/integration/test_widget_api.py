"""Serving the widget script and the demo shop, cross-origin access, and what the widget asks besides chat."""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path

import pytest

from backend.api.controllers.widget import widget_script
from core.tenancy import CreatedTenant, create_tenant
from tests.factories import TenantCtx, qa_csv

pytestmark = pytest.mark.integration
SCRIPT = Path(__file__).resolve().parents[2] / "widget" / "kefu.js"
SHOP_SITE = "https://shop.example.com"


@pytest.fixture
def shop_with_origins() -> CreatedTenant:
    suffix = uuid.uuid4().hex[:8]
    return create_tenant(f"Origins {suffix}", f"o-{suffix}@example.com", "password-123", origins=[SHOP_SITE])


async def test_script_is_served_gzipped_with_caching_headers_and_within_budget(client) -> None:
    response = await client.get("/widget/kefu.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["content-encoding"] == "gzip"
    assert "max-age" in response.headers["cache-control"] and response.headers["vary"] == "Accept-Encoding"
    assert response.content == SCRIPT.read_bytes()  # httpx undoes the gzip
    assert len(widget_script().gzipped) <= 25 * 1024
    assert gzip.decompress(widget_script().gzipped) == SCRIPT.read_bytes()


async def test_script_revalidates_with_its_etag_and_is_plain_without_gzip(client) -> None:
    first = await client.get("/widget/kefu.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in first.headers and first.content == SCRIPT.read_bytes()
    again = await client.get("/widget/kefu.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_preflight_is_answered_for_widget_routes_only(client, tenant: TenantCtx) -> None:
    asked = {
        "Origin": SHOP_SITE,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-widget-key",
    }
    chat = await client.options("/api/v1/chat", headers=asked)
    assert chat.status_code == 204
    assert chat.headers["access-control-allow-origin"] == SHOP_SITE
    assert "x-widget-key" in chat.headers["access-control-allow-headers"]
    assert "idempotency-key" in chat.headers["access-control-allow-headers"]  # the widget's HTTP path sends it
    admin = await client.options("/api/v1/documents", headers=asked)
    assert "access-control-allow-origin" not in admin.headers


async def test_allowed_origin_is_served_and_other_origins_get_a_readable_403(client, shop_with_origins) -> None:
    key = {"X-Widget-Key": shop_with_origins.widget_key}
    allowed = await client.get("/api/v1/widget/config", headers={**key, "Origin": SHOP_SITE})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == SHOP_SITE
    refused = await client.post(
        "/api/v1/chat", json={"message": "hi"}, headers={**key, "Origin": "https://evil.example"}
    )
    assert refused.status_code == 403 and "not allowed" in refused.json()["detail"]
    assert refused.headers["access-control-allow-origin"] == "https://evil.example"  # so the widget can show why


async def test_config_carries_the_tenants_greeting(client, tenant: TenantCtx) -> None:
    saved = await client.put("/api/v1/settings/bot", headers=tenant.admin, json={"greeting": "Welcome to the shop!"})
    assert saved.status_code == 200
    config = await client.get("/api/v1/widget/config", headers={"X-Widget-Key": tenant.created.widget_key})
    assert config.json() == {"greeting": "Welcome to the shop!", "language": "auto",
                             # no office hours set: always open; but no agent has the inbox open
                             "service": {"open": True, "agent_online": False, "ask_contact": True,
                                         "reason": "no_agent"},
                             "voice": {"available": False, "max_seconds": 60,  # no speech-to-text endpoint
                                       "max_bytes": 10 * 1024 * 1024}}


async def test_sources_describe_the_cited_faq_rows_for_the_visitor_only(
    client, tenant, other_tenant, stub_worker
) -> None:
    upload = await client.post(
        "/api/v1/documents",
        headers=tenant.admin,
        files={
            "file": ("faq.csv", qa_csv([("F-1", "Do you sell matcha?", "Yes, ceremonial grade matcha in 30 g tins.")]))
        },
    )
    assert upload.status_code == 202
    stub_worker()
    # The test embedder is not calibrated for the confidence gate; answer whatever is retrieved.
    await client.put("/api/v1/settings/bot", headers=tenant.admin, json={"confidence_threshold": 0})
    key = {"X-Widget-Key": tenant.created.widget_key}
    answer = (
        await client.post("/api/v1/chat", headers=key, json={"message": "Do you sell matcha?", "visitor_id": "v-src"})
    ).json()
    assert answer["citations"]
    url = f"/api/v1/widget/conversations/{answer['conversation_id']}/sources"
    found = (await client.get(url, headers=key, params={"visitor_id": "v-src"})).json()
    [source] = found["sources"][answer["message_id"]]
    assert source["title"] == "Do you sell matcha?" and source["snippet"].startswith("Yes, ceremonial")
    assert source["source_ref"] == "F-1" and source["url"] is None
    assert (await client.get(url, headers=key, params={"visitor_id": "v-other"})).status_code == 404
    foreign = {"X-Widget-Key": other_tenant.created.widget_key}
    assert (await client.get(url, headers=foreign, params={"visitor_id": "v-src"})).status_code == 404
    bad = await client.get(url, headers=key, params={"visitor_id": "no spaces allowed"})
    assert bad.status_code == 422 and "visitor_id" in bad.json()["detail"]


async def test_demo_shop_page_embeds_the_widget_with_the_given_key(client, tenant: TenantCtx) -> None:
    page = await client.get("/demo/shop", params={"key": tenant.created.widget_key, "lang": "zh"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f'/widget/kefu.js" data-key="{tenant.created.widget_key}" data-title="' in page.text
    assert ' data-lang="zh" async></script>' in page.text and "data-user-id" not in page.text
    bad = await client.get("/demo/shop", params={"key": '"><script>alert(1)</script>'})
    assert bad.status_code == 422 and "widget key" in bad.json()["detail"]
    assert (await client.get("/demo/shop", params={"key": tenant.created.widget_key, "lang": "fr"})).status_code == 422


async def test_admins_and_analysts_get_the_install_snippet(client, tenant: TenantCtx) -> None:
    response = await client.get("/api/v1/settings/widget", headers=tenant.analyst)
    assert response.status_code == 200
    [entry] = response.json()["keys"]
    assert entry["widget_key"] == tenant.created.widget_key
    assert entry["snippet"].endswith(f'/widget/kefu.js" data-key="{tenant.created.widget_key}" '
                                     f'data-title="{tenant.created.name}" async></script>')
    assert (await client.get("/api/v1/settings/widget")).status_code == 401
