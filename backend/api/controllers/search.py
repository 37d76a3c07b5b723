"""POST /api/v1/search: the tenant's hybrid retrieval."""

from __future__ import annotations

from litestar import Controller, post
from litestar.params import JSONBody

from backend.api.auth import CurrentPrincipal, requires
from backend.api.schemas import SearchHit, SearchRequest, SearchResponse
from knowledge.retrieval import retrieve


class SearchController(Controller):
    path = "/api/v1/search"
    tags = ["search"]

    @post("/", status_code=200, guards=[requires("analyst")], summary="Search the tenant's knowledge")
    async def search(self, principal: CurrentPrincipal, data: JSONBody[SearchRequest]) -> SearchResponse:
        hits = await retrieve(principal.tenant_id, data.query, data.top_k)
        return SearchResponse(
            [SearchHit(h.chunk_id, h.document_id, h.source_ref, h.text, round(h.score, 6), h.metadata)
             for h in hits]
        )
