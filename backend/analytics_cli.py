"""`kefu export` and `kefu analytics …`: exports to a file and analytics jobs run in this process."""

from __future__ import annotations

import uuid
from pathlib import Path

import click


def export(tenant_id: uuid.UUID, dataset: str, fmt: str, start: str | None, end: str | None, output: Path) -> None:
    from analytics.exports import check_request, write_export
    from analytics.period import tenant_period

    check_request(dataset, fmt)
    period = tenant_period(tenant_id, start, end)
    size = write_export(tenant_id, dataset, fmt, period, output)
    click.echo(f"{dataset} {period.start}..{period.end} → {output} ({size:,} bytes)")


def refresh(tenant_ids: list[uuid.UUID], full: bool) -> None:
    from analytics import rollups
    from core.db import tenant_session_sync

    for tenant_id in tenant_ids:
        with tenant_session_sync(tenant_id) as session:
            days = rollups.refresh(session, tenant_id, full=full)
        click.echo(f"{tenant_id}: {len(days)} day(s) recomputed")


def train(tenant_id: uuid.UUID) -> None:
    from analytics.training import train_and_score

    run = train_and_score(tenant_id)
    auc = f"{run.cv_auc:.3f}" if run.cv_auc is not None else "n/a"
    click.echo(f"{tenant_id}: {run.status} model, {run.n_labels} labels, cross-validated ROC-AUC {auc}, "
               f"{run.scored} conversations scored")


def gaps(tenant_id: uuid.UUID) -> None:
    from analytics.gap_topics import refresh_topics

    click.echo(f"{tenant_id}: {refresh_topics(tenant_id)} topic(s)")


def schedule(once: bool) -> None:
    from analytics.schedule import INTERVALS, run_due, run_forever

    if once:
        jobs = run_due()
        click.echo(f"enqueued: {', '.join(jobs) or 'nothing due'}")
        return
    click.echo("analytics schedule: " + ", ".join(f"{job} every {s // 60} min" for job, s in INTERVALS.items()))
    run_forever()
