"""Variables, connections, pools and users through the REST API: CRUD, pagination,
refusals, and that secrets never come back."""

from __future__ import annotations

import json

import pytest

from slipstream.api.auth.passwords import verify_password
from slipstream.metadata.records import Connection
from tests.api.conftest import Api

# -- variables ----------------------------------------------------------------------------


def test_variables_crud(api: Api) -> None:
    created = api.post("/api/v2/variables", role="op", json={"key": "limit", "value": "10"})
    assert created.status_code == 201
    assert created.json() == {
        "key": "limit",
        "value": "10",
        "description": None,
        "is_encrypted": True,
        "team_name": None,
    }
    as_json = api.post(
        "/api/v2/variables",
        json={"key": "cfg", "value": {"b": 1, "a": [1, 2]}, "description": "settings"},
    )
    assert as_json.json()["value"] == '{"a":[1,2],"b":1}'  # canonical JSON, as the CLI stores
    assert api.runtime.store.get_variable("cfg").value == '{"a":[1,2],"b":1}'  # type: ignore[union-attr]

    one = api.get("/api/v2/variables/cfg", role="op").json()
    assert one["description"] == "settings"
    changed = api.patch("/api/v2/variables/cfg", json={"key": "cfg", "value": "plain"})
    assert changed.json()["value"] == "plain"
    assert changed.json()["description"] == "settings"  # a missing description is kept
    masked = api.patch(
        "/api/v2/variables/cfg",
        params={"update_mask": ["description"]},
        json={"key": "cfg", "value": "ignored", "description": "new"},
    )
    assert (masked.json()["value"], masked.json()["description"]) == ("plain", "new")

    assert api.delete("/api/v2/variables/cfg").status_code == 204
    assert api.runtime.store.get_variable("cfg") is None


def test_variables_list_pages_orders_and_filters(api: Api) -> None:
    for key in ("beta", "alpha", "gamma_x"):
        api.runtime.store.set_variable(key, "v")
    listing = api.get("/api/v2/variables", role="op").json()
    assert listing["total_entries"] == 3
    assert [v["key"] for v in listing["variables"]] == ["alpha", "beta", "gamma_x"]
    page = api.get("/api/v2/variables", params={"limit": 1, "offset": 1}).json()
    assert page["total_entries"] == 3 and [v["key"] for v in page["variables"]] == ["beta"]
    backwards = api.get("/api/v2/variables", params={"order_by": "-key"}).json()
    assert [v["key"] for v in backwards["variables"]] == ["gamma_x", "beta", "alpha"]
    found = api.get("/api/v2/variables", params={"variable_key_pattern": "MA_"}).json()
    assert [v["key"] for v in found["variables"]] == ["gamma_x"]
    assert api.get("/api/v2/variables", params={"order_by": "colour"}).status_code == 400


def test_variables_refusals_change_nothing(api: Api) -> None:
    api.runtime.store.set_variable("kept", "1")
    assert api.client.get("/api/v2/variables").status_code == 401
    assert api.get("/api/v2/variables", role="user").status_code == 403
    assert (
        api.post("/api/v2/variables", role="user", json={"key": "x", "value": "1"}).status_code
        == 403
    )
    missing = api.get("/api/v2/variables/nope")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "The Variable with key: `nope` was not found"
    duplicate = api.post("/api/v2/variables", json={"key": "kept", "value": "2"})
    assert duplicate.status_code == 409
    spaces = api.post("/api/v2/variables", json={"key": " padded", "value": "2"})
    assert spaces.status_code == 422
    assert "leading or trailing spaces" in spaces.json()["detail"][0]["msg"]
    assert api.post("/api/v2/variables", json={"key": "n", "value": None}).status_code == 422
    assert api.post("/api/v2/variables", json={"value": "no key"}).status_code == 422
    mismatch = api.patch("/api/v2/variables/kept", json={"key": "other", "value": "2"})
    assert mismatch.status_code == 400
    bad_mask = api.patch(
        "/api/v2/variables/kept",
        params={"update_mask": ["key"]},
        json={"key": "kept", "value": "2"},
    )
    assert bad_mask.status_code == 400
    assert (
        api.patch("/api/v2/variables/nope", json={"key": "nope", "value": "2"}).status_code == 404
    )
    assert api.delete("/api/v2/variables/nope").status_code == 404
    assert api.delete("/api/v2/variables/kept", role="user").status_code == 403
    assert [v.key for v in api.runtime.store.list_variables().items] == ["kept"]
    assert api.runtime.store.get_variable("kept").value == "1"  # type: ignore[union-attr]


