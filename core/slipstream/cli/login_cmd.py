"""``slipstream login URL`` and ``logout``: drive a slipstream that runs elsewhere."""

from __future__ import annotations

import sys

import click


@click.command("login")
@click.argument("url")
@click.option("--username", "-u", help="User name (asked for when not given).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def login(url: str, username: str | None, password_stdin: bool) -> None:
    """Log in to the slipstream API at URL; later commands go through it."""
    from slipstream.cli.remote import login as get_token
    from slipstream.cli.remote import normalize_url, save_credentials

    api_url = normalize_url(url)
    if username is None:
        username = click.prompt("Username")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True)
    path = save_credentials(get_token(api_url, username, password))
    click.echo(f"Logged in to {api_url} as {username}; the token is kept in {path}")


@click.command("logout")
def logout() -> None:
    """Forget the token `slipstream login` saved; commands use the local database again."""
    from slipstream.cli.remote import forget_credentials, load_credentials

    saved = load_credentials()
    if forget_credentials():
        click.echo(f"Logged out of {saved.api_url if saved else 'the API'}")
    else:
        click.echo("Not logged in")
