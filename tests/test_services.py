"""Smoke tests: each real server the suite relies on starts and does real work."""

from __future__ import annotations

import http.server
import threading
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, text

from tests import services


def _roundtrip(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE note (id INTEGER PRIMARY KEY, body VARCHAR(40))"))
            conn.execute(text("INSERT INTO note VALUES (1, :body)"), {"body": "héllo ✓ 🚀"})
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT body FROM note WHERE id = 1")).scalar_one())
    finally:
        engine.dispose()


def test_postgres_table_roundtrip(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    assert _roundtrip(postgres_url) == "héllo ✓ 🚀"


def test_postgres_databases_are_fresh_and_dropped(postgres_server: services.DatabaseServer) -> None:
    first, second = postgres_server.create_database(), postgres_server.create_database()
    assert first != second
    postgres_server.drop_database(first)
    postgres_server.drop_database(second)
    with postgres_server.admin() as conn:
        names = conn.execute(text("SELECT datname FROM pg_database")).scalars().all()
    assert {first.rsplit("/", 1)[1], second.rsplit("/", 1)[1]}.isdisjoint(names)


def test_mysql_table_roundtrip(mysql_url: str) -> None:
    assert mysql_url.startswith("mysql+pymysql://root:")
    assert mysql_url.endswith("?charset=utf8mb4")
    # Four-byte characters prove the database really is utf8mb4.
    assert _roundtrip(mysql_url) == "héllo ✓ 🚀"


def test_redis_set_get(redis_url: str) -> None:
    import redis

    with redis.Redis.from_url(redis_url) as client:
        client.set("greeting", "hello")
        assert client.get("greeting") == b"hello"


def test_amqp_publish_consume(amqp_url: str) -> None:
    import amqp

    parts = urlsplit(amqp_url)
    queue = f"smoke-{uuid.uuid4().hex}"
    received: list[amqp.Message] = []
    with amqp.Connection(
        f"{parts.hostname}:{parts.port}", userid=parts.username, password=parts.password
    ) as conn:
        channel = conn.channel()
        channel.queue_declare(queue, auto_delete=True)
        channel.basic_publish(amqp.Message("hello"), routing_key=queue)
        channel.basic_consume(queue, callback=received.append, no_ack=True)
        conn.drain_events(timeout=10)
    assert [message.body for message in received] == ["hello"]


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>slipstream smoke</title><p>hello</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def page_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_chromium_reads_page_title(
    chromium_executable: str, chromium_args: list[str], page_url: str
) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_executable, args=chromium_args
        )
        try:
            page = browser.new_page()
            page.goto(page_url)
            assert page.title() == "slipstream smoke"
        finally:
            browser.close()


def test_missing_service_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="Debian package redis-server"):
        services._missing("Redis server", "redis-server")


def test_missing_service_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Debian package redis-server"):
        services._missing("Redis server", "redis-server")
