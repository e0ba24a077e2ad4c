"""Configuration: where it is found, precedence, types, and errors that say what to fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from slipstream.config import load
from slipstream.errors import ConfigError

if TYPE_CHECKING:
    from conftest import CliRun


def write_toml(folder: Path, text: str) -> Path:
    path = folder / "slipstream.toml"
    path.write_text(text)
    return path


def test_defaults_live_under_the_home(home: Path) -> None:
    config, _ = load(cwd=home, environ={"SLIPSTREAM_HOME": str(home)})

    assert config.home == home.resolve()
    assert config.file is None
    assert config["core.executor"] == "local"
    assert config.source("core.executor") == "default"
    assert config["core.metadata"] == f"sqlite:///{home.resolve() / 'slipstream.db'}"
    assert config["core.queue"] == "memory://"
    assert config["core.dags_folder"] == home.resolve() / "dags"
    assert config["core.parallelism"] == 32
    assert config["api.host"] == "127.0.0.1"
    assert config["api.port"] == 8080


def test_precedence_default_then_file_then_environment(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "sub" / "deeper").mkdir(parents=True)
    toml = write_toml(
        project,
        '[core]\nparallelism = 8\ndags_folder = "pipelines"\n[api]\nport = 9000\n',
    )

    config, _ = load(cwd=project / "sub" / "deeper", environ={"SLIPSTREAM__API__PORT": "9100"})

    assert config.file == toml.resolve()
    assert config.home == project.resolve()
    assert (config["core.parallelism"], config.source("core.parallelism")) == (
        8,
        f"file {toml.resolve()}",
    )
    # Relative paths in the file are relative to the file.
    assert config["core.dags_folder"] == project.resolve() / "pipelines"
    assert (config["api.port"], config.source("api.port")) == (
        9100,
        "environment variable SLIPSTREAM__API__PORT",
    )
    assert config.source("core.queue") == "default"


def test_home_from_environment_when_no_file_is_found(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    write_toml(home, "[core]\nparallelism = 3\n")

    config, _ = load(cwd=elsewhere, environ={"SLIPSTREAM_HOME": str(home)})

    assert config.home == home.resolve()
    assert config["core.parallelism"] == 3


def test_code_overrides_win(home: Path) -> None:
    config, _ = load(
        cwd=home,
        environ={"SLIPSTREAM_HOME": str(home), "SLIPSTREAM__CORE__PARALLELISM": "4"},
        overrides={"core.parallelism": 2, "core.executor": "sequential"},
    )

    assert config["core.parallelism"] == 2
    assert config.source("core.parallelism") == "code"


@pytest.mark.parametrize(
    ("variable", "raw", "expected"),
    [
        ("SLIPSTREAM__CORE__LOAD_EXAMPLES", "false", False),
        ("SLIPSTREAM__CORE__LOAD_EXAMPLES", "YES", True),
        ("SLIPSTREAM__CORE__DAGBAG_IMPORT_TIMEOUT", "2.5", 2.5),
        ("SLIPSTREAM__PLUGINS__DISABLED", "a, b", ["a", "b"]),
        ("SLIPSTREAM__PLUGINS__DISABLED", '["a"]', ["a"]),
    ],
)
def test_environment_values_are_converted_to_the_key_type(
    home: Path, variable: str, raw: str, expected: object
) -> None:
    config, _ = load(cwd=home, environ={"SLIPSTREAM_HOME": str(home), variable: raw})
    dotted = variable.removeprefix("SLIPSTREAM__").lower().replace("__", ".")

    assert config[dotted] == expected


def test_unknown_key_in_file_names_it_the_file_and_the_known_keys(home: Path) -> None:
    toml = write_toml(home, '[core]\nexecuter = "local"\n')

    with pytest.raises(ConfigError) as err:
        load(cwd=home, environ={})

    message = str(err.value)
    assert f"unknown key 'executer' in [core] of {toml.resolve()}" in message
    assert "Did you mean 'executor'?" in message
    assert "Known keys in [core]: dagbag_import_timeout, dags_are_paused_at_creation," in message


def test_unknown_section_is_an_error(home: Path) -> None:
    write_toml(home, "[celeri]\nworker_concurrency = 2\n")

    with pytest.raises(ConfigError, match=r"unknown section \[celeri\]"):
        load(cwd=home, environ={})


def test_unknown_environment_variable_is_an_error(home: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(cwd=home, environ={"SLIPSTREAM_HOME": str(home), "SLIPSTREAM__CORE__PARALELISM": "4"})

    assert "environment variable SLIPSTREAM__CORE__PARALELISM names no known setting" in str(
        err.value
    )
    assert "Did you mean 'SLIPSTREAM__CORE__PARALLELISM'?" in str(err.value)


@pytest.mark.parametrize(
    ("toml", "environ", "message"),
    [
        (
            '[core]\nparallelism = "lots"\n',
            {},
            "core.parallelism: expected an integer, got 'lots' (from file ",
        ),
        (
            "",
            {"SLIPSTREAM__CORE__PARALLELISM": "lots"},
            "core.parallelism: expected an integer, got 'lots' "
            "(from environment variable SLIPSTREAM__CORE__PARALLELISM)",
        ),
        ("[core]\nparallelism = 0\n", {}, "core.parallelism: must be at least 1, got 0"),
        ("[core]\nload_examples = 1\n", {}, "core.load_examples: expected true or false"),
        (
            "",
            {"SLIPSTREAM__CORE__LOAD_EXAMPLES": "maybe"},
            "core.load_examples: expected true or false, got 'maybe'",
        ),
        ("[api]\nport = true\n", {}, "api.port: expected an integer, got True"),
        ("[core]\nexecutor = 3\n", {}, "core.executor: expected a string, got 3"),
        ("core = 3\n", {}, "top-level key 'core' must be a [section] table"),
        ("[core\n", {}, "cannot read"),
    ],
)
def test_wrong_types_name_the_key_and_the_source(
    home: Path, toml: str, environ: dict[str, str], message: str
) -> None:
    if toml:
        write_toml(home, toml)

    with pytest.raises(ConfigError) as err:
        load(cwd=home, environ={"SLIPSTREAM_HOME": str(home), **environ})

    assert message in str(err.value)


def test_executor_no_plugin_provides_is_an_error_listing_the_installed_ones(home: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(
            cwd=home,
            environ={"SLIPSTREAM_HOME": str(home), "SLIPSTREAM__CORE__EXECUTOR": "nope"},
            load_entrypoints=False,
        )

    message = str(err.value)
    assert message.startswith(
        "core.executor = 'nope' (from environment variable SLIPSTREAM__CORE__EXECUTOR): "
        "no executor named 'nope' is installed. Installed: sequential (slipstream 0.1.0)."
    )


def test_queue_and_metadata_schemes_must_be_installed(home: Path) -> None:
    toml = write_toml(home, '[core]\nqueue = "kafka://b:9092"\n')
    with pytest.raises(ConfigError) as err:
        load(cwd=home, environ={})
    assert f"core.queue = 'kafka://b:9092' (from file {toml.resolve()})" in str(err.value)
    assert "no queue backend named 'kafka'" in str(err.value)

    write_toml(home, '[core]\nmetadata = "oracle://scott:tiger@db/x"\n')
    with pytest.raises(ConfigError) as err:
        load(cwd=home, environ={})
    # The password never appears in a message.
    assert "oracle://scott:********@db/x" in str(err.value)
    assert "tiger" not in str(err.value)


def test_cli_config_get_shows_value_and_source(slipstream: CliRun, home: Path) -> None:
    write_toml(home, "[core]\nparallelism = 6\n")

    result = slipstream("config", "get", "core.parallelism", "-o", "json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "key": "core.parallelism",
            "value": "6",
            "source": f"file {(home / 'slipstream.toml').resolve()}",
        }
    ]
    assert slipstream("config", "get", "core.parallelism", "--value-only").stdout == "6\n"


def test_cli_config_get_fails_on_an_executor_that_is_not_installed(slipstream: CliRun) -> None:
    result = slipstream(
        "config", "get", "core.executor", env={"SLIPSTREAM__CORE__EXECUTOR": "nope"}
    )

    assert result.returncode == 1
    assert "SLIPSTREAM__CORE__EXECUTOR" in result.stderr
    assert (
        "Installed: celery (slipstream-celery-executor 0.1.0), kubernetes "
        "(slipstream-k8s-executor 0.1.0), local (slipstream-local-executor 0.1.0), "
        "sequential (slipstream 0.1.0)" in result.stderr
    )


def test_cli_config_list_masks_secrets(slipstream: CliRun) -> None:
    result = slipstream(
        "config",
        "list",
        "-o",
        "json",
        env={
            "SLIPSTREAM__CORE__FERNET_KEY": "super-secret-key",
            "SLIPSTREAM__CORE__METADATA": "postgresql+psycopg://slip:hunter2@db/slipstream",
        },
    )

    assert result.returncode == 0, result.stderr
    assert "super-secret-key" not in result.stdout
    assert "hunter2" not in result.stdout
    rows = {row["key"]: row for row in json.loads(result.stdout)}
    assert rows["core.fernet_key"]["value"] == "********"
    assert rows["core.metadata"]["value"] == "postgresql+psycopg://slip:********@db/slipstream"
    assert rows["celery.worker_concurrency"]["value"] == "4"  # a plugin's own section


def test_cli_unknown_setting_is_a_clear_error(slipstream: CliRun) -> None:
    result = slipstream("config", "get", "core.paralelism")

    assert result.returncode == 1
    assert "unknown setting 'core.paralelism'. Did you mean: core.parallelism" in result.stderr
