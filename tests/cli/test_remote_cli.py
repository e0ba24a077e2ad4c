"""The CLI against a remote slipstream: logging in and out, and every server error
turned into a message a person can act on."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from crud_support import home_store
from tests.cli.conftest import ADMIN_PASSWORD, ApiServer
from tests.services import free_ports

from slipstream.api.auth.passwords import hash_password
from slipstream.metadata.records import DagMetadata

if TYPE_CHECKING:
    from conftest import CliRun

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def _seed_dag(home: Path) -> None:
    with home_store(home) as store:
        store.upsert_dags([DagMetadata(dag_id="etl", fileloc="/dags/etl.py", last_parsed_time=T0)])


def test_login_keeps_a_private_token_and_logout_forgets_it(
    slipstream: CliRun, api_server: ApiServer, home: Path
) -> None:
    _seed_dag(home)
    login = slipstream(
        "login", api_server.url + "/", "-u", "admin", "--password-stdin", input=ADMIN_PASSWORD
    )
    assert login.returncode == 0, login.stderr
    credentials = home / ".config" / "slipstream" / "credentials.json"
    assert f"Logged in to {api_server.url} as admin" in login.stdout
    assert credentials.stat().st_mode & 0o777 == 0o600
    assert json.loads(credentials.read_text())["api_url"] == api_server.url

    # Later commands go through the server: the store's DAG is unpaused by the API.
    unpaused = slipstream("dags", "unpause", "etl", "-o", "json")
    assert json.loads(unpaused.stdout) == [{"dag_id": "etl", "is_paused": False}]
    local_only = slipstream("db", "check")
    assert local_only.returncode == 1
    assert "works on the metadata database directly" in local_only.stderr
    assert api_server.url in local_only.stderr

    logout = slipstream("logout")
    assert logout.stdout == f"Logged out of {api_server.url}\n"
    assert not credentials.exists()
    assert slipstream("db", "check").returncode == 0  # local again


def test_wrong_password_at_login(slipstream: CliRun, api_server: ApiServer, home: Path) -> None:
    failed = slipstream(
        "login", api_server.url, "-u", "admin", "--password-stdin", input="not-the-password"
    )
    assert failed.returncode == 1
    assert "did not accept the credentials (Invalid username or password)" in failed.stderr
    assert not (home / ".config" / "slipstream" / "credentials.json").exists()


def test_unreachable_server(slipstream: CliRun) -> None:
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}"
    answer = slipstream(
        "dags",
        "pause",
        "etl",
        env={"SLIPSTREAM__CLI__API_URL": url, "SLIPSTREAM__CLI__API_TOKEN": "x"},
    )
    assert answer.returncode == 1
    assert f"cannot reach the slipstream API at {url}" in answer.stderr
    assert "Is the server running" in answer.stderr


def test_not_logged_in(slipstream: CliRun, api_server: ApiServer) -> None:
    answer = slipstream("variables", "list", env={"SLIPSTREAM__CLI__API_URL": api_server.url})
    assert answer.returncode == 1
    assert f"not logged in to {api_server.url}: run `slipstream login {api_server.url}`" in (
        answer.stderr
    )


def test_expired_token_suggests_login(
    slipstream: CliRun, api_server: ApiServer, home: Path
) -> None:
    from slipstream.api.auth.tokens import TokenKind, TokenSigner

    signer = TokenSigner.for_home(None, home)
    expired = signer.issue("admin", TokenKind.ACCESS, lifetime=-5, role="admin")
    answer = slipstream(
        "dags",
        "pause",
        "etl",
        env={"SLIPSTREAM__CLI__API_URL": api_server.url, "SLIPSTREAM__CLI__API_TOKEN": expired},
    )
    assert answer.returncode == 1
    assert f"your login to {api_server.url} has expired: run `slipstream login" in answer.stderr


def test_forbidden_names_the_role(slipstream: CliRun, api_server: ApiServer, home: Path) -> None:
    _seed_dag(home)
    with home_store(home) as store:
        store.create_user("vera", role="viewer", password_hash=hash_password("viewer-password"))
    token = api_server.token("vera", "viewer-password")
    env = {"SLIPSTREAM__CLI__API_URL": api_server.url, "SLIPSTREAM__CLI__API_TOKEN": token}
    answer = slipstream("dags", "unpause", "etl", env=env)
    assert answer.returncode == 1
    assert "not allowed: This needs the user role or higher; you have viewer" in answer.stderr
    with home_store(home) as store:
        dag = store.get_dag("etl")
        assert dag is not None and dag.is_paused  # nothing changed


def test_bad_api_url(slipstream: CliRun) -> None:
    answer = slipstream("--api-url", "ftp://example", "dags", "pause", "etl")
    assert answer.returncode == 2
    assert "'ftp://example' is not an http(s) URL" in answer.stderr
