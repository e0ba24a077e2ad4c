"""Dynamic task mapping: one task instance per item of a list known only at run time."""

from __future__ import annotations

from datetime import datetime

from slipstream import dag, task
from slipstream.operators.bash import BashOperator


@dag(schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["example", "mapping"])
def example_dynamic_mapping():
    """
    ### Dynamic task mapping

    `list_files` decides at run time how many files there are. `.expand()` then
    creates one `process` task instance per file (map index 0, 1, 2, ...), and
    `.partial()` fixes the arguments they share. `summarize` receives the list of
    all mapped results. Classic operators map the same way:
    `BashOperator.partial(task_id=...).expand(bash_command=[...])`.
    """

    @task
    def list_files() -> list[str]:
        return ["a.csv", "b.csv", "c.csv"]

    @task
    def process(name: str, prefix: str) -> int:
        print(f"{prefix}{name}")
        return len(name)

    @task
    def summarize(sizes: list[int]) -> int:
        return sum(sizes)

    sizes = process.partial(prefix="processing ").expand(name=list_files())
    summarize(sizes)

    BashOperator.partial(task_id="echo_each").expand(bash_command=["echo one", "echo two"])


example_dynamic_mapping()
