"""Similar questions suggested from real traffic: list them, accept one onto its row, or dismiss it."""

from __future__ import annotations

import asyncio
from typing import Annotated

from litestar import Controller, get, post
from litestar.params import JSONBody, QueryParameter

from backend.api.auth import CurrentPrincipal, requires
from backend.api.schemas import PhrasingChoice, PhrasingSuggestionOut, PhrasingSuggestionPage
from knowledge import commands, phrasing_suggestions


class SimilarQuestionController(Controller):
    path = "/api/v1/similar-questions"
    tags = ["documents"]

    @get(
        "/suggestions",
        guards=[requires("analyst")],
        summary="Wordings customers used that could become a FAQ row's similar questions",
    )
    async def suggestions(
        self, principal: CurrentPrincipal, limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50
    ) -> PhrasingSuggestionPage:
        found = await asyncio.to_thread(phrasing_suggestions.list_suggestions, principal.tenant_id, limit)
        return PhrasingSuggestionPage([PhrasingSuggestionOut.of(s) for s in found])

    @post(
        "/suggestions/accept",
        status_code=202,
        guards=[requires("admin")],
        summary="Add a suggested wording to its row's similar questions (re-indexed in the background)",
    )
    async def accept(self, principal: CurrentPrincipal, data: JSONBody[PhrasingChoice]) -> dict[str, str]:
        await asyncio.to_thread(
            lambda: commands.add_similar_question(
                principal.tenant_id, data.document_id, data.source_ref, data.question, user_id=principal.user_id
            )
        )
        return {"status": "accepted", "source_ref": data.source_ref}

    @post(
        "/suggestions/dismiss",
        status_code=200,
        guards=[requires("admin")],
        summary="Stop suggesting a wording for a row",
    )
    async def dismiss(self, principal: CurrentPrincipal, data: JSONBody[PhrasingChoice]) -> dict[str, str]:
        await asyncio.to_thread(
            lambda: commands.dismiss_phrasing(
                principal.tenant_id, data.document_id, data.source_ref, data.question, user_id=principal.user_id
            )
        )
        return {"status": "dismissed", "source_ref": data.source_ref}
