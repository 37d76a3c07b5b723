"""`kefu reembed` and `kefu embedders`: move a tenant to another embedder and see where each tenant stands."""

from __future__ import annotations

import time
import uuid

import click

from knowledge.embedding import configured_spec


def reembed_tenant(tenant_id: uuid.UUID, embedder: str | None, *, wait: bool, inline: bool, timeout: int) -> None:
    from knowledge import commands, reembed

    target = embedder or str(configured_spec())
    job = commands.reembed_knowledge(tenant_id, target, inline=inline)
    click.echo(f"re-embedding {job.id}: {job.total} chunks, {job.previous or 'none'} -> {job.embedder} ({job.status})")
    if job.status != "queued" or not wait:
        if job.status == "queued":
            click.echo(f"follow it with: kefu reembed --tenant {tenant_id} --status")
        return
    deadline, shown = time.monotonic() + timeout, -1
    while time.monotonic() < deadline:
        now = reembed.job(tenant_id, job.id)
        if now is None:
            raise click.ClickException("the re-embedding job disappeared (was the tenant deleted?)")
        if now.embedded != shown and now.status == "running":
            click.echo(f"  {now.embedded}/{now.total} chunks embedded")
            shown = now.embedded
        if now.status == "done":
            click.echo(f"done: the tenant now searches {now.embedder} vectors ({now.embedded} chunks)")
            return
        if now.status == "failed":
            raise click.ClickException(f"re-embedding failed: {now.error}")
        time.sleep(1.0)
    raise click.ClickException("still running; follow it with `kefu reembed --tenant T --status`")


def show_tenant(tenant_id: uuid.UUID) -> None:
    from knowledge import reembed

    current = next((t for t in _overview() if t.tenant_id == tenant_id), None)
    if current is not None:
        click.echo(f"embedder: {current.embedder or 'none yet'} ({current.chunks} chunks)")
        if current.problem:
            click.echo(f"problem: {current.problem}")
    for job in reembed.jobs(tenant_id):
        line = f"{job.created_at:%Y-%m-%d %H:%M} {job.status:8} -> {job.embedder} {job.embedded}/{job.total}"
        click.echo(line + (f"  {job.error}" if job.error else ""))


def _overview():  # type: ignore[no-untyped-def]
    from knowledge.embedders import overview

    return overview()


def show_overview() -> None:
    configured = configured_spec()
    click.echo(f"configured (KEFU_EMBEDDER): {configured}")
    for tenant in _overview():
        flag = "CANNOT SEARCH" if tenant.problem else "differs" if tenant.differs else "ok"
        click.echo(f"{tenant.tenant_id}  {tenant.name[:30]:30}  {tenant.chunks:8}  {tenant.embedder or '-'}  {flag}")
        if tenant.problem:
            click.echo(f"    {tenant.problem}")
