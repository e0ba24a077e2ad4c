"""DAGs, their versions, parse records and import errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from slipstream.errors import NotFoundError
from slipstream.metadata.records import DagFileParse, NextRun
from slipstream.metadata.sqlalchemy import SqlAlchemyStore

from .helpers import T0, dag_meta


def test_upserted_dag_reads_back_exactly(store: SqlAlchemyStore) -> None:
    next_run = NextRun(
        logical_date=T0,
        data_interval_start=T0 - timedelta(days=1),
        data_interval_end=T0,
        create_after=T0 + timedelta(microseconds=1),
    )
    meta = dag_meta(
        "Étl_ünïcode",
        owners=("ana", "bo"),
        tags=("b", "a", "a"),
        description="Loads ✓ things",
        schedule="@daily",
        max_active_runs=3,
        max_active_tasks=7,
        next_run=next_run,
    )
    store.upsert_dags([meta], paused_on_creation=False)
    dag = store.get_dag("Étl_ünïcode")
    assert dag is not None
    assert dag.fileloc == meta.fileloc and dag.relative_fileloc == meta.relative_fileloc
    assert dag.owners == ("ana", "bo")
    assert dag.tags == ("a", "b")
    assert dag.description == "Loads ✓ things"
    assert (dag.schedule, dag.max_active_runs, dag.max_active_tasks) == ("@daily", 3, 7)
    assert (dag.is_paused, dag.is_active) == (False, True)
    assert dag.last_parsed_time == T0 and dag.last_parsed_time.tzinfo is not None
    assert dag.next_run == next_run
    assert store.get_dag("missing") is None


def test_reparse_keeps_paused_flag_and_next_run(store: SqlAlchemyStore) -> None:
    store.upsert_dags([dag_meta("a", tags=("x",))], paused_on_creation=True)
    store.set_dag_paused("a", False)
    store.set_dag_next_run("a", NextRun(logical_date=T0))
    store.upsert_dags([dag_meta("a", tags=("y",), description="new")], paused_on_creation=True)
    dag = store.get_dag("a")
    assert dag is not None
    assert dag.is_paused is False
    assert dag.next_run.logical_date == T0
    assert dag.tags == ("y",) and dag.description == "new"


def test_ids_are_case_sensitive(store: SqlAlchemyStore) -> None:
    store.upsert_dags([dag_meta("Report"), dag_meta("report")])
    assert store.list_dags().total == 2


def test_list_dags_filters_pagination_and_order(store: SqlAlchemyStore) -> None:
    store.upsert_dags(
        [dag_meta(f"dag_{i:02d}", tags=("even",) if i % 2 == 0 else ("odd",)) for i in range(25)],
        paused_on_creation=False,
    )
    store.upsert_dags([dag_meta("other_thing", tags=("odd", "special"))])  # paused
    page = store.list_dags(limit=10, offset=20)
    assert page.total == 26
    assert [d.dag_id for d in page.items] == [
        "dag_20",
        "dag_21",
        "dag_22",
        "dag_23",
        "dag_24",
        "other_thing",
    ]
    desc = store.list_dags(limit=3, order_by="-dag_id")
    assert [d.dag_id for d in desc.items] == ["other_thing", "dag_24", "dag_23"]
    assert store.list_dags(paused=True).total == 1
    assert store.list_dags(paused=False).total == 25
    assert store.list_dags(tags=["even"]).total == 13
    assert store.list_dags(tags=["special", "even"]).total == 14
    assert store.list_dags(dag_id_pattern="DAG_1").total == 10
    assert store.list_dags(dag_id_pattern="thing").items[0].dag_id == "other_thing"
    with pytest.raises(ValueError, match="cannot order by"):
        store.list_dags(order_by="fileloc; drop table dag")


def test_pause_unknown_dag_is_not_found(store: SqlAlchemyStore) -> None:
    with pytest.raises(NotFoundError, match="'nope'"):
        store.set_dag_paused("nope", True)


def test_dags_whose_file_is_gone_become_inactive(store: SqlAlchemyStore) -> None:
    store.upsert_dags([dag_meta("a"), dag_meta("b"), dag_meta("c", fileloc="/dags/a.py")])
    assert store.deactivate_missing_dags({"/dags/a.py"}) == ["b"]
    assert [d.dag_id for d in store.list_dags().items] == ["a", "c"]
    assert [d.dag_id for d in store.list_dags(active=False).items] == ["b"]
    store.deactivate_dags(["c"])
    assert [d.dag_id for d in store.list_dags(active=None).items] == ["a", "b", "c"]
    store.upsert_dags([dag_meta("b")])  # the file came back
    assert store.get_dag("b").is_active  # type: ignore[union-attr]


def test_versions_are_numbered_and_unchanged_parses_write_nothing(
    store: SqlAlchemyStore,
) -> None:
    store.upsert_dags([dag_meta("a"), dag_meta("b")])
    v1 = store.add_dag_version("a", {"tasks": ["x"]}, "h1", "code 1")
    again = store.add_dag_version("a", {"tasks": ["x"]}, "h1", "code 1")
    assert again == v1
    v2 = store.add_dag_version("a", {"tasks": ["x", "y"]}, "h2", "code 2")
    b1 = store.add_dag_version("b", {"tasks": []}, "h1", None)
    assert (v1.version_number, v2.version_number, b1.version_number) == (1, 2, 1)
    assert v2.serialized == {"tasks": ["x", "y"]} and v2.source_code == "code 2"
    assert v2.created_at >= v1.created_at
    # Going back to an older content is a new version: the latest differs.
    v3 = store.add_dag_version("a", {"tasks": ["x"]}, "h1", "code 1")
    assert v3.version_number == 3
    assert [v.version_number for v in store.list_dag_versions("a")] == [1, 2, 3]
    assert store.get_dag_version("a") == v3
    assert store.get_dag_version("a", 2) == v2
    assert store.get_dag_version_by_id(v2.id) == v2
    assert store.get_dag_version("a", 9) is None
    with pytest.raises(NotFoundError):
        store.add_dag_version("missing", {}, "h", None)
    with pytest.raises(ValueError, match="JSON"):
        store.add_dag_version("a", {"bad": object()}, "h9", None)


def test_find_versions_across_dags_paged_and_ordered(store: SqlAlchemyStore) -> None:
    store.upsert_dags([dag_meta("a"), dag_meta("b")])
    a1 = store.add_dag_version("a", {"n": 1}, "h1", None)
    b1 = store.add_dag_version("b", {"n": 1}, "h1", None)
    a2 = store.add_dag_version("a", {"n": 2}, "h2", None)
    everything = store.find_dag_versions()
    assert everything.total == 3
    assert [v.id for v in everything.items] == [a1.id, b1.id, a2.id]
    only_a = store.find_dag_versions(dag_ids=["a"], order_by="-version_number")
    assert [v.version_number for v in only_a.items] == [2, 1]
    firsts = store.find_dag_versions(version_number=1, order_by="dag_id")
    assert [(v.dag_id, v.version_number) for v in firsts.items] == [("a", 1), ("b", 1)]
    page = store.find_dag_versions(limit=1, offset=1)
    assert (page.total, [v.id for v in page.items]) == (3, [b1.id])
    with pytest.raises(ValueError, match="cannot order by"):
        store.find_dag_versions(order_by="serialized")


def test_tags_are_distinct_filtered_and_paged(store: SqlAlchemyStore) -> None:
    store.upsert_dags(
        [
            dag_meta("a", tags=["etl", "Finance"]),
            dag_meta("b", tags=["etl", "ml"]),
            dag_meta("c"),
        ]
    )
    every = store.list_dag_tags()
    assert (every.total, list(every.items)) == (3, ["Finance", "etl", "ml"])
    assert list(store.list_dag_tags(descending=True).items) == ["ml", "etl", "Finance"]
    assert list(store.list_dag_tags(name_pattern="FIN").items) == ["Finance"]
    page = store.list_dag_tags(limit=1, offset=1)
    assert (page.total, list(page.items)) == (3, ["etl"])


def test_parse_records_slowest_first(store: SqlAlchemyStore) -> None:
    parses = [
        DagFileParse(
            path=f"/dags/f{i}.py",
            mtime=1.7e9 + i / 1000,
            content_hash=f"h{i}",
            last_parsed_at=T0,
            parse_duration=d,
            dag_ids=[f"d{i}"],
        )
        for i, d in enumerate([0.5, 2.25, 0.125])
    ]
    store.record_file_parses(parses)
    listed = store.list_file_parses()
    assert [p.path for p in listed] == ["/dags/f1.py", "/dags/f0.py", "/dags/f2.py"]
    assert listed[0] == parses[1]
    replaced = DagFileParse(
        path="/dags/f2.py", mtime=None, content_hash=None, last_parsed_at=T0, parse_duration=9.0
    )
    store.record_file_parses([replaced])
    assert store.list_file_parses(limit=1) == [replaced]
    store.delete_file_parses(["/dags/f2.py"])
    assert len(store.list_file_parses()) == 2


def test_import_errors_replace_clear_list(store: SqlAlchemyStore) -> None:
    store.replace_import_error("/dags/b.py", "Traceback b1", T0)
    store.replace_import_error("/dags/a.py", "Traceback a", T0)
    store.replace_import_error("/dags/b.py", "Traceback b2", T0 + timedelta(seconds=1))
    page = store.list_import_errors()
    assert page.total == 2
    assert [(e.filename, e.stacktrace) for e in page.items] == [
        ("/dags/a.py", "Traceback a"),
        ("/dags/b.py", "Traceback b2"),
    ]
    assert page.items[1].timestamp == T0 + timedelta(seconds=1)
    by_id = store.get_import_error(page.items[1].id)
    assert by_id == page.items[1]
    store.clear_import_errors(["/dags/a.py"])
    assert [e.filename for e in store.list_import_errors().items] == ["/dags/b.py"]
    assert store.get_import_error(page.items[0].id) is None


def test_list_dags_by_whether_they_have_a_schedule(store: SqlAlchemyStore) -> None:
    store.upsert_dags(
        [
            dag_meta("daily", schedule="@daily"),
            dag_meta("manual", schedule=None),
            dag_meta("none", schedule="None"),
        ]
    )
    scheduled = store.list_dags(scheduled=True, limit=None).items
    unscheduled = store.list_dags(scheduled=False, limit=None).items
    assert [d.dag_id for d in scheduled] == ["daily"]
    assert sorted(d.dag_id for d in unscheduled) == ["manual", "none"]
