"""GET /api/v1/analytics/export: a tenant's data as CSV, Parquet or XLSX, streamed."""

from __future__ import annotations

import asyncio
from typing import Annotated

from litestar import Controller, get
from litestar.params import QueryParameter
from litestar.response import Stream

from analytics.exports import DATASETS, FORMATS, MEDIA_TYPES, check_request, export_filename, iter_export
from analytics.period import tenant_period
from backend.api.auth import CurrentPrincipal, requires

FirstDay = Annotated[str | None, QueryParameter(description="First day, YYYY-MM-DD (default: 30 days ago)")]
LastDay = Annotated[str | None, QueryParameter(
    description="Last day, YYYY-MM-DD (default: today); days are the tenant's time zone's")]


class AnalyticsController(Controller):
    path = "/api/v1/analytics"
    tags = ["analytics"]

    @get("/export", guards=[requires("analyst")],
         summary="Export conversations, messages, feedback or daily metrics (CSV, Parquet, XLSX)")
    async def export(
        self,
        principal: CurrentPrincipal,
        dataset: Annotated[str, QueryParameter(description=f"One of: {', '.join(DATASETS)}")],
        fmt: Annotated[str, QueryParameter(name="format", description=f"One of: {', '.join(FORMATS)}")] = "csv",
        start: FirstDay = None,
        end: LastDay = None,
    ) -> Stream:
        check_request(dataset, fmt)
        period = await asyncio.to_thread(tenant_period, principal.tenant_id, start, end)
        # Checks that need the database (XLSX row limit) run here, before any byte is sent.
        chunks = await asyncio.to_thread(iter_export, principal.tenant_id, dataset, fmt, period)
        filename = export_filename(dataset, fmt, period)
        return Stream(chunks, media_type=MEDIA_TYPES[fmt],
                      headers={"Content-Disposition": f'attachment; filename="{filename}"'})
