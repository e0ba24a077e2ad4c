"""Tokens, roles, the rate limit on failed logins, and which routes need what."""

from __future__ import annotations

import pytest

from tests.api.conftest import PASSWORD, Api


def test_health_needs_no_credentials(api: Api) -> None:
    response = api.client.get("/api/v2/monitor/health")
    assert response.status_code == 200
    assert response.json()["metadatabase"] == {"status": "healthy"}


@pytest.mark.parametrize("path", ["/api/v2/dags", "/api/v2/version", "/api/v2/openapi.json"])
def test_everything_else_needs_credentials(api: Api, path: str) -> None:
    response = api.client.get(path)
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    assert response.headers["www-authenticate"] == "Bearer"


def test_token_from_json_or_form_body(api: Api) -> None:
    by_json = api.client.post("/auth/token", json={"username": "viewer", "password": PASSWORD})
    by_form = api.client.post("/auth/token", data={"username": "viewer", "password": PASSWORD})
    for response in (by_json, by_form):
        assert response.status_code == 201
        token = response.json()["access_token"]
        version = api.client.get("/api/v2/version", headers={"Authorization": f"Bearer {token}"})
        assert version.status_code == 200
        assert version.json()["version"]


@pytest.mark.parametrize(
    "body",
    [{"username": "viewer"}, {"password": "x"}, {"username": 3, "password": "x"}, [1, 2]],
)
def test_malformed_login_is_422(api: Api, body: object) -> None:
    response = api.client.post("/auth/token", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"]


def test_wrong_password_and_unknown_user_look_alike(api: Api) -> None:
    wrong = api.client.post("/auth/token", json={"username": "viewer", "password": "nope-nope"})
    unknown = api.client.post("/auth/token", json={"username": "ghost", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "Invalid username or password"}


def test_failed_logins_are_rate_limited_per_user(api: Api) -> None:
    limit = api.runtime.config["api.login_attempts_per_minute"]
    for _ in range(limit):
        response = api.client.post("/auth/token", json={"username": "op", "password": "bad-pass"})
        assert response.status_code == 401
    blocked = api.client.post("/auth/token", json={"username": "op", "password": PASSWORD})
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert "Too many failed logins" in blocked.json()["detail"]
    # Another user is not locked out by op's failures.
    other = api.client.post("/auth/token", json={"username": "user", "password": PASSWORD})
    assert other.status_code == 201


def test_forged_and_garbage_tokens_are_refused(api: Api) -> None:
    token = api.token("admin")
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-2]}xx"
    for bad in (forged, "garbage", ""):
        response = api.client.get("/api/v2/dags", headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401


def test_expired_token_is_refused(api: Api) -> None:
    ctx = api.client.app.state["ctx"]
    from slipstream.api.auth.tokens import TokenKind

    token = ctx.signer.issue("admin", TokenKind.ACCESS, lifetime=-10, role="admin")
    response = api.client.get("/api/v2/dags", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["detail"] == "The token has expired"


def test_deleted_user_loses_access_at_once(api: Api) -> None:
    headers = api.headers("user")
    assert api.client.get("/api/v2/dags", headers=headers).status_code == 200
    api.runtime.store.delete_user("user")
    response = api.client.get("/api/v2/dags", headers=headers)
    assert response.status_code == 401


def test_signing_key_is_generated_private_and_stable(api: Api) -> None:
    key_file = api.home / "api_secret.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert len(key_file.read_text().strip()) >= 32
