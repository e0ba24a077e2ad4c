"""HttpOperator against a real HTTP server on 127.0.0.1, run the way a worker runs it."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest

from slipstream import DAG, Connection
from slipstream.exceptions import DagDefinitionError
from slipstream.operators.http import HttpOperator, SimpleHttpOperator, base_url, join_url
from slipstream.state import TaskInstanceState as TIS
from slipstream.testing import MemoryTaskClient


@attrs.frozen
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: str


class Server:
    """Answers ``routes[path] = (status, body)``; anything else echoes the request as JSON."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.routes: dict[str, tuple[int, str]] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                seen = Seen(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                outer.requests.append(seen)
                status, text = outer.routes.get(
                    parts.path, (200, json.dumps({"path": parts.path, "body": body}))
                )
                payload = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def connection(self, **overrides: Any) -> dict[str, Any]:
        return {"conn_type": "http", "host": "127.0.0.1", "port": self.port, **overrides}


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def test_get_with_templated_endpoint_data_and_headers_pushes_the_body(
    server: Server, run: Callable[..., Any], xcom: Callable[..., Any]
) -> None:
    server.routes["/reports/2024-01-02"] = (200, "report for the day")
    client = MemoryTaskClient(
        connections={
            "api": server.connection(login="ann", password="s3cret", extra={"X-Api-Key": "k-1"})
        }
    )
    with DAG("http_get") as dag:
        HttpOperator(
            task_id="fetch",
            http_conn_id="api",
            method="GET",
            endpoint="reports/{{ ds }}",
            data={"limit": "5", "run": "{{ run_id }}"},
            headers={"X-Day": "{{ ds_nodash }}"},
            log_response=True,
        )

    outcome = run(dag, "fetch", client)

    assert outcome.state == TIS.SUCCESS, outcome.error
    assert xcom(client, dag, "fetch") == "report for the day"
    assert outcome.rendered_fields["endpoint"] == "reports/2024-01-02"
    [seen] = server.requests
    assert (seen.method, seen.path) == ("GET", "/reports/2024-01-02")
    assert seen.query == {"limit": ["5"], "run": ["scheduled__2024-01-02T00:00:00+00:00"]}
    assert seen.headers["x-day"] == "20240102"
    assert seen.headers["x-api-key"] == "k-1"
    assert seen.headers["authorization"] == "Basic " + base64.b64encode(b"ann:s3cret").decode()


def test_post_is_the_default_and_sends_a_string_as_the_body(
    server: Server, run: Callable[..., Any], xcom: Callable[..., Any]
) -> None:
    client = MemoryTaskClient(connections={"http_default": server.connection()})
    with DAG("http_post") as dag:
        SimpleHttpOperator(
            task_id="post",
            endpoint="/items",
            data=json.dumps({"name": "{{ params.name }}"}),
            headers={"Content-Type": "application/json"},
            params={"name": "widget"},
            response_filter=lambda response: response.json()["path"],
        )

    outcome = run(dag, "post", client)

    assert outcome.state == TIS.SUCCESS, outcome.error
    assert xcom(client, dag, "post") == "/items"
    [seen] = server.requests
    assert seen.method == "POST"
    assert json.loads(seen.body) == {"name": "widget"}
    assert seen.headers["content-type"] == "application/json"


def test_a_dict_is_sent_as_a_form_for_put(server: Server, run: Callable[..., Any]) -> None:
    client = MemoryTaskClient(connections={"api": server.connection()})
    with DAG("http_form") as dag:
        HttpOperator(task_id="put", http_conn_id="api", method="put", data={"a": "1", "b": "x y"})

    assert run(dag, "put", client).state == TIS.SUCCESS
    [seen] = server.requests
    assert seen.method == "PUT"
    assert parse_qs(seen.body) == {"a": ["1"], "b": ["x y"]}


def test_non_2xx_fails_with_status_and_start_of_body(
    server: Server, run: Callable[..., Any]
) -> None:
    server.routes["/broken"] = (500, "boom: database down " + "x" * 2000)
    client = MemoryTaskClient(connections={"api": server.connection()})
    with DAG("http_500") as dag:
        HttpOperator(task_id="call", http_conn_id="api", endpoint="broken", method="GET")
        HttpOperator(
            task_id="call_retry", http_conn_id="api", endpoint="broken", method="GET", retries=2
        )

    outcome = run(dag, "call", client)

    assert outcome.state == TIS.FAILED
    assert outcome.error is not None
    assert "HTTP 500 Internal Server Error from GET http://127.0.0.1:" in outcome.error
    assert "/broken: boom: database down" in outcome.error
    assert len(outcome.error) < 800  # the start of the body, not all of it
    assert run(dag, "call_retry", client).state == TIS.UP_FOR_RETRY


def test_check_response_false_accepts_any_status(
    server: Server, run: Callable[..., Any], xcom: Callable[..., Any]
) -> None:
    server.routes["/missing"] = (404, "not here")
    client = MemoryTaskClient(connections={"api": server.connection()})
    with DAG("http_404_ok") as dag:
        HttpOperator(
            task_id="call",
            http_conn_id="api",
            endpoint="missing",
            method="GET",
            extra_options={"check_response": False},
            response_filter=lambda response: response.status_code,
        )

    outcome = run(dag, "call", client)

    assert outcome.state == TIS.SUCCESS, outcome.error
    assert xcom(client, dag, "call") == 404


