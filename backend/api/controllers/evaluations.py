"""Evaluation runs on a tenant's labelled questions, and the confidence threshold they recommend."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import pandas as pd
from litestar import Controller, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, JSONBody, MultipartBody, QueryParameter

from backend.api.auth import CurrentPrincipal, requires
from chat import commands as chat_commands
from core.audit import Actor
from core.db import tenant_session
from core.errors import ValidationFailed
from knowledge import commands, evaluation
from knowledge.thresholds import DEFAULT_TARGET, ThresholdReport


@dataclass
class EvaluationUpload:
    file: UploadFile
    name: str | None = None


@dataclass
class EvaluationRunOut:
    id: uuid.UUID
    name: str
    status: str
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    questions: int | None
    top1: float | None
    answer_rate: float | None
    accuracy: float | None
    threshold: float  # the bot's threshold the run was scored at


@dataclass
class ThresholdTarget:
    target_precision: float = DEFAULT_TARGET


def _report(found: ThresholdReport) -> dict[str, Any]:
    return {
        "target_precision": found.target_precision,
        "recommended_threshold": found.recommended,
        "reason": found.reason,
        "in_scope": found.in_scope,
        "out_of_scope": found.out_of_scope,
        "points": [
            {
                "threshold": p.threshold,
                "precision": p.precision,
                "coverage": p.coverage,
                "right": p.right,
                "answered": p.answered,
                "out_of_scope_answered": p.out_of_scope_answered,
            }
            for p in found.points
        ],
    }


class EvaluationController(Controller):
    path = "/api/v1/evaluations"
    tags = ["evaluations"]

    @post(
        "/",
        status_code=202,
        guards=[requires("admin")],
        summary="Upload a labelled question set (CSV: question, expected) and queue its run",
    )
    async def create(self, principal: CurrentPrincipal, data: MultipartBody[EvaluationUpload]) -> dict[str, Any]:
        upload = data.file
        if not hasattr(upload, "read"):
            raise ValidationFailed("Send the question set as a multipart form field named 'file'.")
        content = await upload.read()
        run_id = await asyncio.to_thread(
            lambda: commands.queue_evaluation(principal.tenant_id, content, name=data.name or upload.filename)
        )
        return {"id": str(run_id), "status": "queued"}

    @get("/", guards=[requires("analyst")], summary="The tenant's evaluation runs, newest first")
    async def list_runs(self, principal: CurrentPrincipal) -> list[EvaluationRunOut]:
        async with tenant_session(principal.tenant_id) as session:
            frame = await session.run_sync(lambda s: evaluation.list_runs(s, principal.tenant_id))
        return [
            EvaluationRunOut(
                r.run_id,
                r.name,
                r.status,
                r.error,
                r.created_at,
                _none(r.finished_at),
                _none(r.questions),
                _none(r.top1),
                _none(r.answer_rate),
                _none(r.accuracy),
                r.threshold,
            )
            for r in frame.itertuples()
        ]

    @get(
        "/{run_id:uuid}/thresholds",
        guards=[requires("analyst")],
        summary="Answer precision and coverage at every threshold, and the one recommended for a target",
    )
    async def thresholds(
        self,
        principal: CurrentPrincipal,
        run_id: FromPath[uuid.UUID],
        target_precision: Annotated[float, QueryParameter(ge=0.5, le=1.0)] = DEFAULT_TARGET,
    ) -> dict[str, Any]:
        async with tenant_session(principal.tenant_id) as session:
            found = await session.run_sync(
                lambda s: evaluation.threshold_report(s, principal.tenant_id, run_id, target_precision)
            )
        return _report(found)

    @post(
        "/{run_id:uuid}/apply-threshold",
        status_code=200,
        guards=[requires("admin")],
        summary="Set the bot's confidence threshold to the one this run recommends for a target precision",
    )
    async def apply(
        self, principal: CurrentPrincipal, run_id: FromPath[uuid.UUID], data: JSONBody[ThresholdTarget]
    ) -> dict[str, Any]:
        if isinstance(data.target_precision, bool) or not isinstance(data.target_precision, int | float):
            raise ValidationFailed("target_precision must be a number between 0.5 and 1 (e.g. 0.9).")
        settings, found = await asyncio.to_thread(
            lambda: chat_commands.apply_recommended_threshold(
                principal.tenant_id, run_id, float(data.target_precision), actor=Actor.of(principal)
            )
        )
        return {
            "confidence_threshold": settings.confidence_threshold,
            "target_precision": found.target_precision,
            "reason": found.reason,
        }


def _none(value: Any) -> Any:
    """pandas' missing values (NaN, NaT) as None."""
    return None if value is None or pd.isna(value) else value
