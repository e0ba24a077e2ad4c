"""Params: typed run inputs with defaults, validated, shown as a trigger form."""

from __future__ import annotations

from datetime import datetime

from slipstream import DAG, Param, task

with DAG(
    "example_params",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    tags=["example", "params"],
    params={
        "name": Param("world", type="string", minLength=1, description="Who to greet"),
        "times": Param(2, type="integer", minimum=1, maximum=10),
        "shout": Param(False, type="boolean"),
        "color": Param("blue", enum=["red", "green", "blue"]),
    },
    doc_md="""
### Params

Each `Param` has a default and a JSON Schema. Triggering the DAG with a conf
(`slipstream dags trigger example_params --conf '{"times": 3}'`, or the trigger
form in the UI) overrides the defaults; a value that breaks the schema (say
`"times": 0`) is refused before the run is created. Tasks read the values as
`params` in templates and in the context.
""",
) as dag:

    @task
    def greet(params=None) -> str:
        text = f"hello {params['name']}"
        if params["shout"]:
            text = text.upper()
        return " ".join([text] * params["times"])

    greet()