def test_response_check_gets_context_and_a_falsy_result_fails(
    server: Server, run: Callable[..., Any]
) -> None:
    server.routes["/status"] = (200, "state=2024-01-02")
    client = MemoryTaskClient(connections={"api": server.connection()})
    with DAG("http_check") as dag:
        HttpOperator(
            task_id="good",
            http_conn_id="api",
            endpoint="status",
            method="GET",
            response_check=lambda response, ds: ds in response.text,
        )
        HttpOperator(
            task_id="bad",
            http_conn_id="api",
            endpoint="status",
            method="GET",
            response_check=lambda response: "ready" in response.text,
        )

    assert run(dag, "good", client).state == TIS.SUCCESS
    outcome = run(dag, "bad", client)
    assert outcome.state == TIS.FAILED
    assert "response_check returned False for GET" in (outcome.error or "")


def test_pagination_follows_until_the_function_returns_none(
    server: Server, run: Callable[..., Any], xcom: Callable[..., Any]
) -> None:
    server.routes["/page/1"] = (200, json.dumps({"items": [1, 2], "next": "page/2"}))
    server.routes["/page/2"] = (200, json.dumps({"items": [3], "next": None}))
    client = MemoryTaskClient(connections={"api": server.connection()})

    def next_page(response: Any) -> dict[str, Any] | None:
        following = response.json()["next"]
        return {"endpoint": following} if following else None

    with DAG("http_pages") as dag:
        HttpOperator(
            task_id="all",
            http_conn_id="api",
            endpoint="page/1",
            method="GET",
            pagination_function=next_page,
            response_filter=lambda responses: [i for r in responses for i in r.json()["items"]],
        )

    outcome = run(dag, "all", client)

    assert outcome.state == TIS.SUCCESS, outcome.error
    assert xcom(client, dag, "all") == [1, 2, 3]
    assert [r.path for r in server.requests] == ["/page/1", "/page/2"]


def test_connection_from_the_environment_with_a_path_prefix(
    server: Server, run: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLIPSTREAM_CONN_ENV_API", f"http://bob:pw@127.0.0.1:{server.port}/v1")
    with DAG("http_env") as dag:
        HttpOperator(task_id="call", http_conn_id="env_api", endpoint="users", method="DELETE")

    assert run(dag, "call").state == TIS.SUCCESS
    [seen] = server.requests
    assert (seen.method, seen.path) == ("DELETE", "/v1/users")
    assert seen.headers["authorization"] == "Basic " + base64.b64encode(b"bob:pw").decode()


def test_missing_connection_names_it(run: Callable[..., Any]) -> None:
    with DAG("http_noconn") as dag:
        HttpOperator(task_id="call", http_conn_id="nowhere", endpoint="x")

    outcome = run(dag, "call")

    assert outcome.state == TIS.FAILED
    assert "connection 'nowhere' is not defined" in (outcome.error or "")
    assert "SLIPSTREAM_CONN_NOWHERE" in (outcome.error or "")


def test_unreachable_server_is_a_clear_failure(run: Callable[..., Any]) -> None:
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = MemoryTaskClient(
        connections={"api": {"conn_type": "http", "host": "127.0.0.1", "port": port}}
    )
    with DAG("http_refused") as dag:
        HttpOperator(task_id="call", http_conn_id="api", endpoint="x", method="GET")

    outcome = run(dag, "call", client)

    assert outcome.state == TIS.FAILED
    assert f"GET http://127.0.0.1:{port}/x failed: ConnectError" in (outcome.error or "")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "FETCH"}, "method must be one of GET, POST"),
        ({"method": 3}, "method must be one of"),
        ({"response_check": "yes"}, "response_check must be callable"),
        ({"headers": ["X-A: 1"]}, "headers must be Mapping"),
        ({"endpoint": 42}, "endpoint must be str"),
        ({"http_conn_id": None}, "http_conn_id"),
        ({"no_such_argument": 1}, "invalid arguments"),
    ],
)
def test_bad_arguments_fail_at_dag_definition(kwargs: dict[str, Any], message: str) -> None:
    with DAG("http_bad"), pytest.raises(DagDefinitionError, match=message):
        HttpOperator(task_id="call", **kwargs)


@pytest.mark.parametrize(
    ("conn", "expected"),
    [
        (Connection(conn_id="c", conn_type="http", host="example.com"), "http://example.com"),
        (Connection(conn_id="c", conn_type="https", host="example.com"), "https://example.com"),
        (
            Connection(
                conn_id="c", conn_type="http", host="example.com", schema="https", port=8443
            ),
            "https://example.com:8443",
        ),
        (
            Connection(conn_id="c", conn_type="http", host="https://example.com/api/", port=9),
            "https://example.com:9/api",
        ),
        (
            Connection(conn_id="c", conn_type="http", host="h", extra={"scheme": "https"}),
            "https://h",
        ),
        (Connection.from_uri("c", "https://h:81/v2"), "https://h:81/v2"),
    ],
)
def test_base_url_from_connection(conn: Connection, expected: str) -> None:
    assert base_url(conn) == expected


def test_join_url_puts_one_slash_between() -> None:
    assert join_url("http://h", "a") == "http://h/a"
    assert join_url("http://h", "/a") == "http://h/a"
    assert join_url("http://h", None) == "http://h"