def test_variables_bulk(api: Api) -> None:
    api.runtime.store.set_variable("old", "1")
    api.runtime.store.set_variable("gone", "1")
    body = {
        "actions": [
            {
                "action": "create",
                "entities": [{"key": "new", "value": 5}, {"key": "old", "value": "2"}],
            },
            {
                "action": "update",
                "entities": [{"key": "old", "value": "3"}, {"key": "x", "value": "y"}],
            },
            {"action": "delete", "entities": ["gone", "never"], "action_on_non_existence": "skip"},
        ]
    }
    result = api.patch("/api/v2/variables", role="op", json=body)
    assert result.status_code == 200
    outcome = result.json()
    assert outcome["create"]["success"] == ["new"]
    assert outcome["create"]["errors"][0]["status_code"] == 409
    assert outcome["update"]["success"] == ["old"]
    assert outcome["update"]["errors"][0]["status_code"] == 404
    assert outcome["delete"] == {"success": ["gone"], "errors": []}
    values = {v.key: v.value for v in api.runtime.store.list_variables().items}
    assert values == {"new": "5", "old": "3"}
    unknown = api.patch("/api/v2/variables", json={"actions": [{"action": "explode"}]})
    assert unknown.status_code == 422
    assert api.patch("/api/v2/variables", role="user", json={"actions": []}).status_code == 403


# -- connections ----------------------------------------------------------------------------


def _conn(api: Api, **fields: object) -> None:
    values: dict[str, object] = {"conn_id": "db", "conn_type": "postgres", **fields}
    api.runtime.store.set_connection(Connection(**values))  # type: ignore[arg-type]


def test_connection_secrets_never_come_back(api: Api) -> None:
    body = {
        "connection_id": "db",
        "conn_type": "postgres",
        "host": "db.internal",
        "port": 5432,
        "login": "app",
        "password": "s3cret-pass",
        "extra": json.dumps({"sslmode": "require", "token": "t0ken"}),
    }
    created = api.post("/api/v2/connections", role="op", json=body)
    assert created.status_code == 201
    for response in (
        created,
        api.get("/api/v2/connections/db", role="op"),
        api.get("/api/v2/connections", role="op"),
    ):
        assert "s3cret-pass" not in response.text and "t0ken" not in response.text
    shown = api.get("/api/v2/connections/db").json()
    assert shown["password"] == "***"  # there is one; it is never sent
    assert json.loads(shown["extra"]) == {"sslmode": "***", "token": "***"}
    assert (shown["host"], shown["port"], shown["login"]) == ("db.internal", 5432, "app")
    stored = api.runtime.store.get_connection("db")
    assert stored is not None and stored.password == "s3cret-pass"
    assert stored.extra == {"sslmode": "require", "token": "t0ken"}


def test_connection_update_keeps_secrets_sent_back_masked(api: Api) -> None:
    _conn(api, host="a", password="pw", extra={"token": "t", "mode": "x"})
    read = api.get("/api/v2/connections/db").json()
    # A client sends back what it read, with one change and one new extra key.
    extra = {**json.loads(read["extra"]), "mode": "y", "more": "1"}
    sent = {**read, "host": "b", "extra": json.dumps(extra)}
    del sent["team_name"]
    changed = api.patch("/api/v2/connections/db", json=sent)
    assert changed.status_code == 200
    stored = api.runtime.store.get_connection("db")
    assert stored is not None
    assert (stored.host, stored.password) == ("b", "pw")
    assert stored.extra == {"token": "t", "mode": "y", "more": "1"}
    masked = api.patch(
        "/api/v2/connections/db",
        params={"update_mask": ["password", "port"]},
        json={"connection_id": "db", "conn_type": "ignored", "port": 6543},
    )
    assert masked.json()["port"] == 6543 and masked.json()["conn_type"] == "postgres"
    cleared = api.runtime.store.get_connection("db")
    assert cleared is not None and cleared.password is None  # named in the mask, sent null


def test_connections_list_and_delete(api: Api) -> None:
    for conn_id, conn_type in (("b_conn", "http"), ("a_conn", "postgres"), ("c_conn", "http")):
        api.runtime.store.set_connection(Connection(conn_id=conn_id, conn_type=conn_type))
    listing = api.get("/api/v2/connections").json()
    assert [c["connection_id"] for c in listing["connections"]] == ["a_conn", "b_conn", "c_conn"]
    page = api.get("/api/v2/connections", params={"order_by": "-connection_id", "limit": 1})
    assert page.json()["total_entries"] == 3
    assert [c["connection_id"] for c in page.json()["connections"]] == ["c_conn"]
    pattern = api.get("/api/v2/connections", params={"connection_id_pattern": "B_"}).json()
    assert [c["connection_id"] for c in pattern["connections"]] == ["b_conn"]
    assert api.delete("/api/v2/connections/b_conn", role="op").status_code == 204
    assert api.runtime.store.get_connection("b_conn") is None


