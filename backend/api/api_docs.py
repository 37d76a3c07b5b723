"""The API reference at /schema, served entirely from this server: Swagger UI's files come from the
`swagger-ui-py` package, so the page works offline and where CDNs and Google Fonts are blocked."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

from litestar import Response, get
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.params import FromPath

from backend.api.openapi_security import COMPONENTS

ASSETS = "/schema/assets"
# The only files the page needs, with their media types; nothing else in the package is served.
_FILES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}


@lru_cache(maxsize=1)
def _static_dir() -> Path:
    # Located without importing the package (its __init__ pulls in web-framework adapters).
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed; it is a dependency of kefu")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


@lru_cache(maxsize=len(_FILES))
def _read(name: str) -> bytes:
    return (_static_dir() / name).read_bytes()


@get(f"{ASSETS}/{{name:str}}", include_in_schema=False, sync_to_thread=False)
def api_docs_asset(name: FromPath[str]) -> Response[bytes]:
    media_type = _FILES.get(name)
    if media_type is None:
        raise NotFoundException(f"No API docs asset {name!r}.")
    return Response(_read(name), media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})


def openapi_config() -> OpenAPIConfig:
    swagger = SwaggerRenderPlugin(
        js_url=f"{ASSETS}/swagger-ui-bundle.js",
        css_url=f"{ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>",
        path=["/", "/swagger"],
    )
    return OpenAPIConfig(title="Kefu API", version="0.1.0", path="/schema", render_plugins=[swagger],
                         components=COMPONENTS)
