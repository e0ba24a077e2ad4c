"""A :class:`~slipstream.execution.client.TaskClient` over the task-execution API.

For remote workers (Celery, Kubernetes) that hold no database password: every
read and write goes through ``core.execution_api_url`` with the workload's task
token, which the API accepts only for that one try while it runs. The client
also carries the try's own lifecycle: start, heartbeats, log lines, end.

Connection failures are retried with exponential backoff; errors the API answers
become :class:`ExecutionApiError` (or :class:`TryNotRunning` when the try is over)
with the API's explanation.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import attrs
import httpx
import jwt

from slipstream.errors import SlipstreamError
from slipstream.exceptions import DagNotFound, DagRunAlreadyExists
from slipstream.execution.runner import RunInfo, TaskOutcome

log = logging.getLogger(__name__)

REFRESHED_TOKEN_HEADER = "Refreshed-API-Token"
RETRY_STATUSES = frozenset({502, 503, 504})  # a proxy or a restarting server: not processed
_NO_BODY: Any = object()


class ExecutionApiError(SlipstreamError):
    """The task-execution API cannot be reached, or refused a request (it says why)."""

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None):
        super().__init__(message)
        self.status = status
        self.reason = reason


class TryNotRunning(ExecutionApiError):
    """The API says this try is not (or no longer) running: cleared, marked, reaped,
    superseded or finished. The worker stops reporting for it."""


@attrs.frozen(kw_only=True)
class RunContext:
    """What ``PATCH /execution/task-instances/{id}/run`` answers: what running the try needs."""

    run: RunInfo
    max_tries: int
    should_retry: bool
    dag_version_id: int | None
    first_attempt_started_at: datetime | None


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _segment(value: str, what: str) -> str:
    """One path segment; a ``/`` cannot be routed even when encoded, so it is refused here."""
    if "/" in value or value in ("", ".", ".."):
        raise ExecutionApiError(
            f"{what} {value!r} cannot be addressed through the task-execution API "
            "(it is empty or contains '/')"
        )
    return quote(value, safe="")


class ApiTaskClient:
    """``ApiTaskClient(url, token)``: ``url`` is ``core.execution_api_url``
    (``http://host:8080/execution``); ``http`` lets tests pass a client of their own."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._lock = threading.Lock()
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
            self.ti_id = int(claims["sub"])
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            raise ExecutionApiError("the workload's token is not a task token") from None
        self._http = http if http is not None else httpx.Client(timeout=timeout)
        self._owns_http = http is None
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep

    @property
    def token(self) -> str:
        with self._lock:
            return self._token

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    # -- HTTP -----------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = _NO_BODY,
        params: Mapping[str, Any] | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        """Send one request, retrying what cannot have been processed: connection
        failures always, other transport errors for idempotent requests, and 502/503/504."""
        url = self.base_url + path
        content = None if body is _NO_BODY else json.dumps(body).encode("utf-8")
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            failure: str
            try:
                headers = {"Authorization": f"Bearer {self.token}"}
                if content is not None:
                    headers["Content-Type"] = "application/json"
                response = self._http.request(
                    method, url, params=params, headers=headers, content=content
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                failure = f"{type(exc).__name__}: {exc}"
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}"
                if not idempotent:
                    raise ExecutionApiError(
                        f"{method} {url} failed: {failure} (not retried: it may have been "
                        "processed)"
                    ) from None
            else:
                if response.status_code not in RETRY_STATUSES or attempt == attempts:
                    return response
                failure = f"HTTP {response.status_code}"
            if attempt == attempts:
                raise ExecutionApiError(
                    f"cannot reach the task-execution API at {self.base_url} "
                    f"({method} {path}) after {attempts} attempts: {failure}"
                )
            delay = min(self.backoff * 2 ** (attempt - 1), self.max_backoff)
            log.warning(
                "task-execution API %s %s: %s; retrying in %.1fs", method, path, failure, delay
            )
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _error(response: httpx.Response, what: str) -> ExecutionApiError:
        try:
            detail: Any = response.json().get("detail")
        except (ValueError, AttributeError):
            detail = response.text.strip()[:500] or None
        reason: str | None = None
        if isinstance(detail, dict):
            reason = detail.get("reason")
            detail = detail.get("message", detail)
        elif isinstance(detail, list):  # 422: [{"loc", "msg", "type"}]
            detail = "; ".join(
                f"{'.'.join(str(p) for p in item.get('loc', []))}: {item.get('msg')}"
                if isinstance(item, dict)
                else str(item)
                for item in detail
            )
        detail = detail or response.reason_phrase
        message = f"{what}: the task-execution API answered {response.status_code}: {detail}"
        kind = (
            TryNotRunning
            if response.status_code == 409 and reason != "already_exists"
            else ExecutionApiError
        )
        return kind(message, status=response.status_code, reason=reason)

    def _expect(self, response: httpx.Response, what: str, *ok: int) -> httpx.Response:
        if response.status_code not in ok:
            raise self._error(response, what)
        return response

    # -- the try's lifecycle ----------------------------------------------------------------

    def _ti(self, suffix: str) -> str:
        return f"/task-instances/{self.ti_id}/{suffix}"

    def start(self, *, hostname: str, pid: int) -> RunContext:
        """Move the try from ``queued`` to ``running``; TryNotRunning if it is not queued."""
        response = self._request(
            "PATCH", self._ti("run"), body={"hostname": hostname, "pid": pid}, idempotent=True
        )
        data = self._expect(response, "starting the try", 200).json()
        run = data["dag_run"]
        return RunContext(
            run=RunInfo(
                run_id=run["run_id"],
                logical_date=_when(run.get("logical_date")),
                data_interval_start=_when(run.get("data_interval_start")),
                data_interval_end=_when(run.get("data_interval_end")),
                conf=run.get("conf") or {},
                run_type=run.get("run_type") or "manual",
            ),
            max_tries=int(data["max_tries"]),
            should_retry=bool(data["should_retry"]),
            dag_version_id=data.get("dag_version_id"),
            first_attempt_started_at=_when(data.get("first_attempt_started_at")),
        )

    def heartbeat(self, *, hostname: str, pid: int) -> bool:
        """Say the try is alive; False once the API says it no longer runs here."""
        response = self._request(
            "PUT", self._ti("heartbeat"), body={"hostname": hostname, "pid": pid}
        )
        if response.status_code == 409:
            return False
        self._expect(response, "heartbeat", 204)
        fresh = response.headers.get(REFRESHED_TOKEN_HEADER)
        if fresh:
            with self._lock:
                self._token = fresh
        return True

    def dag_source(self) -> str | None:
        """The code of the try's own DAG version as the store kept it (None if none)."""
        response = self._request("GET", self._ti("dag-source"))
        if response.status_code == 404:
            return None
        source: str = self._expect(response, "reading the try's DAG code", 200).json()[
            "source_code"
        ]
        return source

    def send_logs(self, lines: Sequence[str]) -> None:
        """Append formatted log lines to the try's log file on the API side."""
        response = self._request(
            "POST", self._ti("logs"), body={"lines": list(lines)}, idempotent=False
        )
        self._expect(response, "sending log lines", 204)

    def finish(self, outcome: TaskOutcome) -> str:
        """Report how the try ended; returns the state recorded."""
        body = {
            "state": outcome.state.value,
            "start_date": outcome.started_at.isoformat(),
            "end_date": outcome.ended_at.isoformat(),
            "error": outcome.error,
            "skip_downstream": list(outcome.skip_downstream),
            "skip_recursive": outcome.skip_recursive,
            "reschedule_at": outcome.reschedule_at.isoformat() if outcome.reschedule_at else None,
            "rendered_fields": dict(outcome.rendered_fields),
        }
        response = self._request("PATCH", self._ti("state"), body=body)
        state: str = self._expect(response, "reporting the try's end", 200).json()["state"]
        return state

    # -- TaskClient: Variables, Connections, XComs ----------------------------------------

    def get_variable(self, key: str) -> str | None:
        response = self._request("GET", f"/variables/{_segment(key, 'variable key')}")
        if response.status_code == 404:
            return None
        value: str | None = self._expect(response, f"reading Variable {key!r}", 200).json()["value"]
        return value

    def set_variable(self, key: str, value: str, description: str | None = None) -> None:
        response = self._request(
            "PUT",
            f"/variables/{_segment(key, 'variable key')}",
            body={"value": value, "description": description},
        )
        self._expect(response, f"setting Variable {key!r}", 200, 201)

    def delete_variable(self, key: str) -> None:
        response = self._request("DELETE", f"/variables/{_segment(key, 'variable key')}")
        self._expect(response, f"deleting Variable {key!r}", 204)

    def get_connection(self, conn_id: str) -> Mapping[str, Any] | None:
        response = self._request("GET", f"/connections/{_segment(conn_id, 'connection id')}")
        if response.status_code == 404:
            return None
        data: dict[str, Any] = self._expect(response, f"reading Connection {conn_id!r}", 200).json()
        data["extra"] = data.get("extra") or {}  # JSON text; Connection parses it
        return data

    def _xcom_path(self, dag_id: str, run_id: str, task_id: str, key: str) -> str:
        return (
            f"/xcoms/{_segment(dag_id, 'dag id')}/{_segment(run_id, 'run id')}/"
            f"{_segment(task_id, 'task id')}/{_segment(key, 'XCom key')}"
        )

    def xcom_pull(
        self, *, dag_id: str, run_id: str, task_id: str, key: str, map_index: int | None
    ) -> Any:
        path = self._xcom_path(dag_id, run_id, task_id, key)
        what = f"pulling XCom {key!r} of {dag_id}.{task_id} (run {run_id})"
        if map_index is None:
            values = self._expect(self._request("GET", f"{path}/slice"), what, 200).json()
            return values or None
        response = self._request("GET", path, params={"map_index": map_index})
        if response.status_code == 404:
            return None
        return self._expect(response, what, 200).json()["value"]

    def xcom_push(
        self, *, dag_id: str, run_id: str, task_id: str, key: str, map_index: int, value: Any
    ) -> None:
        response = self._request(
            "POST",
            self._xcom_path(dag_id, run_id, task_id, key),
            body=value,
            params={"map_index": map_index},
        )
        self._expect(response, f"pushing XCom {key!r}", 201)

    # -- TaskClient: other dag runs --------------------------------------------------------

    def trigger_dag_run(
        self,
        *,
        dag_id: str,
        run_id: str,
        conf: Mapping[str, Any] | None,
        logical_date: datetime | None,
        reset_dag_run: bool,
    ) -> str:
        from slipstream.scheduler.triggering import TriggerError

        response = self._request(
            "POST",
            f"/dag-runs/{_segment(dag_id, 'dag id')}/{_segment(run_id, 'run id')}",
            body={
                "conf": dict(conf) if conf is not None else None,
                "logical_date": logical_date.isoformat() if logical_date else None,
                "reset_dag_run": reset_dag_run,
            },
            idempotent=False,
        )
        if response.status_code in (201, 200):
            created: str = response.json()["run_id"]
            return created
        error = self._error(response, f"triggering DAG {dag_id!r}")
        if response.status_code == 404:
            raise DagNotFound(str(error))
        if error.reason == "already_exists":
            raise DagRunAlreadyExists(str(error))
        if response.status_code == 400:
            raise TriggerError(str(error))
        raise error

    def get_dag_run_state(
        self, *, dag_id: str, run_id: str | None = None, logical_date: datetime | None = None
    ) -> str | None:
        if run_id is not None:
            path = f"/dag-runs/{_segment(dag_id, 'dag id')}/{_segment(run_id, 'run id')}/state"
            response = self._request("GET", path)
        elif logical_date is not None:
            response = self._request(
                "GET",
                "/dag-runs/state",
                params={"dag_id": dag_id, "logical_date": logical_date.isoformat()},
            )
        else:
            return None
        if response.status_code == 404:
            return None
        state: str = self._expect(response, f"reading a run's state of {dag_id!r}", 200).json()[
            "state"
        ]
        return state

    def get_task_states(
        self, *, dag_id: str, logical_date: datetime, task_ids: Collection[str] | None = None
    ) -> Mapping[str, Sequence[str]] | None:
        params: dict[str, Any] = {"dag_id": dag_id, "logical_date": logical_date.isoformat()}
        if task_ids:
            params["task_ids"] = list(task_ids)
        response = self._request("GET", "/task-instances/states", params=params)
        if response.status_code == 404:
            return None
        states: dict[str, list[str]] = self._expect(
            response, f"reading task states of {dag_id!r}", 200
        ).json()["task_states"]
        return states

    def get_dag_task_ids(self, *, dag_id: str) -> Sequence[str] | None:
        response = self._request("GET", f"/dags/{_segment(dag_id, 'dag id')}/task-ids")
        if response.status_code == 404:
            return None
        task_ids: list[str] = self._expect(response, f"reading tasks of {dag_id!r}", 200).json()[
            "task_ids"
        ]
        return task_ids