def test_connection_refusals_change_nothing(api: Api) -> None:
    _conn(api, host="a")
    assert api.client.get("/api/v2/connections").status_code == 401
    assert api.get("/api/v2/connections/db", role="user").status_code == 403
    ok = {"connection_id": "new", "conn_type": "http"}
    assert api.post("/api/v2/connections", role="viewer", json=ok).status_code == 403
    assert api.post("/api/v2/connections", json={**ok, "connection_id": "db"}).status_code == 409
    bad_id = api.post("/api/v2/connections", json={**ok, "connection_id": "has space"})
    assert bad_id.status_code == 422
    assert "connection_id" in bad_id.json()["detail"][0]["msg"]
    assert api.post("/api/v2/connections", json={**ok, "port": 70000}).status_code == 422
    bad_extra = api.post("/api/v2/connections", json={**ok, "extra": "[1, 2]"})
    assert bad_extra.status_code == 422
    assert "JSON object" in bad_extra.json()["detail"][0]["msg"]
    assert api.post("/api/v2/connections", json={"connection_id": "x"}).status_code == 422
    missing = api.get("/api/v2/connections/nope")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "The Connection with connection_id: `nope` was not found"
    mismatch = api.patch("/api/v2/connections/db", json={**ok, "connection_id": "other"})
    assert mismatch.status_code == 400
    assert (
        api.patch("/api/v2/connections/nope", json={**ok, "connection_id": "nope"}).status_code
        == 404
    )
    assert api.delete("/api/v2/connections/nope").status_code == 404
    assert [c.conn_id for c in api.runtime.store.list_connections().items] == ["db"]
    assert api.runtime.store.get_connection("db").host == "a"  # type: ignore[union-attr]


# -- pools ------------------------------------------------------------------------------------


def test_pools_crud(api: Api) -> None:
    listing = api.get("/api/v2/pools", role="viewer").json()
    assert listing["total_entries"] == 1
    default = listing["pools"][0]
    assert default["name"] == "default_pool" and default["open_slots"] == default["slots"]
    assert default["include_deferred"] is False and default["deferred_slots"] == 0
    created = api.post("/api/v2/pools", role="op", json={"name": "db", "slots": 2})
    assert created.status_code == 201
    assert (created.json()["slots"], created.json()["open_slots"]) == (2, 2)
    resized = api.patch("/api/v2/pools/db", json={"slots": 5, "description": "database"})
    assert (resized.json()["slots"], resized.json()["description"]) == (5, "database")
    kept = api.patch("/api/v2/pools/db", json={"slots": 6})
    assert kept.json()["description"] == "database"
    assert api.get("/api/v2/pools/db", role="viewer").json()["slots"] == 6
    page = api.get("/api/v2/pools", params={"order_by": "-name", "limit": 1}).json()
    assert page["total_entries"] == 2 and page["pools"][0]["name"] == "default_pool"
    found = api.get("/api/v2/pools", params={"pool_name_pattern": "DB"}).json()
    assert [p["name"] for p in found["pools"]] == ["db"]
    default_resized = api.patch("/api/v2/pools/default_pool", json={"slots": 64})
    assert default_resized.json()["slots"] == 64
    assert api.delete("/api/v2/pools/db", role="op").status_code == 204
    assert api.runtime.store.get_pool("db") is None


def test_pool_refusals_change_nothing(api: Api) -> None:
    api.runtime.store.set_pool("db", 2)
    assert api.client.get("/api/v2/pools").status_code == 401
    assert api.post("/api/v2/pools", role="user", json={"name": "x", "slots": 1}).status_code == 403
    assert api.delete("/api/v2/pools/db", role="user").status_code == 403
    default = api.delete("/api/v2/pools/default_pool")
    assert default.status_code == 400
    assert default.json()["detail"] == "Default Pool can't be deleted"
    assert api.post("/api/v2/pools", json={"name": "db", "slots": 1}).status_code == 409
    unlimited = api.post("/api/v2/pools", json={"name": "x", "slots": -1})
    assert unlimited.status_code == 422
    assert "unlimited" in unlimited.json()["detail"][0]["msg"]
    assert api.post("/api/v2/pools", json={"name": "x", "slots": "two"}).status_code == 422
    assert api.post("/api/v2/pools", json={"name": "x", "slots": 2**70}).status_code == 422
    assert api.patch("/api/v2/pools/db", json={"slots": 2**40}).status_code == 422
    deferred = api.post("/api/v2/pools", json={"name": "x", "slots": 1, "include_deferred": True})
    assert deferred.status_code == 422
    assert api.post("/api/v2/pools", json={"name": " x", "slots": 1}).status_code == 422
    assert api.patch("/api/v2/pools/db", json={"pool": "renamed"}).status_code == 400
    assert api.patch("/api/v2/pools/db", json={"slots": -3}).status_code == 422
    assert api.patch("/api/v2/pools/nope", json={"slots": 3}).status_code == 404
    missing = api.get("/api/v2/pools/nope")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "The Pool with name: `nope` was not found"
    assert api.delete("/api/v2/pools/nope").status_code == 404
    assert sorted(p.name for p in api.runtime.store.list_pools()) == ["db", "default_pool"]
    assert api.runtime.store.get_pool("db").slots == 2  # type: ignore[union-attr]


