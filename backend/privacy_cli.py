"""`kefu identity` and `kefu privacy`: the identity secret, erasure on request, the retention period."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import click

from core.audit import CLI
from core.errors import KefuError


def _run(call: Callable[[], object]) -> object:
    try:
        return call()
    except KefuError as exc:
        raise click.ClickException(exc.detail) from exc


def _tenant(value: str) -> uuid.UUID:
    from backend.tenant_ref import resolve_tenant

    return resolve_tenant(value)


@click.group("identity")
def identity_group() -> None:
    """The identity secret a tenant's site signs its signed-in customers with (docs/widget.md)."""


@identity_group.command("show")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id (or exact name).")
def identity_show(tenant_ref: str) -> None:
    """Print the tenant's identity secret (created if it has none)."""
    from core.tenancy import identity_secret

    click.echo(_run(lambda: identity_secret(_tenant(tenant_ref))))


@identity_group.command("rotate")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id (or exact name).")
def identity_rotate(tenant_ref: str) -> None:
    """Replace the identity secret; hashes made with the old one stop verifying at once."""
    from core.tenancy import rotate_identity_secret

    click.echo(_run(lambda: rotate_identity_secret(_tenant(tenant_ref), actor=CLI)))
    click.echo("Update the secret on the site's server now: signed-in customers are refused until it is.", err=True)


@click.group("privacy")
def privacy_group() -> None:
    """Erase a person's data on request; set how long conversations are kept."""


@privacy_group.command("erase")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id (or exact name).")
@click.option("--visitor", "visitor_id", help="A widget visitor id.")
@click.option("--user", "user_id", help="A verified user id (the site's own user id).")
def privacy_erase(tenant_ref: str, visitor_id: str | None, user_id: str | None) -> None:
    """Delete one visitor's or one verified user's conversations and what was derived from them."""
    from analytics import commands
    from chat.conversations import check_visitor_id
    from core.identity import check_user_id

    if (visitor_id is None) == (user_id is None):
        raise click.UsageError("Give exactly one of --visitor and --user.")
    tenant_id = _tenant(tenant_ref)
    if visitor_id is not None:
        erased = _run(lambda: commands.erase_visitor(tenant_id, check_visitor_id(visitor_id), actor=CLI))
    else:
        erased = _run(lambda: commands.erase_user(tenant_id, check_user_id(user_id), actor=CLI))
    click.echo(json.dumps(erased.public()))  # type: ignore[attr-defined]


@privacy_group.command("retention")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id (or exact name).")
@click.option("--days", type=int, help="Keep conversations this many days after their last message.")
@click.option("--keep", is_flag=True, help="Keep conversations forever (no retention period).")
@click.option("--apply", "apply_now", is_flag=True, help="Delete the expired conversations now.")
def privacy_retention(tenant_ref: str, days: int | None, keep: bool, apply_now: bool) -> None:
    """Set the retention period (the worker applies it hourly)."""
    from analytics import commands
    from core.tenancy import set_retention

    if days is not None and keep:
        raise click.UsageError("Give --days or --keep, not both.")
    tenant_id = _tenant(tenant_ref)
    if days is not None or keep:
        _run(lambda: set_retention(tenant_id, None if keep else days, actor=CLI))
    if apply_now:
        erased = _run(lambda: commands.apply_retention(tenant_id))
        click.echo(json.dumps(erased.public()))  # type: ignore[attr-defined]
