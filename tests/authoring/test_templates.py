"""Jinja templates in template fields: every context variable, template files, macros,
filters, native rendering, and the error an undefined name gives."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from authoring_runner import run_info

from slipstream import DAG
from slipstream.dag_processing.importer import import_dag_file
from slipstream.execution.runner import TaskOutcome, run_task
from slipstream.models import BaseOperator
from slipstream.operators.python import PythonOperator
from slipstream.testing import MemoryTaskClient

LOGICAL = datetime(2024, 3, 9, 6, 30, tzinfo=UTC)


class Echo(BaseOperator):
    """A custom operator with one template field; returns it rendered."""

    template_fields: Sequence[str] = ("text",)

    def __init__(self, *, text: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.text = text

    def execute(self, context: Mapping[str, Any]) -> Any:
        return self.text


def render(
    template: Any,
    *,
    dag_kwargs: Mapping[str, Any] | None = None,
    client: MemoryTaskClient | None = None,
) -> TaskOutcome:
    with DAG("templated", schedule="@daily", start_date=LOGICAL, **(dag_kwargs or {})) as d:
        Echo(task_id="echo", text=template)
    return run_task(
        dag=d,
        task_id="echo",
        run=run_info(d, LOGICAL, run_id="scheduled__2024-03-09T06:30:00+00:00"),
        client=client or MemoryTaskClient(),
    )


def rendered(template: Any, **kwargs: Any) -> Any:
    outcome = render(template, **kwargs)
    assert outcome.state == "success", outcome.error
    return outcome.rendered_fields["text"]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ ds }}", "2024-03-09"),
        ("{{ ds_nodash }}", "20240309"),
        ("{{ ts }}", "2024-03-09T06:30:00+00:00"),
        ("{{ ts_nodash }}", "20240309T063000"),
        ("{{ logical_date }}", "2024-03-09 06:30:00+00:00"),
        ("{{ logical_date.year }}-{{ logical_date.strftime('%H') }}", "2024-06"),
        ("{{ data_interval_start }}", "2024-03-09 06:30:00+00:00"),
        ("{{ data_interval_end }}", "2024-03-10 00:00:00+00:00"),
        ("{{ run_id }}", "scheduled__2024-03-09T06:30:00+00:00"),
        ("{{ dag.dag_id }}", "templated"),
        ("{{ task.task_id }}", "echo"),
        ("{{ ti.task_id }}/{{ ti.try_number }}/{{ ti.map_index }}", "echo/1/-1"),
        ("{{ task_instance.dag_id }}", "templated"),
        ("{{ params.table }}/{{ params['limit'] }}", "orders/10"),
        ("{{ macros.ds_add(ds, 7) }}", "2024-03-16"),
        ("{{ macros.ds_add(ds, -9) }}", "2024-02-29"),
        ("{{ macros.ds_format(ds, '%Y-%m-%d', '%d/%m/%Y') }}", "09/03/2024"),
        ("{{ macros.timedelta(days=1) }}", "1 day, 0:00:00"),
        ("{{ (logical_date + macros.timedelta(hours=1)).hour }}", "7"),
        ("{{ data_interval_start | ds }}", "2024-03-09"),
        ("{% for i in range(3) %}{{ i }}{% endfor %}", "012"),
    ],
)
def test_each_context_variable_renders(template: str, expected: str) -> None:
    assert rendered(template, dag_kwargs={"params": {"table": "orders", "limit": 10}}) == expected


def test_variables_and_connections_render(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLIPSTREAM_VAR_FROM_ENV", "env-value")
    monkeypatch.setenv("SLIPSTREAM_CONN_SOURCE", "mysql://reader:pw@src.example:3306/shop")
    client = MemoryTaskClient(
        variables={"bucket": "s3://data", "config": json.dumps({"batch": {"size": 50}})},
        connections={"sink": {"conn_type": "http", "host": "sink.example", "login": "writer"}},
    )
    template = (
        "{{ var.value.bucket }}|{{ var.value.from_env }}|{{ var.json.config.batch.size }}|"
        "{{ var.value.get('nope', 'fallback') }}|{{ conn.source.host }}:{{ conn.source.port }}|"
        "{{ conn.source.login }}|{{ conn.sink.host }}|{{ conn.sink.login }}|"
        "{{ conn.get('nope', 'none') }}"
    )

    assert rendered(template, client=client) == (
        "s3://data|env-value|50|fallback|src.example:3306|reader|sink.example|writer|none"
    )


def test_templates_render_inside_lists_and_dicts() -> None:
    template = ["{{ ds }}", {"when": "{{ ds_nodash }}", "n": 1}, ("{{ params.x }}",)]

    assert rendered(template, dag_kwargs={"params": {"x": "X"}}) == [
        "2024-03-09",
        {"when": "20240309", "n": 1},
        ("X",),
    ]


def test_user_defined_macros_and_filters() -> None:
    assert (
        rendered(
            "{{ project }}-{{ shout('hi') }}-{{ ds | compact }}",
            dag_kwargs={
                "user_defined_macros": {"project": "etl", "shout": lambda s: s.upper()},
                "user_defined_filters": {"compact": lambda s: s.replace("-", "")},
            },
        )
        == "etl-HI-20240309"
    )


def test_native_rendering_keeps_python_types() -> None:
    native = {"render_template_as_native_obj": True, "params": {"ids": [1, 2], "n": 3}}
    assert rendered("{{ params.ids }}", dag_kwargs=native) == [1, 2]
    assert rendered("{{ params.n + 1 }}", dag_kwargs=native) == 4
    # Without it, every template renders to a string.
    assert rendered("{{ params.ids }}", dag_kwargs={"params": {"ids": [1, 2]}}) == "[1, 2]"


def test_an_undefined_name_is_a_template_error_naming_the_field() -> None:
    outcome = render("echo {{ not_defined }}")

    assert outcome.state == "failed"
    assert outcome.error == (
        "TemplateError: template field 'text': UndefinedError: 'not_defined' is undefined"
    )


def test_a_template_syntax_error_names_the_field() -> None:
    outcome = render("{{ ds ")

    assert outcome.state == "failed"
    assert (outcome.error or "").startswith(
        "TemplateError: template field 'text': TemplateSyntaxError:"
    )


def test_rendering_does_not_change_the_dags_task() -> None:
    with DAG("twice", schedule="@daily", start_date=LOGICAL) as d:
        Echo(task_id="echo", text="{{ ds }}")
    client = MemoryTaskClient()
    first = run_task(dag=d, task_id="echo", run=run_info(d, LOGICAL), client=client)
    second = run_task(
        dag=d, task_id="echo", run=run_info(d, datetime(2024, 3, 10, tzinfo=UTC)), client=client
    )

    assert first.rendered_fields["text"] == "2024-03-09"
    assert second.rendered_fields["text"] == "2024-03-10"
    assert d.get_task("echo").text == "{{ ds }}"  # type: ignore[attr-defined]


def test_python_operator_renders_op_args_op_kwargs_and_templates_dict() -> None:
    with DAG("python_templates", params={"p": "P"}) as d:

        def show(a: str, b: str, templates_dict: dict[str, str]) -> list[str]:
            return [a, b, templates_dict["c"]]

        PythonOperator(
            task_id="show",
            python_callable=show,
            op_args=["{{ ds }}"],
            op_kwargs={"b": "{{ params.p }}"},
            templates_dict={"c": "{{ run_id }}"},
        )

    outcome = run_task(dag=d, task_id="show", run=run_info(d, LOGICAL), client=MemoryTaskClient())
    assert outcome.rendered_fields == {
        "templates_dict": {"c": "scheduled__2024-03-09T06:30:00+00:00"},
        "op_args": ["2024-03-09"],
        "op_kwargs": {"b": "P"},
    }


# -- template files -------------------------------------------------------------------------


def write_dag(folder: Path, body: str, name: str = "templated_files.py") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_template_files_next_to_the_dag_file_and_in_template_searchpath(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    (dags / "scripts").mkdir(parents=True)
    shared = tmp_path / "shared_sql"
    shared.mkdir()
    (dags / "scripts" / "report.sh").write_text('echo "report for {{ ds }} {{ params.who }}"\n')
    (shared / "count.sql").write_text("SELECT count(*) FROM {{ params.table }} -- {{ ds_nodash }}")
    path = write_dag(
        dags,
        f"""
        from datetime import datetime
        from slipstream import DAG
        from slipstream.operators.bash import BashOperator
        from slipstream.operators.python import PythonOperator

        with DAG(
            "files",
            start_date=datetime(2024, 1, 1),
            params={{"who": "ops", "table": "orders"}},
            template_searchpath={str(shared)!r},
        ):
            BashOperator(task_id="report", bash_command="scripts/report.sh")
            PythonOperator(
                task_id="sql",
                python_callable=lambda templates_dict: templates_dict["query"],
                templates_dict={{"query": "count.sql"}},
                templates_exts=[".sql"],
            )
            BashOperator(task_id="missing", bash_command="nowhere.sh")
        """,
    )
    imported = import_dag_file(path)
    assert imported.errors == {}
    d = imported.dags["files"]
    client = MemoryTaskClient()
    run = run_info(d, LOGICAL)

    report = run_task(dag=d, task_id="report", run=run, client=client)
    assert report.state == "success", report.error
    assert report.rendered_fields["bash_command"] == 'echo "report for 2024-03-09 ops"\n'
    sql = run_task(dag=d, task_id="sql", run=run, client=client)
    assert sql.rendered_fields["templates_dict"] == {
        "query": "SELECT count(*) FROM orders -- 20240309"
    }
    missing = run_task(dag=d, task_id="missing", run=run, client=client)
    assert missing.state == "failed"
    assert missing.error == (
        "TemplateError: template field 'bash_command': template file 'nowhere.sh' not found "
        "next to the DAG file or in its template_searchpath"
    )
    xcom = client.xcom_pull(
        dag_id="files", run_id=run.run_id, task_id="report", key="return_value", map_index=-1
    )
    assert xcom == "report for 2024-03-09 ops"
