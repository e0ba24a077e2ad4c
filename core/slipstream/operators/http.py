"""``HttpOperator``: one HTTP request (or a paginated series) through a Connection.

The arguments are those of Airflow's ``HttpOperator`` (``SimpleHttpOperator``), so
a ported DAG keeps them. Requests are made with httpx; ``response_check``,
``response_filter`` and ``pagination_function`` receive ``httpx.Response``
objects, which have ``status_code``, ``headers``, ``text``, ``content`` and
``json()`` like requests' (``is_success`` stands for requests' ``ok``).

Where the request goes, from the connection (``http_conn_id``):

- ``host`` with a scheme (``https://api.example.com``) is the base URL as it is;
- otherwise the scheme is ``schema`` if that is ``http`` or ``https`` (Airflow's
  convention), else the extra ``scheme``, else ``https`` for a connection of type
  ``https``, else ``http``; any other ``schema`` is a path prefix
  (``SLIPSTREAM_CONN_API=https://api.example.com/v1`` sends ``endpoint="users"``
  to ``https://api.example.com/v1/users``);
- ``port`` is added when the host has none;
- ``login``/``password`` become basic auth (``auth_type`` may name another
  ``httpx.Auth`` class taking ``(login, password)``, e.g. ``httpx.DigestAuth``);
- the extra's request options (``timeout``, ``verify``, ``cert``, ``proxy``,
  ``proxies``, ``allow_redirects``, ``max_redirects``, ``trust_env``,
  ``check_response``) configure the client and every other key of the extra (and
  the keys of an extra ``headers`` object) is sent as a header, as Airflow does.
  ``extra_options`` on the operator win over the connection's.

No timeout unless one is given (as with requests); ``execution_timeout`` bounds the task.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from slipstream.exceptions import DagDefinitionError, SlipstreamException
from slipstream.models.baseoperator import BaseOperator
from slipstream.models.connection import Connection
from slipstream.operators._common import (
    check_callable,
    check_required_str,
    check_type,
    get_connection,
)
from slipstream.operators.python import determine_kwargs

if TYPE_CHECKING:
    import httpx

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
#: Connection-extra and ``extra_options`` keys that configure the request, not headers.
REQUEST_OPTIONS = frozenset(
    {
        "timeout",
        "verify",
        "cert",
        "proxy",
        "proxies",
        "allow_redirects",
        "max_redirects",
        "trust_env",
        "check_response",
        "stream",
    }
)
#: Extra keys that describe the connection itself.
CONNECTION_KEYS = frozenset({"scheme", "headers", "auth_type"})
BODY_PREVIEW = 500
#: What ``pagination_function``'s dict may change besides request kwargs (json, params...).
PAGE_KEYS = ("endpoint", "data", "headers", "extra_options")


def _socket_options(idle: int, count: int, interval: int) -> list[tuple[int, int, int]]:
    """TCP keep-alive, so that long requests through NATs and load balancers survive."""
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (
        ("TCP_KEEPIDLE", idle),
        ("TCP_KEEPINTVL", interval),
        ("TCP_KEEPCNT", count),
    ):
        if hasattr(socket, name):
            options.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    return options


def base_url(conn: Connection) -> str:
    """The URL the endpoint is joined to (see the module docstring)."""
    host = (conn.host or "").strip()
    if not host:
        raise SlipstreamException(f"connection {conn.conn_id!r} has no host to send requests to")
    schema = (conn.schema or "").strip()
    if "://" not in host:
        if schema.lower() in ("http", "https"):
            scheme = schema.lower()
        elif conn.extra_dejson.get("scheme") in ("http", "https"):
            scheme = str(conn.extra_dejson["scheme"])
        else:
            scheme = "https" if conn.conn_type.lower() == "https" else "http"
        host = f"{scheme}://{host}"
    parts = urlsplit(host)
    netloc = parts.netloc
    if conn.port and parts.port is None:
        netloc = f"{netloc}:{conn.port}"
    path = parts.path.rstrip("/")
    if schema and schema.lower() not in ("http", "https"):
        path += "/" + schema.strip("/")
    return f"{parts.scheme}://{netloc}{path}"


def _timeout(value: Any) -> httpx.Timeout:
    """requests' timeout (seconds, or a (connect, read) pair) as httpx's."""
    import httpx

    if isinstance(value, list | tuple):
        connect, read = value
        return httpx.Timeout(read, connect=connect)
    return httpx.Timeout(value)


def join_url(base: str, endpoint: str | None) -> str:
    """Airflow's joining: one slash between the base URL and the endpoint."""
    if base and not base.endswith("/") and endpoint and not endpoint.startswith("/"):
        return f"{base}/{endpoint}"
    return base + (endpoint or "")


