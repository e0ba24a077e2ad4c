"""``slipstream init PATH``: a new project with a DAG, a config file and a test."""

from __future__ import annotations

from pathlib import Path

import click

PROJECT_FILES = {
    "slipstream.toml": """# slipstream project configuration. Every key can also be set with an
# environment variable: SLIPSTREAM__SECTION__KEY (for example SLIPSTREAM__CORE__EXECUTOR).
# `slipstream config list` shows every key, its value and where it came from.

[core]
dags_folder = "dags"
load_examples = false
executor = "local"
# metadata = "postgresql+psycopg://user@host/slipstream"   # default: SQLite in this folder

[api]
port = 8080
""",
    "dags/example_etl.py": '''"""A small ETL pipeline: extract, transform, load, with TaskFlow."""

from __future__ import annotations

from datetime import datetime

from slipstream import dag, task


@dag(schedule="@daily", start_date=datetime(2024, 1, 1), catchup=False, tags=["example"])
def example_etl():
    """Sums yesterday's orders.

    Each task's return value travels to the next one as an XCom.
    """

    @task
    def extract() -> list[dict[str, float]]:
        return [{"order": 1, "amount": 12.5}, {"order": 2, "amount": 7.5}]

    @task
    def transform(orders: list[dict[str, float]]) -> float:
        return sum(order["amount"] for order in orders)

    @task
    def load(total: float, ds: str | None = None) -> None:
        print(f"total for {ds}: {total}")

    load(transform(extract()))


example_etl()
''',
    "tests/test_dags.py": '''"""Every DAG file imports cleanly: run with `pytest`."""

from pathlib import Path

from slipstream.models import DagBag

DAGS = Path(__file__).resolve().parent.parent / "dags"


def test_dags_import_without_errors():
    bag = DagBag(DAGS, include_examples=False, timeout=30)
    assert bag.import_errors == {}
    assert bag.dags, "no DAG found in dags/"


def test_every_dag_has_tags_and_a_description():
    bag = DagBag(DAGS, include_examples=False, timeout=30)
    for dag_id, dag in bag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md or dag.description, f"{dag_id} has no description"
''',
    ".gitignore": "logs/\nslipstream.db*\nfernet.key\nsecret.key\n__pycache__/\n",
}


@click.command("init")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
def init(path: Path) -> None:
    """Create a new project in PATH: dags/ with an example DAG, slipstream.toml, a DAG test."""
    existing = [name for name in PROJECT_FILES if (path / name).exists()]
    if existing:
        raise click.ClickException(
            f"{path} already has {', '.join(existing)}; nothing was changed. "
            f"Choose a new folder, or move those files away first."
        )
    for name, content in PROJECT_FILES.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    click.echo(f"Created a slipstream project in {path.resolve()}:")
    for name in PROJECT_FILES:
        click.echo(f"  {name}")
    click.echo(f"\nNext: cd {path} && slipstream dags list && pytest tests")
