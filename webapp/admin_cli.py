"""The `posdesk user` and `posdesk token` commands, and the `init` step that creates the first admin."""

from __future__ import annotations

import secrets

import click

from webapp.cli import INIT_HOOKS, cli
from webapp.db import get_desk
from webapp.desk import accounts, audit

FIRST_ADMIN = "admin"


@cli.group("user")
def user_group() -> None:
    """Manage desk accounts (agents, editors and admins)."""


@user_group.command("add")
@click.argument("name")
@click.option("--admin", "is_admin", is_flag=True, help="Make the account an admin (manages agents and tokens).")
@click.option(
    "--role",
    type=click.Choice(accounts.ROLES),
    default=None,
    help="The account's role (default agent; editors also edit articles).",
)
@click.password_option("--password", help="The password (prompted, hidden, when not given).")
def user_add(name: str, is_admin: bool, role: str | None, password: str) -> None:
    """Add a desk account (an agent, an editor with --role editor, or an admin with --admin).

    Example: posdesk user add wangli --admin
    """
    if is_admin and role not in (None, "admin"):
        raise click.UsageError("give --admin or --role, not both")
    desk = get_desk()
    try:
        with desk.write():
            user = accounts.create_user(desk, name, password, "admin" if is_admin else role or "agent")
            audit.record(desk, "cli", "user.create", f"user:{user.username}", {"role": user.role})
    except accounts.AccountError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"added {user.role} {user.username}")


@user_group.command("passwd")
@click.argument("name")
@click.password_option("--password", help="The new password (prompted, hidden, when not given).")
def user_passwd(name: str, password: str) -> None:
    """Set a new password for a desk account (its open sessions end).

    Example: posdesk user passwd wangli
    """
    desk = get_desk()
    try:
        with desk.write():
            user = accounts.set_password(desk, name, password)
            audit.record(desk, "cli", "user.password", f"user:{user.username}")
    except accounts.AccountError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"password changed for {user.username}")


@cli.group("token")
def token_group() -> None:
    """Manage API tokens for integrations."""


@token_group.command("create")
@click.argument("name")
def token_create(name: str) -> None:
    """Create an API token; it is printed once, as the last word of the last line.

    Example: posdesk token create callcenter
    """
    desk = get_desk()
    try:
        with desk.write():
            token, secret = accounts.create_token(desk, name, created_by="cli")
            audit.record(desk, "cli", "token.create", f"token:{token.name}", {"prefix": token.prefix})
    except accounts.AccountError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"API token for {name} (shown once, store it safely): {secret}")


@token_group.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Revoke the active API token with this name.

    Example: posdesk token revoke callcenter
    """
    desk = get_desk()
    try:
        with desk.write():
            token = accounts.revoke_token(desk, name)
            audit.record(desk, "cli", "token.revoke", f"token:{token.name}", {"prefix": token.prefix})
    except accounts.AccountError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"revoked token {token.name} ({token.prefix}…)")


def ensure_first_admin() -> None:
    """An `init` step: when no active admin exists, create `admin` with a random password, printed once."""
    desk = get_desk()
    if accounts.admin_exists(desk):
        return
    password = secrets.token_urlsafe(12)
    if accounts.find_user(desk, FIRST_ADMIN):
        accounts.set_password(desk, FIRST_ADMIN, password)
        accounts.set_role(desk, FIRST_ADMIN, "admin")
        accounts.set_active(desk, FIRST_ADMIN, True)
    else:
        accounts.create_user(desk, FIRST_ADMIN, password, "admin")
    click.echo(f"created admin user '{FIRST_ADMIN}' with password {password} (shown once: change it after logging in)")


INIT_HOOKS.append(ensure_first_admin)
