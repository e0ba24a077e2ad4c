"""The CLI against a slipstream that runs elsewhere: where its API is, the token
to use, and a small HTTP client that turns the server's answers into messages.

The API URL comes from ``--api-url``, then ``cli.api_url`` (``SLIPSTREAM__CLI__API_URL``),
then the credentials ``slipstream login`` saved; the token from ``cli.api_token``
(``SLIPSTREAM__CLI__API_TOKEN``), then those saved credentials if they are for that URL.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import attrs
import click
import httpx

CREDENTIALS_FILE = "credentials.json"
TIMEOUT_SECONDS = 30.0


def credentials_path() -> Path:
    """In the user's config directory (``$XDG_CONFIG_HOME/slipstream`` on Linux)."""
    return Path(click.get_app_dir("slipstream")) / CREDENTIALS_FILE


def normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise click.UsageError(f"{url!r} is not an http(s) URL of a slipstream API server")
    return url


@attrs.frozen(kw_only=True)
class Credentials:
    api_url: str
    token: str = attrs.field(repr=False)
    username: str | None = None


def save_credentials(credentials: Credentials) -> Path:
    """Written with mode 0600 from the start: the token is as good as a password."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(attrs.asdict(credentials), handle)
    os.replace(tmp, path)
    return path


def load_credentials() -> Credentials | None:
    try:
        data = json.loads(credentials_path().read_text(encoding="utf-8"))
        return Credentials(
            api_url=str(data["api_url"]), token=str(data["token"]), username=data.get("username")
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def forget_credentials() -> bool:
    try:
        credentials_path().unlink()
    except FileNotFoundError:
        return False
    return True


class ApiError(click.ClickException):
    """What went wrong talking to the server, said so a person can act on it."""


class ApiClient:
    """JSON over HTTP with the bearer token; every failure becomes an ApiError."""

    def __init__(self, api_url: str, token: str | None, *, transport: Any = None) -> None:
        self.api_url = api_url
        self._http = httpx.Client(
            base_url=api_url,
            headers={"Authorization": f"Bearer {token}"} if token else {},
            timeout=TIMEOUT_SECONDS,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str | None = None,
        params: Any = None,
        json_body: Any = None,
        data: Any = None,
        expect: tuple[int, ...] = (200, 201, 204),
    ) -> Any:
        """The decoded JSON answer (None for 204). ``what`` names the thing a 404 is about."""
        try:
            response = self._http.request(method, path, params=params, json=json_body, data=data)
        except httpx.TransportError as exc:
            raise ApiError(
                f"cannot reach the slipstream API at {self.api_url} ({exc.__class__.__name__}: "
                f"{exc}). Is the server running, and is the URL right?"
            ) from None
        if response.status_code in expect:
            return response.json() if response.content else None
        self._fail(response, what)

    def _fail(self, response: httpx.Response, what: str | None) -> NoReturn:
        status = response.status_code
        detail = _detail(response)
        if status == 401:
            if "expired" in detail.lower():
                raise ApiError(
                    f"your login to {self.api_url} has expired: run `slipstream login "
                    f"{self.api_url}` again"
                )
            raise ApiError(
                f"the server at {self.api_url} did not accept the credentials ({detail}): "
                f"run `slipstream login {self.api_url}`"
            )
        if status == 403:
            raise ApiError(f"not allowed: {detail}")
        if status == 404:
            raise ApiError(f"{what or 'that'} was not found on the server ({detail})")
        if status == 429:
            raise ApiError(detail)
        if status == 422:
            raise ApiError(f"the server refused the input: {detail}")
        raise ApiError(f"the server answered {status}: {detail}")


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else body
    if isinstance(detail, list):  # FastAPI-style validation errors
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p not in ("body", "query"))
                parts.append(f"{loc}: {item.get('msg')}" if loc else str(item.get("msg")))
        return "; ".join(parts) or json.dumps(detail)
    return str(detail)


def path(*segments: str) -> str:
    """``/api/v2/`` + segments, each URL-quoted (ids may hold '/' or spaces)."""
    return "/api/v2/" + "/".join(quote(segment, safe="") for segment in segments)


def login(api_url: str, username: str, password: str) -> Credentials:
    client = ApiClient(api_url, None)
    try:
        answer = client.request(
            "POST",
            "/auth/token",
            json_body={"username": username, "password": password},
            what="the login route /auth/token",
        )
    finally:
        client.close()
    return Credentials(api_url=api_url, token=answer["access_token"], username=username)
