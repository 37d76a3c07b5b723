"""The API reference at /schema works offline: every file it loads is served by the API itself."""

from __future__ import annotations

import re


async def test_the_reference_page_loads_nothing_from_other_hosts(client) -> None:
    response = await client.get("/schema")
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    page = response.text
    assert "SwaggerUIBundle" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "the page must not load from another host"
    assert "fonts.googleapis" not in page and "cdn." not in page
    for asset in re.findall(r"""(?:src|href)=["']?(/schema/assets/[^"' >]+)""", page):
        loaded = await client.get(asset)
        assert loaded.status_code == 200 and loaded.content, asset
        assert "max-age" in loaded.headers["cache-control"]


async def test_assets_are_the_swagger_files_only(client) -> None:
    script = await client.get("/schema/assets/swagger-ui-bundle.js")
    assert script.headers["content-type"].startswith("text/javascript") and b"SwaggerUIBundle" in script.content
    assert (await client.get("/schema/assets/swagger-ui.css")).headers["content-type"].startswith("text/css")
    for name in ("index.css", "swagger-editor.js", "..%2F__init__.py", "LICENSE"):
        assert (await client.get(f"/schema/assets/{name}")).status_code == 404
