"""``slipstream users``: the people who may use the web server and the API.

A password is never an argument (it would sit in the shell's history and in
``ps``): it comes from a prompt, or from standard input with ``--password-stdin``.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from slipstream.cli.crud_helpers import fail, iso
from slipstream.cli.output import emit, output_option
from slipstream.cli.store_access import cli_store
from slipstream.errors import AlreadyExistsError, NotFoundError
from slipstream.metadata.records import USER_ROLES, User

COLUMNS = ["username", "role", "email", "active", "last_login"]


def user_record(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "role": user.role,
        "email": user.email,
        "active": user.active,
        "created_at": iso(user.created_at),
        "last_login": iso(user.last_login),
    }


def read_password(from_stdin: bool, *, confirm: bool = True) -> str:
    from slipstream.api.auth.passwords import check_password_strength

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    try:
        check_password_strength(password)
    except ValueError as exc:
        fail(str(exc))
    return password


@click.group("users")
def users() -> None:
    """Web server users: create, list, delete, reset-password."""


role_option = click.option(
    "--role",
    "-r",
    type=click.Choice(USER_ROLES),
    required=True,
    help="admin manages users; op also variables, connections and pools; user triggers "
    "and clears; viewer only reads.",
)
stdin_option = click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input."
)


@users.command("create")
@click.option("--username", "-u", required=True)
@role_option
@click.option("--email", "-e", default=None)
@stdin_option
def create(username: str, role: str, email: str | None, password_stdin: bool) -> None:
    """Create a user (the password is asked for, or read from stdin)."""
    from slipstream.api.auth.passwords import hash_password

    if not username.strip() or len(username) > 250:
        fail("a user name must be 1 to 250 characters")
    with cli_store() as store:
        if store.get_user(username) is not None:
            fail(f"user {username!r} already exists")
        password = read_password(password_stdin)
        from slipstream.cli.api_store import ApiStore

        if isinstance(store, ApiStore):
            store.create_user_with_password(username, role=role, email=email, password=password)
            click.echo(f"user {username!r} created with role {role}")
            return
        try:
            store.create_user(
                username, role=role, password_hash=hash_password(password), email=email
            )
        except AlreadyExistsError:
            fail(f"user {username!r} already exists")
    click.echo(f"user {username!r} created with role {role}")


@users.command("list")
@output_option
def list_users(output: str) -> None:
    """Every user and their role."""
    with cli_store() as store:
        rows = [user_record(user) for user in store.list_users().items]
    emit(rows, COLUMNS, output)


@users.command("delete")
@click.argument("username")
def delete(username: str) -> None:
    """Delete a user; their tokens and sessions stop working at once."""
    with cli_store() as store:
        try:
            store.delete_user(username)
        except NotFoundError:
            fail(f"user {username!r} does not exist")
    click.echo(f"user {username!r} deleted")


@users.command("reset-password")
@click.argument("username")
@stdin_option
def reset_password(username: str, password_stdin: bool) -> None:
    """Give a user a new password."""
    from slipstream.api.auth.passwords import hash_password

    with cli_store() as store:
        if store.get_user(username) is None:
            fail(f"user {username!r} does not exist")
        password = read_password(password_stdin)
        from slipstream.cli.api_store import ApiStore

        if isinstance(store, ApiStore):
            store.set_user_password(username, password)
        else:
            store.update_user(username, password_hash=hash_password(password))
    click.echo(f"password of {username!r} changed")
