"""DAG files on disk through the DAG bag: import errors with file, line and message, timeouts,
ignore files, subfolders, and the example DAGs."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from slipstream.dag_processing.bag import EXAMPLES_FOLDER, DagBag


def write(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path.resolve()


def simple_dag(dag_id: str) -> str:
    return f"""
    from slipstream import DAG
    from slipstream.operators.empty import EmptyOperator

    with DAG({dag_id!r}):
        EmptyOperator(task_id="only")
    """


def summary(bag: DagBag, path: Path) -> str:
    """The first line of the import error: ``file:line: Type: message``."""
    return bag.import_errors[str(path)].split("\n", 1)[0]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "dags"
    path.mkdir()
    return path


def test_good_files_load_and_a_bad_file_does_not_stop_them(folder: Path) -> None:
    write(folder, "good.py", simple_dag("good"))
    raises = write(
        folder,
        "raises.py",
        """
        from slipstream import DAG

        settings = {}
        table = settings["table"]
        """,
    )

    bag = DagBag(folder, include_examples=False, timeout=30)

    assert bag.dag_ids == ["good"]
    assert list(bag.import_errors) == [str(raises)]
    assert summary(bag, raises) == f"{raises}:4: KeyError: 'table'"
    # The full traceback follows the summary.
    assert "Traceback (most recent call last)" in bag.import_errors[str(raises)]


def test_a_syntax_error_has_its_line(folder: Path) -> None:
    broken = write(
        folder,
        "broken.py",
        """
        from slipstream import DAG

        with DAG("broken") as dag
            pass
        """,
    )

    bag = DagBag(folder, include_examples=False, timeout=30)

    assert summary(bag, broken).startswith(f"{broken}:3: SyntaxError: expected ':'")


def test_a_file_that_hangs_times_out_and_the_others_still_load(folder: Path) -> None:
    write(folder, "first.py", simple_dag("first"))
    hangs = write(
        folder,
        "hangs.py",
        """
        import time
        from slipstream import DAG

        time.sleep(60)
        """,
    )
    write(folder, "last.py", simple_dag("last"))

    started = time.monotonic()
    bag = DagBag(folder, include_examples=False, timeout=1)

    assert time.monotonic() - started < 10
    assert bag.dag_ids == ["first", "last"]
    assert summary(bag, hangs) == (
        f"{hangs}: importing took longer than 1s (core.dagbag_import_timeout); "
        f"the import was stopped"
    )


def test_a_file_that_exits_the_process_is_an_import_error(folder: Path) -> None:
    exits = write(folder, "exits.py", "import os\nfrom slipstream import DAG\nos._exit(3)\n")
    write(folder, "fine.py", simple_dag("fine"))

    bag = DagBag(folder, include_examples=False, timeout=30)

    assert bag.dag_ids == ["fine"]
    assert summary(bag, exits) == (
        f"{exits}: the parsing process died (exit code 3) before reporting"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            """
            from slipstream import DAG
            from slipstream.operators.empty import EmptyOperator

            with DAG("cyclic"):
                a = EmptyOperator(task_id="a")
                b = EmptyOperator(task_id="b")
                c = EmptyOperator(task_id="c")
                a >> b >> c >> a
            """,
            ":4: DagCycleError: DAG 'cyclic' has a cycle: ",
        ),
        (
            """
            from slipstream import DAG
            from slipstream.operators.empty import EmptyOperator

            with DAG("dups"):
                EmptyOperator(task_id="extract")
                EmptyOperator(task_id="load")
                EmptyOperator(task_id="extract")
            """,
            ":7: DuplicateTaskIdError: task id 'extract' has already been added to the DAG 'dups'",
        ),
        (
            """
            from datetime import datetime
            from slipstream import DAG

            dag = DAG("bad_cron", schedule="0 25 * * *", start_date=datetime(2024, 1, 1))
            """,
            ":4: DagDefinitionError: DAG 'bad_cron': invalid cron expression '0 25 * * *'",
        ),
        (
            """
            from slipstream import DAG

            dag = DAG("no_start", schedule="@daily")
            """,
            ":3: DagDefinitionError: DAG 'no_start' has a schedule (@daily) but no start_date",
        ),
        (
            """
            from slipstream import DAG
            from slipstream.operators.bash import BashOperator

            with DAG("bad_arg"):
                BashOperator(task_id="run", bash_command="true", retry=3)
            """,
            ":5: DagDefinitionError: invalid arguments were passed to BashOperator "
            "(task_id: run): retry",
        ),
        (
            """
            from slipstream import DAG
            from slipstream.operators.empty import EmptyOperator

            with DAG("bad_rule"):
                EmptyOperator(task_id="t", trigger_rule="sometimes")
            """,
            ":5: DagDefinitionError: trigger_rule 'sometimes' is not one of: all_success",
        ),
        (
            """
            from datetime import datetime
            from slipstream import DAG
            from slipstream.operators.empty import EmptyOperator

            with DAG("not_json"):
                EmptyOperator(task_id="t", executor_config={"at": datetime(2024, 1, 1)})
            """,
            ":5: DagDefinitionError: task t: executor_config must be JSON-serializable",
        ),
        (
            """
            from slipstream import DAG, Param

            dag = DAG("bad_param", params={"n": Param("x", type="integer")})
            """,
            ":3: ParamValidationError: param: default 'x' is invalid: 'x' is not of type 'integer'",
        ),
    ],
    ids=["cycle", "duplicate", "cron", "no_start", "argument", "trigger_rule", "json", "param"],
)
def test_each_kind_of_bad_dag_file_is_an_import_error_with_file_and_line(
    folder: Path, body: str, expected: str
) -> None:
    path = write(folder, "bad.py", body)
    write(folder, "other.py", simple_dag("other"))

    bag = DagBag(folder, include_examples=False, timeout=30)

    assert bag.dag_ids == ["other"]
    assert summary(bag, path).startswith(f"{path}{expected}")


def test_a_dag_id_defined_in_two_files(folder: Path) -> None:
    first = write(folder, "a_first.py", simple_dag("shared"))
    second = write(folder, "b_second.py", simple_dag("shared"))

    bag = DagBag(folder, include_examples=False, timeout=30)

    assert bag.dags["shared"].fileloc == str(first)
    assert bag.import_errors == {
        str(second): f"{second}: DAG id 'shared' is already defined in {first}"
    }


def test_a_dag_id_defined_twice_in_one_file(folder: Path) -> None:
    path = write(
        folder,
        "twice.py",
        """
        from slipstream import DAG

        one = DAG("twice")
        two = DAG("twice")
        """,
    )

    bag = DagBag(folder, include_examples=False, timeout=30)

    assert bag.import_errors == {
        str(path): f"{path}: DAG id 'twice' is defined more than once in this file"
    }


def test_dags_built_in_loops_and_factories_are_found(folder: Path) -> None:
    write(
        folder,
        "factory_lib.py",
        """
        # A helper module next to the DAGs; it mentions dag and slipstream but defines none.
        from slipstream import DAG
        from slipstream.operators.empty import EmptyOperator

        def make_dag(name):
            with DAG(name) as dag:
                EmptyOperator(task_id="t")
            return dag
        """,
    )
    write(
        folder,
        "many.py",
        """
        # slipstream reads only files mentioning "dag" and "slipstream" (like Airflow's safe mode)
        import sys, os
        sys.path.insert(0, os.path.dirname(__file__))
        from factory_lib import make_dag

        for region in ["eu", "us"]:
            make_dag(f"report_{region}")
        """,
    )
    write(folder, "no_dag_here.py", "print('a helper that mentions neither keyword')\n")

    bag = DagBag(folder, include_examples=False, timeout=30)

    assert bag.import_errors == {}
    assert bag.dag_ids == ["report_eu", "report_us"]
    assert bag.dags["report_eu"].fileloc == str((folder / "many.py").resolve())


def test_files_that_do_not_mention_slipstream_are_not_parsed(folder: Path) -> None:
    write(folder, "plain.py", "from helpers import build_dag\nbuild_dag('x')\n")

    bag = DagBag(folder, include_examples=False, timeout=30)
    assert (bag.dag_ids, bag.import_errors) == ([], {})
    unsafe = DagBag(folder, include_examples=False, timeout=30, safe_mode=False)
    assert "ModuleNotFoundError: No module named 'helpers'" in next(
        iter(unsafe.import_errors.values())
    )


def test_subfolders_are_read_and_slipstreamignore_excludes_files(folder: Path) -> None:
    write(folder, "top.py", simple_dag("top"))
    write(folder, "teams/sales/daily.py", simple_dag("sales_daily"))
    write(folder, "teams/sales/daily_test.py", simple_dag("sales_test"))
    write(folder, "teams/sales/scratch/tmp.py", simple_dag("sales_scratch"))
    write(folder, "teams/hr/weekly.py", simple_dag("hr_weekly"))
    write(folder, "legacy/old.py", simple_dag("legacy_old"))
    write(folder, "vendor/lib/deep.py", simple_dag("vendor_deep"))
    write(folder, "drafts_top.py", simple_dag("draft"))
    write(folder, ".hidden/secret.py", simple_dag("hidden"))
    (folder / ".slipstreamignore").write_text(
        "# comments and blank lines are ignored\n\nlegacy/\nvendor\ndrafts_*.py\n"
    )
    (folder / "teams" / "sales" / ".slipstreamignore").write_text("*_test.py\nscratch\n")

    bag = DagBag(folder, include_examples=False, timeout=30)

    assert bag.import_errors == {}
    assert bag.dag_ids == ["hr_weekly", "sales_daily", "top"]
    assert bag.dags["sales_daily"].relative_fileloc == "teams/sales/daily.py"


def test_examples_are_added_only_when_asked(folder: Path) -> None:
    write(folder, "mine.py", simple_dag("mine"))

    without = DagBag(folder, include_examples=False, timeout=30)
    with_examples = DagBag(folder, include_examples=True, timeout=30)

    assert without.dag_ids == ["mine"]
    assert "mine" in with_examples.dag_ids
    assert with_examples.dags["mine"].is_example is False
    assert len(with_examples.dag_ids) > 1


def test_every_example_dag_loads_without_errors_and_explains_itself(tmp_path: Path) -> None:
    bag = DagBag(tmp_path, include_examples=True, timeout=60)
    example_files = sorted(p.stem for p in EXAMPLES_FOLDER.glob("example_*.py"))

    assert bag.import_errors == {}
    assert example_files
    assert sorted(bag.dag_ids) == example_files  # one DAG per file, named after it
    for dag_id, serialized in bag.dags.items():
        assert serialized.is_example is True
        assert serialized.doc_md and len(serialized.doc_md.strip()) > 40, dag_id
        assert "example" in serialized.tags, dag_id
        assert serialized.tasks, dag_id


def test_a_missing_folder_is_an_empty_bag(tmp_path: Path) -> None:
    bag = DagBag(tmp_path / "nowhere", include_examples=False, timeout=30)

    assert (bag.dag_ids, bag.import_errors) == ([], {})
