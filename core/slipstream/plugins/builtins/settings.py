"""The core's configuration keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from slipstream.plugins import SettingSpec, hookimpl


@hookimpl
def slipstream_settings() -> Iterator[SettingSpec]:
    yield SettingSpec(
        section="core",
        key="executor",
        default="local",
        description="Which executor runs task instances: sequential, local, or a plugin's.",
    )
    yield SettingSpec(
        section="core",
        key="metadata",
        default_factory=lambda home: f"sqlite:///{Path(home) / 'slipstream.db'}",
        description="SQLAlchemy URL of the metadata database (default: SQLite in the home).",
    )
    yield SettingSpec(
        section="core",
        key="queue",
        default="memory://",
        description="URL of the queue where workloads wait for workers.",
    )
    yield SettingSpec(
        section="core",
        key="dags_folder",
        type="path",
        default_factory=lambda home: Path(home) / "dags",
        description="Folder searched recursively for DAG files.",
    )
    yield SettingSpec(
        section="core",
        key="parallelism",
        type="int",
        default=32,
        minimum=1,
        description="Task instances that may run at once, across all DAGs.",
    )
    yield SettingSpec(
        section="core",
        key="load_examples",
        type="bool",
        default=True,
        description="Load the example DAGs shipped with slipstream.",
    )
    yield SettingSpec(
        section="core",
        key="dagbag_import_timeout",
        type="float",
        default=30.0,
        minimum=0.1,
        description="Seconds a DAG file may take to import before it is an import error.",
    )
    yield SettingSpec(
        section="core",
        key="fernet_key",
        secret=True,
        description="Key that encrypts variable values and connection passwords and extras "
        "at rest (generated into the home on first use when unset).",
    )
    yield SettingSpec(
        section="core",
        key="execution_api_url",
        description="URL of the task-execution API (http://host:8080/execution) through which "
        "`slipstream tasks run` reports a workload that carries a task token, without the "
        "metadata database. Unset: workers use the metadata database.",
    )
    yield SettingSpec(
        section="core",
        key="dags_are_paused_at_creation",
        type="bool",
        default=True,
        description="New DAGs start paused (a DAG's is_paused_upon_creation wins).",
    )
    yield SettingSpec(
        section="scheduler",
        key="poll_interval",
        type="float",
        default=0.5,
        minimum=0.01,
        description="Seconds between the scheduler's checks for work created elsewhere "
        "(finished tasks wake it at once).",
    )
    yield SettingSpec(
        section="scheduler",
        key="task_heartbeat_interval",
        type="float",
        default=5.0,
        minimum=0.01,
        description="Seconds between a running try's heartbeats.",
    )
    yield SettingSpec(
        section="scheduler",
        key="task_heartbeat_timeout",
        type="float",
        default=60.0,
        minimum=0.05,
        description="A running try silent for this long is failed (and retried if it may).",
    )
    yield SettingSpec(
        section="scheduler",
        key="scheduler_heartbeat_timeout",
        type="float",
        default=30.0,
        minimum=0.05,
        description="A scheduler silent for this long is dead: its queued tries are "
        "queued again by the others.",
    )
    yield SettingSpec(
        section="dag_processor",
        key="scan_interval",
        type="float",
        default=1.0,
        minimum=0.05,
        description="Seconds between looks at the DAGs folder for new, changed or deleted files.",
    )
    yield SettingSpec(
        section="dag_processor",
        key="refresh_interval",
        type="float",
        default=300.0,
        minimum=1.0,
        description="Seconds after which an unchanged DAG file is parsed again anyway "
        "(for DAGs generated from outside data).",
    )
    yield SettingSpec(
        section="logging",
        key="level",
        default="INFO",
        description="Log level of slipstream's own processes.",
    )
    yield SettingSpec(
        section="logging",
        key="base_log_folder",
        type="path",
        default_factory=lambda home: Path(home) / "logs",
        description="Where task logs are written.",
    )
    yield SettingSpec(section="api", key="host", default="127.0.0.1", description="API bind host.")
    yield SettingSpec(
        section="api", key="port", type="int", default=8080, minimum=1, description="API port."
    )
    yield SettingSpec(
        section="api",
        key="secret_key",
        secret=True,
        description="Key that signs API tokens and UI sessions (generated into the home "
        "with mode 0600 on first use when unset; every API server must share it).",
    )
    yield SettingSpec(
        section="api",
        key="access_token_expiration",
        type="int",
        default=86400,
        minimum=60,
        description="Seconds an access token from POST /auth/token (or a UI session) stays valid.",
    )
    yield SettingSpec(
        section="api",
        key="task_token_expiration",
        type="int",
        default=86400,
        minimum=60,
        description="Seconds a task token stays valid beyond its try's execution_timeout (the "
        "whole lifetime for tries without one); heartbeats renew it while the try runs.",
    )
    yield SettingSpec(
        section="api",
        key="cookie_secure",
        type="bool",
        default=False,
        description="Send the UI session cookie only over HTTPS (set it behind a TLS proxy).",
    )
    yield SettingSpec(
        section="api",
        key="login_attempts_per_minute",
        type="int",
        default=5,
        minimum=1,
        description="Failed logins allowed per user name and client address per minute; "
        "further attempts get 429 until the minute has passed.",
    )
    yield SettingSpec(
        section="cli",
        key="api_url",
        description="URL of a slipstream API server: CLI commands then work through its "
        "REST API instead of the local metadata database (see `slipstream login`).",
    )
    yield SettingSpec(
        section="cli",
        key="api_token",
        secret=True,
        description="Access token for cli.api_url, for scripts (instead of `slipstream login`).",
    )
    yield SettingSpec(
        section="plugins",
        key="disabled",
        type="list",
        default=[],
        description="Entry-point or distribution names of plugins not to load.",
    )
    yield SettingSpec(
        section="plugins",
        key="autoload",
        type="bool",
        default=True,
        description="Load plugins from installed distributions (entry-point group 'slipstream').",
    )
