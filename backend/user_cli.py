"""`kefu user add`: a person for a tenant (an agent for the inbox, an analyst, an admin)."""

from __future__ import annotations

import json

import click

from core.audit import CLI
from core.errors import KefuError

PASSWORD_ENV = "KEFU_USER_PASSWORD"


@click.group("user")
def user_group() -> None:
    """The tenant's users (they log in to the admin app, the API and the agent inbox)."""


@user_group.command("add")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id (or exact name).")
@click.option("--email", required=True, help="The user's email; they log in with it.")
@click.option(
    "--password",
    envvar=PASSWORD_ENV,
    default=None,
    help=f"8+ characters. Better from the {PASSWORD_ENV} environment variable, or leave it out "
    "to be asked (a password on the command line stays in the shell history).",
)
@click.option(
    "--role",
    type=click.Choice(["owner", "admin", "analyst", "agent"]),
    default="agent",
    show_default=True,
    help="agent: replies in the inbox; analyst: reports; admin/owner: everything.",
)
@click.option("--name", "display_name", default=None, help="The name customers see on an agent's replies.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def user_add(
    tenant_ref: str, email: str, password: str | None, role: str, display_name: str | None, as_json: bool
) -> None:
    """Add a user to a tenant; the password comes from --password, $KEFU_USER_PASSWORD or a prompt."""
    from backend.tenant_ref import resolve_tenant
    from core.db import tenant_session_sync
    from core.tenancy import add_user

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    tenant_id = resolve_tenant(tenant_ref)
    try:
        with tenant_session_sync(tenant_id) as session:
            user = add_user(session, tenant_id, email, password, role, actor=CLI, display_name=display_name)
            result = {"id": str(user.id), "email": user.email, "role": user.role, "tenant_id": str(tenant_id)}
    except KefuError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(json.dumps(result) if as_json else f"Added {result['email']} ({result['role']}), id {result['id']}.")