class HttpOperator(BaseOperator):
    """Calls an HTTP endpoint; the response text (or ``response_filter``'s value) is the XCom.

    A status outside 2xx fails the task with the status and the start of the body
    (unless ``extra_options={"check_response": False}``), and so does a falsy
    ``response_check``. ``data`` is sent as query parameters for GET, as a form for
    a dict, and as the body for a string.
    """

    template_fields: Sequence[str] = ("endpoint", "data", "headers")
    template_fields_renderers = {"headers": "json", "data": "py"}
    template_ext: Sequence[str] = ()
    ui_color = "#f4a460"

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        method: str = "POST",
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        response_check: Callable[..., Any] | None = None,
        response_filter: Callable[..., Any] | None = None,
        pagination_function: Callable[..., Any] | None = None,
        extra_options: Mapping[str, Any] | None = None,
        request_kwargs: Mapping[str, Any] | None = None,
        http_conn_id: str = "http_default",
        log_response: bool = False,
        auth_type: Callable[..., Any] | None = None,
        tcp_keep_alive: bool = True,
        tcp_keep_alive_idle: int = 120,
        tcp_keep_alive_count: int = 20,
        tcp_keep_alive_interval: int = 30,
        **kwargs: Any,
    ) -> None:
        owner = f"{type(self).__name__} {kwargs.get('task_id')!r}"
        check_type(owner, "endpoint", endpoint, str)
        check_type(owner, "headers", headers, Mapping)
        check_type(owner, "extra_options", extra_options, Mapping)
        check_type(owner, "request_kwargs", request_kwargs, Mapping)
        check_required_str(owner, "http_conn_id", http_conn_id)
        for name, value in (
            ("response_check", response_check),
            ("response_filter", response_filter),
            ("pagination_function", pagination_function),
            ("auth_type", auth_type),
        ):
            check_callable(owner, name, value)
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise DagDefinitionError(
                f"{owner}: method must be one of {', '.join(METHODS)}, got {method!r}"
            )
        super().__init__(**kwargs)
        self.endpoint = endpoint
        self.method = method.upper()
        self.data = data
        self.headers = dict(headers or {})
        self.response_check = response_check
        self.response_filter = response_filter
        self.pagination_function = pagination_function
        self.extra_options = dict(extra_options or {})
        self.request_kwargs = dict(request_kwargs or {})
        self.http_conn_id = http_conn_id
        self.log_response = log_response
        self.auth_type = auth_type
        self.tcp_keep_alive = tcp_keep_alive
        self.tcp_keep_alive_idle = tcp_keep_alive_idle
        self.tcp_keep_alive_count = tcp_keep_alive_count
        self.tcp_keep_alive_interval = tcp_keep_alive_interval

    # -- the client ---------------------------------------------------------------------

    def _split_extra(self, conn: Connection) -> tuple[dict[str, Any], dict[str, str]]:
        """The connection extra as (request options, headers)."""
        options: dict[str, Any] = {}
        headers: dict[str, str] = {}
        for key, value in conn.extra_dejson.items():
            if key in REQUEST_OPTIONS:
                options[key] = value
            elif key == "headers" and isinstance(value, Mapping):
                headers.update({str(k): str(v) for k, v in value.items()})
            elif key not in CONNECTION_KEYS:
                headers[str(key)] = str(value)
        return options, headers

    def _transport(self, verify: Any, proxy: str | None) -> httpx.HTTPTransport:
        import httpx

        options = (
            _socket_options(
                self.tcp_keep_alive_idle, self.tcp_keep_alive_count, self.tcp_keep_alive_interval
            )
            if self.tcp_keep_alive
            else None
        )
        return httpx.HTTPTransport(verify=verify, proxy=proxy, socket_options=options)

    def _client(self, conn: Connection, options: Mapping[str, Any]) -> httpx.Client:
        import httpx

        verify: Any = options.get("verify", True)
        cert = options.get("cert")
        if isinstance(verify, str) or cert:
            context = (
                ssl.create_default_context(cafile=verify)
                if isinstance(verify, str)
                else ssl.create_default_context()
            )
            if verify is False:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if cert:
                certfile, keyfile = (cert, None) if isinstance(cert, str) else tuple(cert)
                context.load_cert_chain(certfile, keyfile)
            verify = context
        proxies = options.get("proxies") or {}
        proxy = options.get("proxy")
        mounts = {
            f"{scheme.split(':')[0]}://": self._transport(verify, str(url))
            for scheme, url in (proxies.items() if isinstance(proxies, Mapping) else [])
        }
        auth = None
        if conn.login:
            make_auth = self.auth_type or httpx.BasicAuth
            auth = make_auth(conn.login, conn.password or "")
        timeout = options.get("timeout")
        return httpx.Client(
            auth=auth,
            timeout=_timeout(timeout),
            follow_redirects=bool(options.get("allow_redirects", True)),
            max_redirects=int(options.get("max_redirects", 20)),
            trust_env=bool(options.get("trust_env", True)),
            transport=self._transport(verify, str(proxy) if proxy else None),
            mounts=mounts or None,
        )

    # -- running ------------------------------------------------------------------------

    def _request(
        self,
        client: httpx.Client,
        url: str,
        data: Any,
        headers: Mapping[str, str],
        request_kwargs: Mapping[str, Any],
        check_response: bool,
    ) -> httpx.Response:
        import httpx

        kwargs: dict[str, Any] = dict(request_kwargs)
        if self.method == "GET":
            if data is not None:
                kwargs["params"] = data
        elif self.method != "HEAD" and data is not None:
            if isinstance(data, str | bytes):
                kwargs["content"] = data
            else:
                kwargs["data"] = data
        self.log.info("Sending %s to %s", self.method, url)
        try:
            response = client.request(self.method, url, headers=dict(headers), **kwargs)
        except httpx.HTTPError as exc:
            raise SlipstreamException(
                f"{self.method} {url} failed: {type(exc).__name__}: {exc}"
            ) from exc
        if self.log_response:
            self.log.info("%s", response.text)
        if check_response and not response.is_success:
            body = response.text
            preview = body[:BODY_PREVIEW] + ("..." if len(body) > BODY_PREVIEW else "")
            self.log.error("HTTP error: %s %s", response.status_code, response.reason_phrase)
            raise SlipstreamException(
                f"HTTP {response.status_code} {response.reason_phrase} from {self.method} "
                f"{url}: {preview}"
            )
        return response

    def execute(self, context: Mapping[str, Any]) -> Any:
        conn = get_connection(self.http_conn_id)
        conn_options, conn_headers = self._split_extra(conn)
        options = {**conn_options, **self.extra_options}
        check_response = bool(options.get("check_response", True))
        base = base_url(conn)
        endpoint, data = self.endpoint, self.data
        headers = {**conn_headers, **self.headers}
        request_kwargs = dict(self.request_kwargs)
        responses: list[httpx.Response] = []
        with self._client(conn, options) as client:
            while True:
                url = join_url(base, endpoint)
                response = self._request(client, url, data, headers, request_kwargs, check_response)
                responses.append(response)
                if self.pagination_function is None:
                    break
                following = self.pagination_function(response)
                if not following:
                    break
                if not isinstance(following, Mapping):
                    raise TypeError(
                        f"pagination_function must return a dict of the next request's "
                        f"endpoint/data/headers/json, or None; got {following!r}"
                    )
                endpoint, data, headers, request_kwargs = self._next_page(
                    following, endpoint, data, headers, request_kwargs
                )
        result: Any = responses if self.pagination_function is not None else responses[0]
        if self.response_check is not None:
            kwargs = determine_kwargs(self.response_check, [result], {}, context)
            if not self.response_check(result, **kwargs):
                raise SlipstreamException(
                    f"response_check returned False for {self.method} {join_url(base, endpoint)}"
                )
        if self.response_filter is not None:
            kwargs = determine_kwargs(self.response_filter, [result], {}, context)
            return self.response_filter(result, **kwargs)
        if self.pagination_function is not None:
            return [r.text for r in responses]
        return responses[0].text

    @staticmethod
    def _next_page(
        following: Mapping[str, Any],
        endpoint: str | None,
        data: Any,
        headers: dict[str, str],
        request_kwargs: dict[str, Any],
    ) -> tuple[str | None, Any, dict[str, str], dict[str, Any]]:
        """The next request: what ``pagination_function`` returned merged over this one."""
        endpoint = following.get("endpoint", endpoint)
        if "data" in following:
            new = following["data"]
            data = {**data, **new} if isinstance(data, dict) and isinstance(new, dict) else new
        headers = {**headers, **following.get("headers", {})}
        request_kwargs = {
            **request_kwargs,
            **{k: v for k, v in following.items() if k not in PAGE_KEYS},
        }
        return endpoint, data, headers, request_kwargs


#: Airflow 2's name for the same operator.
SimpleHttpOperator = HttpOperator