# -- users ------------------------------------------------------------------------------------


def test_users_crud_never_returns_passwords(api: Api) -> None:
    body = {"username": "ada", "password": "analytical-engine", "role": "user", "email": "a@x"}
    created = api.post("/api/v2/users", json=body)
    assert created.status_code == 201
    assert created.json()["role"] == "user" and created.json()["active"] is True
    assert "password" not in created.text and "analytical-engine" not in created.text
    stored = api.runtime.store.get_user("ada")
    assert stored is not None and verify_password(stored.password_hash, "analytical-engine")
    login = api.client.post(
        "/auth/token", json={"username": "ada", "password": "analytical-engine"}
    )
    assert login.status_code == 201

    listing = api.get("/api/v2/users", params={"order_by": "-username", "limit": 2}).json()
    assert listing["total_entries"] == 5
    assert [u["username"] for u in listing["users"]] == ["viewer", "user"]
    assert "password_hash" not in json.dumps(listing)

    changed = api.patch("/api/v2/users/ada", json={"role": "op", "password": "difference-engine"})
    assert changed.json()["role"] == "op" and changed.json()["email"] == "a@x"
    stored = api.runtime.store.get_user("ada")
    assert stored is not None and verify_password(stored.password_hash, "difference-engine")
    assert api.get("/api/v2/users/ada").json()["role"] == "op"
    assert api.delete("/api/v2/users/ada").status_code == 204
    assert api.runtime.store.get_user("ada") is None


@pytest.mark.parametrize("role", ["op", "user", "viewer"])
def test_only_admins_manage_users(api: Api, role: str) -> None:
    assert api.get("/api/v2/users", role=role).status_code == 403
    body = {"username": "eve", "password": "long-enough", "role": "admin"}
    assert api.post("/api/v2/users", role=role, json=body).status_code == 403
    assert api.patch("/api/v2/users/viewer", role=role, json={"role": "admin"}).status_code == 403
    assert api.delete("/api/v2/users/viewer", role=role).status_code == 403
    assert api.runtime.store.get_user("eve") is None
    assert api.runtime.store.get_user("viewer").role == "viewer"  # type: ignore[union-attr]


def test_user_refusals_change_nothing(api: Api) -> None:
    assert api.client.get("/api/v2/users").status_code == 401
    ok = {"username": "bob", "password": "long-enough", "role": "user"}
    short = api.post("/api/v2/users", json={**ok, "password": "short"})
    assert short.status_code == 422
    assert "at least 8 characters" in short.json()["detail"][0]["msg"]
    bad_role = api.post("/api/v2/users", json={**ok, "role": "king"})
    assert bad_role.status_code == 422
    assert api.post("/api/v2/users", json={**ok, "username": "  "}).status_code == 422
    assert api.post("/api/v2/users", json={"username": "bob"}).status_code == 422
    assert api.post("/api/v2/users", json={**ok, "username": "viewer"}).status_code == 409
    assert api.patch("/api/v2/users/viewer", json={"role": "king"}).status_code == 422
    assert api.patch("/api/v2/users/viewer", json={"password": "short"}).status_code == 422
    assert api.patch("/api/v2/users/nope", json={"role": "user"}).status_code == 404
    assert api.get("/api/v2/users/nope").status_code == 404
    assert api.delete("/api/v2/users/nope").status_code == 404
    myself = api.delete("/api/v2/users/admin")
    assert myself.status_code == 400
    assert api.patch("/api/v2/users/admin", json={"role": "viewer"}).status_code == 400
    assert api.patch("/api/v2/users/admin", json={"active": False}).status_code == 400
    assert api.runtime.store.get_user("bob") is None
    assert api.runtime.store.get_user("admin").role == "admin"  # type: ignore[union-attr]
    assert api.runtime.store.get_user("viewer").role == "viewer"  # type: ignore[union-attr]
