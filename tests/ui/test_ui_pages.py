"""The UI's pages with the TestClient: login and sessions, each page for each role,
what a viewer is not offered, and HTML (not JSON) answers for people."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest
from litestar.testing import TestClient

from slipstream.api.app import create_app
from slipstream.api.auth.middleware import SESSION_COOKIE
from slipstream.api.auth.passwords import hash_password
from tests.api.conftest import make_runtime
from tests.ui.conftest import PASSWORD, Api, add_finished_runs, demo_dags, login

UI = Path(__file__).resolve().parents[2] / "core" / "slipstream" / "api" / "ui"
ROLES = ("viewer", "user", "op", "admin")


@pytest.fixture
def ran(api: Api) -> Api:
    """The demo DAGs registered (unpaused), one run of demo and of flaky finished."""
    api.runtime.register(*demo_dags())
    api.runtime.wait(api.runtime.trigger("demo", conf={"count": 3}))
    api.runtime.wait(api.runtime.trigger("flaky"))
    return api


def _form_token(client: TestClient) -> str:  # type: ignore[type-arg]
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert found
    return found.group(1)


def test_pages_redirect_to_login_and_data_says_401(api: Api) -> None:
    page = api.client.get("/dags/demo?runs=5", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fdags%2Fdemo%3Fruns%3D5"
    data = api.client.get("/ui/dags/status")
    assert data.status_code == 401
    assert data.json() == {"detail": "Not authenticated"}
    root = api.client.get("/", follow_redirects=False)
    assert root.status_code in (302, 303) and root.headers["location"] in (
        "/dags",
        "/login?next=%2F",
    )


def test_login_sets_a_safe_session_cookie_and_goes_back(api: Api) -> None:
    token = _form_token(api.client)
    response = api.client.post(
        "/login",
        data={
            "username": "viewer",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/dags/demo",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/dags/demo"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert api.client.get("/dags").status_code == 200
    # Already logged in: the login page sends you on.
    assert api.client.get("/login", follow_redirects=False).status_code == 303


def test_secure_cookie_when_configured(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "dags").mkdir(parents=True)
    runtime = make_runtime(home, **{"api.cookie_secure": True})
    runtime.store.create_user("admin", role="admin", password_hash=hash_password(PASSWORD))
    app = create_app(runtime.config, runtime.plugins, store=runtime.store)
    # Secure cookies come back only over HTTPS (as behind a TLS proxy).
    with TestClient(app, base_url="https://testserver.local") as client:
        response = client.post(
            "/login",
            data={"username": "admin", "password": PASSWORD, "csrf_token": _form_token(client)},
            follow_redirects=False,
        )
        cookie = next(
            c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
        )
        assert "Secure" in cookie
    runtime.close()


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/login"])
def test_login_never_redirects_off_site(api: Api, target: str) -> None:
    response = api.client.post(
        "/login",
        data={
            "username": "viewer",
            "password": PASSWORD,
            "csrf_token": _form_token(api.client),
            "next": target,
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/dags"


def test_login_form_needs_its_double_submit_token(api: Api) -> None:
    _form_token(api.client)  # the cookie is set...
    response = api.client.post(
        "/login",
        data={"username": "viewer", "password": PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert response.status_code == 403  # ...but the field does not match it
    assert "expired or was not sent from this site" in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    api.client.cookies.clear()
    no_cookie = api.client.post(
        "/login",
        data={"username": "viewer", "password": PASSWORD, "csrf_token": "x"},
        follow_redirects=False,
    )
    assert no_cookie.status_code == 403


def test_wrong_password_then_rate_limit(api: Api) -> None:
    limit = api.runtime.config["api.login_attempts_per_minute"]
    for _ in range(limit):
        wrong = api.client.post(
            "/login",
            data={
                "username": "op",
                "password": "wrong-pass",
                "csrf_token": _form_token(api.client),
            },
        )
        assert wrong.status_code == 401
        assert "Invalid username or password" in wrong.text
    blocked = api.client.post(
        "/login",
        data={"username": "op", "password": PASSWORD, "csrf_token": _form_token(api.client)},
        follow_redirects=False,
    )
    assert blocked.status_code == 429
    assert "Too many failed logins" in blocked.text
    assert int(blocked.headers["retry-after"]) > 0
    assert SESSION_COOKIE not in blocked.headers.get("set-cookie", "")


def test_logout_needs_csrf_and_ends_the_session(api: Api) -> None:
    csrf = login(api, "viewer")
    assert api.client.post("/logout").status_code == 403
    out = api.client.post("/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 200
    assert api.client.get("/dags", follow_redirects=False).status_code == 303


def _page_paths(api: Api) -> list[str]:
    run = api.runtime.store.list_dag_runs(dag_ids=["demo"]).items[-1]
    flaky = api.runtime.store.list_dag_runs(dag_ids=["flaky"]).items[-1]
    return [
        "/dags",
        "/dags?search=dem&tags=demo&status=active",
        "/dags/demo",
        "/dags/demo/graph",
        f"/dags/demo/graph?run_id={quote(run.run_id, safe='')}",
        "/dags/demo/runs",
        "/dags/demo/code",
        "/dags/demo/details",
        "/dags/demo/trigger",
        f"/dags/demo/runs/{run.run_id}",
        f"/dags/demo/runs/{run.run_id}/tasks/first",
        f"/dags/flaky/runs/{flaky.run_id}/tasks/fails?try_number=1",
        "/dags/wide",
        "/import-errors",
        "/api-docs",
    ]


@pytest.mark.parametrize("role", ROLES)
def test_every_page_renders_for_every_role(ran: Api, role: str) -> None:
    login(ran, role)
    for path in _page_paths(ran):
        response = ran.client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert response.headers["content-type"].startswith("text/html")
        assert f">{role}</span>" in response.text  # who is logged in


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("viewer", set()),
        ("user", set()),
        ("op", {"variables", "connections", "pools"}),
        ("admin", {"variables", "connections", "pools", "users"}),
    ],
)
def test_admin_pages_by_role(api: Api, role: str, allowed: set[str]) -> None:
    login(api, role)
    nav = api.client.get("/dags").text
    for name in ("variables", "connections", "pools", "users"):
        response = api.client.get(f"/admin/{name}")
        expected = 200 if name in allowed else 403
        assert response.status_code == expected, (role, name)
        assert (f'href="/admin/{name}"' in nav) == (name in allowed)
        if expected == 403:
            assert "Not allowed" in response.text and "role" in response.text


def test_viewer_is_offered_no_actions(ran: Api) -> None:
    run = ran.runtime.store.list_dag_runs(dag_ids=["demo"]).items[-1]
    paths = [
        "/dags",
        "/dags/demo",
        f"/dags/demo/runs/{run.run_id}",
        f"/dags/demo/runs/{run.run_id}/tasks/first",
    ]
    login(ran, "viewer")
    for path in paths:
        html = ran.client.get(path).text
        assert "data-action=" not in html, path
        assert 'id="trigger-link"' not in html
        assert re.search(r'class="pause-toggle"[^>]*disabled', html)
    login(ran, "user")
    html = ran.client.get(f"/dags/demo/runs/{run.run_id}/tasks/first").text
    assert "Clear task" in html and "Mark success" in html and "Mark failed" in html
    assert 'id="trigger-link"' in ran.client.get("/dags/demo").text


def test_dag_list_shows_runs_schedule_tags_and_import_errors(ran: Api) -> None:
    from datetime import UTC, datetime

    ran.runtime.store.replace_import_error(
        "/dags/broken.py", "SyntaxError: nope", datetime.now(UTC)
    )
    login(ran, "viewer")
    html = ran.client.get("/dags").text
    assert "1 DAG file failed to import" in html and 'href="/import-errors"' in html
    row = re.search(r'<tr data-dag-id="flaky">.*?</tr>', html, re.S)
    assert row and 'class="dot s-failed"' in row.group(0)
    assert "<code>None</code>" in row.group(0)  # the schedule
    demo = ran.client.get("/dags", params={"tags": ["demo"]}).text
    assert 'data-dag-id="demo"' in demo and 'data-dag-id="flaky"' not in demo
    search = ran.client.get("/dags", params={"search": "WID"}).text
    assert 'data-dag-id="wide"' in search and 'data-dag-id="demo"' not in search
    errors = ran.client.get("/import-errors").text
    assert "/dags/broken.py" in errors and "SyntaxError: nope" in errors


def test_grid_and_graph_of_two_hundred_tasks(ran: Api) -> None:
    add_finished_runs(ran.runtime.store, "wide", 3)
    login(ran, "viewer")
    grid = ran.client.get("/dags/wide").text
    assert len(re.findall(r'<a class="cell s-success"', grid)) == 200 * 3
    assert len(re.findall(r'class="run-head s-success"', grid)) == 3
    graph = ran.client.get("/dags/wide/graph").text
    assert graph.count('<a class="node"') == 200
    assert graph.count("marker-end=") == 180  # 9 layer steps of 20 edges
    assert graph.count('class="s-success"') == 200


def test_trigger_form_is_built_from_params(ran: Api) -> None:
    login(ran, "user")
    html = ran.client.get("/dags/demo/trigger").text
    count = re.search(r'<input[^>]*type="number" name="count"[^>]*>', html)
    assert count and 'value="2"' in count.group(0) and 'min="1"' in count.group(0)
    assert 'max="5"' in count.group(0)
    assert re.search(r'<select[^>]*name="color"', html)
    assert '<option value="&#34;green&#34;"' in html
    assert re.search(r'<input[^>]*type="date" name="when" value="2026-01-01"', html)
    assert re.search(r'<input[^>]*type="checkbox" name="flag"', html)
    assert '"count": 2' in html  # the raw JSON conf starts from the defaults


def test_doc_md_is_escaped(ran: Api) -> None:
    login(ran, "viewer")
    html = ran.client.get("/dags/demo/details").text
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert" in html
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html
    assert 'href="javascript' not in html


def test_code_of_every_version_and_runs_name_their_version(ran: Api) -> None:
    store = ran.runtime.store
    first = store.get_dag_version("demo")
    assert first is not None
    changed = {**first.serialized, "description": "second version"}
    store.add_dag_version("demo", changed, "another-hash", "print('the second version')")
    ran.runtime.wait(ran.runtime.trigger("demo"))
    login(ran, "viewer")
    latest = ran.client.get("/dags/demo/code").text
    assert "print(&#39;the second version&#39;)" in latest
    assert '<option value="1"' in latest and '<option value="2"' in latest
    old = ran.client.get("/dags/demo/code", params={"version": 1}).text
    assert "the second version" not in old
    assert ran.client.get("/dags/demo/code", params={"version": 9}).status_code == 404
    runs = ran.client.get("/dags/demo/runs").text
    assert ">v1</a>" in runs and ">v2</a>" in runs


def test_task_instance_page_shows_log_xcom_and_tries(ran: Api) -> None:
    run = ran.runtime.store.list_dag_runs(dag_ids=["demo"]).items[-1]
    login(ran, "viewer")
    html = ran.client.get(f"/dags/demo/runs/{run.run_id}/tasks/first").text
    assert "Try 1" in html and 'data-log-url="/ui/dags/demo/runs/' in html
    assert re.search(r"<td>return_value</td><td><pre>42</pre>", html)
    assert "Rendered template fields" in html


def test_unknown_things_are_html_404s(api: Api) -> None:
    login(api, "viewer")
    for path in ("/dags/nope", "/dags/nope/runs/r1", "/dags/nope/code"):
        response = api.client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "was not found" in response.text


def test_assets_ship_in_the_package_and_need_no_network(api: Api) -> None:
    for name in ("ui.css", "ui.js", "trigger.js", "task.js", "apidocs.js", "favicon.svg"):
        response = api.client.get(f"/static/{name}")  # no login needed
        assert response.status_code == 200, name
    for path in [*UI.glob("templates/*.html"), *UI.glob("static/*")]:
        text = path.read_text()
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), path
        assert "@import url(http" not in text and "cdn" not in text.lower(), path


def test_ui_routes_stay_out_of_the_openapi_document(api: Api) -> None:
    paths = set(api.get("/api/v2/openapi.json").json()["paths"])
    assert paths, "the document lists the REST API"
    assert not {p for p in paths if not p.startswith(("/api/v2", "/auth"))}
