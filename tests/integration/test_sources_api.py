"""The sources API, CLI and what website pages look like to search, chat and the widget."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from backend.cli import main as kefu
from core.db import tenant_session_sync
from core.models import Chunk, Document
from core.settings import get_settings
from tests.support.website import Page, Website, html

pytestmark = pytest.mark.integration

RETURNS = ("<h1>Returns policy</h1><p>Unused teapots can be returned within 30 days of delivery for a full "
           "refund.</p><h2>Refund timing</h2><p>Refunds reach your card within five working days.</p>")


def small_site(site: Website) -> None:
    site.add("/robots.txt", Page(b"User-agent: *\nAllow: /\n", content_type="text/plain"))
    site.add("/", html("Teapot Shop", "<h1>Teapot Shop</h1><p>Handmade teapots and cups, shipped worldwide.</p>",
                       links=["/returns"]))
    site.add("/returns", html("Returns", RETURNS))


async def test_add_follow_progress_list_pages_and_delete(client, tenant, stub_worker) -> None:
    with Website() as site:
        small_site(site)
        added = await client.post("/api/v1/sources", headers=tenant.admin,
                                  json={"type": "website", "url": site.url + "/", "schedule": "daily"})
        assert added.status_code == 202, added.text
        body = added.json()
        assert body["status"] == "queued" and body["schedule"] == "daily"
        source_id = body["id"]
        stub_worker()
        read = (await client.get(f"/api/v1/sources/{source_id}", headers=tenant.analyst)).json()
        assert read["status"] == "ready", read
        assert (read["pages_seen"], read["pages_indexed"], read["pages_failed"]) == (2, 2, 0)
        assert read["last_sync_at"] and read["next_sync_at"] > read["last_sync_at"]
        listed = (await client.get("/api/v1/sources", headers=tenant.analyst)).json()["items"]
        assert [s["id"] for s in listed] == [source_id]
        pages = (await client.get(f"/api/v1/sources/{source_id}/pages", headers=tenant.analyst,
                                  params={"result": "indexed"})).json()
        assert pages["total"] == 2 and {p["url"] for p in pages["items"]} == {site.url + "/", site.url + "/returns"}
        assert all(p["document_id"] for p in pages["items"])
        documents = (await client.get("/api/v1/documents", headers=tenant.analyst)).json()["items"]
        assert {d["url"] for d in documents} == {site.url + "/", site.url + "/returns"}

        again = await client.post(f"/api/v1/sources/{source_id}/sync", headers=tenant.admin)
        assert again.status_code == 202 and again.json()["status"] == "queued"
        stub_worker()
        read = (await client.get(f"/api/v1/sources/{source_id}", headers=tenant.analyst)).json()
        assert (read["status"], read["pages_unchanged"], read["pages_indexed"]) == ("ready", 2, 0)

        duplicate = await client.post("/api/v1/sources", headers=tenant.admin, json={"url": site.url + "/"})
        assert duplicate.status_code == 409 and source_id in duplicate.json()["detail"]

    deleted = await client.delete(f"/api/v1/sources/{source_id}", headers=tenant.admin)
    assert deleted.status_code == 204
    assert (await client.get(f"/api/v1/sources/{source_id}", headers=tenant.admin)).status_code == 404
    with tenant_session_sync(tenant.id) as session:
        assert session.scalar(select(func.count()).select_from(Document)) == 0
        assert session.scalar(select(func.count()).select_from(Chunk)) == 0


@pytest.mark.parametrize(("body", "fix"), [
    ({"url": ""}, "url"),
    ({"url": "ftp://shop.example.com/"}, "http"),
    ({"url": "https://user:pw@shop.example.com/"}, "user name"),
    ({"url": "https://shop.example.com/", "type": "rss"}, "website"),
    ({"url": "https://shop.example.com/", "schedule": "hourly"}, "schedule"),
    ({"url": "https://shop.example.com/", "max_pages": 0}, "max_pages"),
    ({"url": "https://shop.example.com/", "max_pages": 10**6}, "per tenant"),
    ({"url": "https://shop.example.com/", "max_depth": 99}, "max_depth"),
    ({"url": "https://shop.example.com/", "include": ["x" * 400]}, "include"),
])
async def test_bad_sources_get_a_422_saying_what_to_fix(client, tenant, body, fix) -> None:
    response = await client.post("/api/v1/sources", headers=tenant.admin, json=body)
    assert response.status_code == 422, response.text
    assert fix in response.json()["detail"]
    assert (await client.get("/api/v1/sources", headers=tenant.admin)).json()["items"] == []


async def test_private_addresses_are_refused_unless_the_operator_allows_them(client, tenant, monkeypatch) -> None:
    monkeypatch.setenv("KEFU_CRAWL_ALLOW_PRIVATE", "false")
    get_settings.cache_clear()
    try:
        for url in ("http://127.0.0.1:8000/", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.7/",
                    "http://localhost/help", "http://[::1]/"):
            response = await client.post("/api/v1/sources", headers=tenant.admin, json={"url": url})
            assert response.status_code == 422, (url, response.text)
            assert "only public websites" in response.json()["detail"]
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


async def test_website_answers_cite_the_page_url_in_search_chat_and_the_widget(client, tenant, stub_worker,
                                                                              real_embedder) -> None:
    with Website() as site:
        small_site(site)
        added = await client.post("/api/v1/sources", headers=tenant.admin, json={"url": site.url + "/"})
        assert added.status_code == 202
        stub_worker()
    returns = site.url + "/returns"
    hits = (await client.post("/api/v1/search", headers=tenant.admin,
                              json={"query": "how long do refunds take", "top_k": 3})).json()["hits"]
    assert hits[0]["metadata"]["url"] == returns

    await client.put("/api/v1/settings/bot", headers=tenant.admin, json={"confidence_threshold": 0})
    key = {"X-Widget-Key": tenant.created.widget_key}
    answer = (await client.post("/api/v1/chat", headers=key,
                                json={"message": "Can I return a teapot?", "visitor_id": "v-web"})).json()
    assert answer["citations"] and answer["citations"][0]["metadata"] == {"url": returns}
    sources = (await client.get(f"/api/v1/widget/conversations/{answer['conversation_id']}/sources", headers=key,
                                params={"visitor_id": "v-web"})).json()["sources"][answer["message_id"]]
    assert sources[0]["url"] == returns and sources[0]["title"].startswith("Returns")


def test_cli_adds_syncs_lists_and_removes_a_source(tenant) -> None:
    runner = CliRunner()
    with Website() as site:
        small_site(site)
        added = runner.invoke(kefu, ["source", "add", "--tenant", str(tenant.id), site.url + "/", "--inline",
                                     "--json", "--schedule", "weekly"])
        assert added.exit_code == 0, added.output
        source = json.loads(added.output.strip().splitlines()[-1])
        assert (source["status"], source["pages_indexed"], source["schedule"]) == ("ready", 2, "weekly")
        site.add("/returns", html("Returns", RETURNS.replace("30 days", "60 days")))
        synced = runner.invoke(kefu, ["source", "sync", "--tenant", str(tenant.id), source["id"], "--inline",
                                      "--json"])
        assert synced.exit_code == 0, synced.output
        assert json.loads(synced.output.strip().splitlines()[-1])["pages_indexed"] == 1
    listed = runner.invoke(kefu, ["source", "list", "--tenant", str(tenant.id)])
    assert source["id"] in listed.output and "ready" in listed.output
    removed = runner.invoke(kefu, ["source", "remove", "--tenant", str(tenant.id), source["id"]])
    assert removed.exit_code == 0 and "removed" in removed.output
    unknown = runner.invoke(kefu, ["source", "add", "--tenant", str(tenant.id), "ftp://nope/", "--no-wait"])
    assert unknown.exit_code != 0 and "http" in unknown.output
