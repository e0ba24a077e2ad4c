"""The core's own CLI commands, registered like any plugin's."""

from __future__ import annotations

from collections.abc import Iterator

from slipstream.plugins import CliCommandSpec, hookimpl


@hookimpl
def slipstream_cli_commands() -> Iterator[CliCommandSpec]:
    from slipstream.cli.config_cmd import config
    from slipstream.cli.connections_cmd import connections
    from slipstream.cli.dags_cmd import dags
    from slipstream.cli.db_cmd import db
    from slipstream.cli.info_cmd import info
    from slipstream.cli.init_cmd import init
    from slipstream.cli.login_cmd import login, logout
    from slipstream.cli.plugins_cmd import plugins
    from slipstream.cli.pools_cmd import pools
    from slipstream.cli.runs_cmd import list_runs, pause, states_for_dag_run, unpause
    from slipstream.cli.services_cmd import api_server, dag_processor, scheduler, standalone
    from slipstream.cli.tasks_cmd import tasks
    from slipstream.cli.users_cmd import users
    from slipstream.cli.variables_cmd import variables

    # Store-backed subcommands live in their own module (runs_cmd) but belong to these groups.
    for command in (pause, unpause, list_runs):
        dags.add_command(command)
    tasks.add_command(states_for_dag_run)

    yield CliCommandSpec(command=plugins)
    yield CliCommandSpec(command=config)
    yield CliCommandSpec(command=info)
    yield CliCommandSpec(command=init)
    yield CliCommandSpec(command=dags)
    yield CliCommandSpec(command=tasks)
    yield CliCommandSpec(command=db)
    yield CliCommandSpec(command=scheduler)
    yield CliCommandSpec(command=dag_processor)
    yield CliCommandSpec(command=standalone)
    yield CliCommandSpec(command=api_server)
    yield CliCommandSpec(command=users)
    yield CliCommandSpec(command=login)
    yield CliCommandSpec(command=logout)
    yield CliCommandSpec(command=variables)
    yield CliCommandSpec(command=connections)
    yield CliCommandSpec(command=pools)
