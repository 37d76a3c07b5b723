"""Tenant-defined HTTP tools the chat model may call: create, list (secrets hidden), delete."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from litestar import Controller, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from backend.api.auth import CurrentPrincipal, requires
from chat import commands, http_tool_specs, http_tool_templates
from core.audit import Actor
from core.db import tenant_session


@dataclass
class HttpToolIn:
    name: str
    description: str
    url_template: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    method: str = "GET"
    timeout_seconds: float = 5.0
    secret_header_name: str | None = None
    secret_header_value: str | None = None
    enabled: bool = True


@dataclass
class HttpToolOut:
    name: str
    description: str
    parameters: dict[str, Any]
    url_template: str
    method: str
    timeout_seconds: float
    secret_header_name: str | None
    has_secret: bool
    enabled: bool
    created_at: datetime


@dataclass
class HttpToolList:
    items: list[HttpToolOut]


@dataclass
class ToolTemplate:
    id: str
    title: str
    needs: list[str]  # fields to fill in before saving (the preset points at an example host)
    spec: dict[str, Any]


@dataclass
class ToolTemplateList:
    items: list[ToolTemplate]


class ToolController(Controller):
    path = "/api/v1/tools"
    tags = ("tools",)

    @post("/", status_code=201, guards=[requires("admin")], summary="Define an HTTP tool")
    async def create_tool(self, principal: CurrentPrincipal, data: JSONBody[HttpToolIn]) -> HttpToolOut:
        return HttpToolOut(**await asyncio.to_thread(lambda: commands.create_http_tool(
            principal.tenant_id, asdict(data), actor=Actor.of(principal))))

    @get("/", guards=[requires("analyst")], summary="List HTTP tools (secret values are never shown)")
    async def list_tools(self, principal: CurrentPrincipal) -> HttpToolList:
        async with tenant_session(principal.tenant_id) as session:
            views = await session.run_sync(http_tool_specs.list_http_tools, principal.tenant_id)
        return HttpToolList([HttpToolOut(**view) for view in views])

    @get("/templates", guards=[requires("analyst")], summary="Built-in tool presets (weather, order status, hours)")
    async def list_templates(self, lang: FromQuery[str] = "en") -> ToolTemplateList:
        return ToolTemplateList([ToolTemplate(**t) for t in http_tool_templates.list_templates(lang)])

    @post("/templates/{template:str}", status_code=201, guards=[requires("admin")],
          summary="Define a tool from a preset; the body overrides any of its fields")
    async def create_from_template(self, principal: CurrentPrincipal, template: FromPath[str],
                                   data: JSONBody[dict[str, Any] | None] = None) -> HttpToolOut:
        spec = http_tool_templates.template_spec(template, data)
        return HttpToolOut(**await asyncio.to_thread(lambda: commands.create_http_tool(
            principal.tenant_id, spec, actor=Actor.of(principal))))

    @delete("/{name:str}", status_code=204, guards=[requires("admin")], summary="Delete an HTTP tool")
    async def delete_tool(self, principal: CurrentPrincipal, name: FromPath[str]) -> None:
        await asyncio.to_thread(lambda: commands.delete_http_tool(principal.tenant_id, name, actor=Actor.of(principal)))
