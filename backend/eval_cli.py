"""`kefu eval retrieval`: score a labelled question set with the same machinery as the Dash Accuracy page.

With `--tenant` the run is stored on that tenant (its knowledge, optionally refreshed from `--faq`
first). Without it a scratch tenant is created from `--faq`, evaluated, and deleted again, so a
FAQ file and a question file are all anyone needs to measure retrieval on their own data.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import click
import pandas as pd
from sqlalchemy import text

from core.db import owner_engine, tenant_session_sync
from core.errors import KefuError
from knowledge import evaluation

SHOWN_FAILURES = 15


def _ingest_inline(tenant_id: uuid.UUID, faq: Path) -> None:
    from knowledge.commands import upload_document

    accepted = upload_document(tenant_id, faq.name, faq.read_bytes(), inline=True)
    if accepted.action != "unchanged" and accepted.status != "ready":
        raise click.ClickException(f"{faq.name} could not be indexed: {accepted.error}")


def _scratch_tenant() -> uuid.UUID:
    from core.tenancy import create_tenant

    suffix = uuid.uuid4().hex[:10]
    return create_tenant(f"eval scratch {suffix}", f"eval-{suffix}@scratch.kefu.local", uuid.uuid4().hex).tenant_id


def _drop_tenant(tenant_id: uuid.UUID) -> None:
    from knowledge.documents import remove_blob

    with owner_engine().begin() as conn:  # everything tenant-owned goes with it (ON DELETE CASCADE)
        blobs = list(conn.scalars(text("SELECT blob_key FROM documents WHERE tenant_id = :id"), {"id": tenant_id}))
        conn.execute(text("DELETE FROM tenants WHERE id = :id"), {"id": tenant_id})
    for blob_key in blobs:
        remove_blob(blob_key)


def run(faq: Path | None, queries: Path, tenant_id: uuid.UUID | None, *, name: str | None,
        threshold: float | None, as_json: bool) -> None:
    if tenant_id is None and faq is None:
        raise click.UsageError("Give --faq FILE (evaluated in a scratch tenant) or --tenant T.")
    scratch = tenant_id is None
    tenant = _scratch_tenant() if tenant_id is None else tenant_id
    try:
        if faq is not None:
            _ingest_inline(tenant, faq)
        run_id = evaluation.run_evaluation(tenant, queries.read_bytes(), name=name or queries.name,
                                           threshold=threshold)
        with tenant_session_sync(tenant) as session:
            summary = evaluation.list_runs(session, tenant).set_index("run_id").loc[run_id]
            failures = evaluation.run_failures(session, tenant, run_id)
    except KefuError as exc:
        raise click.ClickException(exc.detail) from exc
    finally:
        if scratch:
            _drop_tenant(tenant)
    _print(run_id, summary, failures, scratch=scratch, as_json=as_json)


def _plain(value: object) -> float | int | None:
    """A pandas cell as JSON-able number; missing (None/NaN) as None."""
    if value is None or pd.isna(value):
        return None
    return value.item() if hasattr(value, "item") else value  # type: ignore[return-value]


def _fmt(value: float | int | None) -> str:
    return "n/a" if value is None else f"{float(value):.3f}"


def _print(run_id: uuid.UUID, summary: pd.Series, failures: pd.DataFrame, *, scratch: bool,
           as_json: bool) -> None:
    keys = ("questions", "in_scope", "top1", "mrr", "recall_at_5", "answer_rate", "handoff_rate", "accuracy",
            "threshold", "failures")
    figures = {k: _plain(summary[k]) for k in keys}
    if as_json:
        click.echo(json.dumps({"run_id": None if scratch else str(run_id), **figures}))
        return
    click.echo(f"questions {figures['questions']} (in scope {figures['in_scope']})  "
               f"top-1 {_fmt(figures['top1'])}  MRR@10 {_fmt(figures['mrr'])}  "
               f"recall@5 {_fmt(figures['recall_at_5'])}")
    click.echo(f"at confidence threshold {_fmt(figures['threshold'])}: answer rate {_fmt(figures['answer_rate'])}  "
               f"out-of-scope hand-off rate {_fmt(figures['handoff_rate'])}  "
               f"accuracy (all rows) {_fmt(figures['accuracy'])}  failures {figures['failures']}")
    for f in failures.head(SHOWN_FAILURES).itertuples():
        click.echo(f"  row {f.row} {f.kind}: {f.question[:70]!r} expected {f.expected or '(none)'} "
                   f"got {f.top_ref} (confidence {f.confidence:.2f})")
    if len(failures) > SHOWN_FAILURES:
        click.echo(f"  ... {len(failures) - SHOWN_FAILURES} more")
    if not scratch:
        click.echo(f"stored as evaluation run {run_id}")
