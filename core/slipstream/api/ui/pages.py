"""The UI's HTML pages: the DAG list, a DAG's grid, graph, runs, code, details and
trigger form, a run, a task instance, import errors and the API reference."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from slipstream.api.public.common import Ctx, get_dag_or_404, get_run_or_404
from slipstream.api.ui import views
from slipstream.api.ui.graph import layered_layout
from slipstream.api.ui.render import page
from slipstream.execution.logs import try_log_path
from slipstream.metadata.base import MetadataStore
from slipstream.metadata.records import Dag, DagRun, TaskInstanceRef
from slipstream.serialized_dag import SerializedDag, deserialize_dag

PAGE_SIZE = 50


def run_sdag(store: MetadataStore, run: DagRun) -> SerializedDag | None:
    version = (
        store.get_dag_version_by_id(run.dag_version_id) if run.dag_version_id else None
    ) or store.get_dag_version(run.dag_id)
    return deserialize_dag(version.serialized) if version is not None else None


@get("/", include_in_schema=False, sync_to_thread=False)
def index() -> Redirect:
    return Redirect("/dags", status_code=302)


class DagPages(Controller):
    path = "/dags"
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def dag_list(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        search: FromQuery[str | None] = None,
        tags: FromQuery[list[str] | None] = None,
        status: FromQuery[str | None] = None,
        offset: FromQuery[int] = 0,
    ) -> Response[str]:
        paused = {"active": False, "paused": True}.get(status or "")
        listing = ctx.store.list_dags(
            paused=paused,
            tags=tags or (),
            dag_id_pattern=(search or "").strip() or None,
            limit=PAGE_SIZE,
            offset=max(0, offset),
        )
        return page(
            request,
            "dags.html",
            title="DAGs",
            nav="dags",
            rows=views.dag_rows(ctx.store, listing.items),
            total=listing.total,
            offset=max(0, offset),
            page_size=PAGE_SIZE,
            search=search or "",
            selected_tags=tags or [],
            all_tags=views.all_tags(ctx.store),
            status=status or "all",
        )

    def _dag_page(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        dag: Dag,
        tab: str,
        template: str,
        **context: Any,
    ) -> Response[str]:
        """A page under one DAG's tabs (``dag``: found by the handler, or it 404s)."""
        latest = views.latest_sdag(ctx.store, dag.dag_id)
        return page(
            request,
            template,
            title=dag.dag_id,
            nav="dags",
            dag=dag,
            version=latest[0] if latest else None,
            sdag=latest[1] if latest else None,
            tab=tab,
            **context,
        )

    @get("/{dag_id:str}", sync_to_thread=True)
    def grid(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        runs: FromQuery[int] = views.DEFAULT_GRID_RUNS,
    ) -> Response[str]:
        dag = get_dag_or_404(ctx, dag_id)
        grid = views.build_grid(ctx.store, dag_id, runs)
        return self._dag_page(ctx, request, dag, "grid", "dag_grid.html", grid=grid, run_count=runs)

    @get("/{dag_id:str}/graph", sync_to_thread=True)
    def graph(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        run_id: FromQuery[str | None] = None,
    ) -> Response[str]:
        dag = get_dag_or_404(ctx, dag_id)
        recent = list(reversed(views.recent_runs(ctx.store, dag_id, views.DEFAULT_GRID_RUNS)))
        run = None
        if run_id:
            run = get_run_or_404(ctx, dag_id, run_id)
        elif recent:
            run = recent[0]
        sdag = run_sdag(ctx.store, run) if run is not None else None
        if sdag is None:
            latest = views.latest_sdag(ctx.store, dag_id)
            sdag = latest[1] if latest else None
        order = list(sdag.tasks) if sdag is not None else []
        upstream = {t: list(sdag.tasks[t].upstream) for t in order} if sdag else {}
        operators = {t: str(sdag.tasks[t].data.get("operator", "")) for t in order} if sdag else {}
        layout = layered_layout(order, upstream, operators)
        states: dict[str, str] = {}
        if run is not None:
            tis = ctx.store.list_task_instances(
                dag_ids=[dag_id], run_ids=[run.run_id], limit=None
            ).items
            states = {task: cell.state for (_, task), cell in views.cell_states(tis).items()}
        return self._dag_page(
            ctx,
            request,
            dag,
            "graph",
            "dag_graph.html",
            layout=layout,
            run=run,
            recent=recent,
            states=states,
        )

    @get("/{dag_id:str}/runs", sync_to_thread=True)
    def runs(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        offset: FromQuery[int] = 0,
    ) -> Response[str]:
        dag = get_dag_or_404(ctx, dag_id)
        listing = ctx.store.list_dag_runs(
            dag_ids=[dag_id], order_by="-id", limit=PAGE_SIZE, offset=max(0, offset)
        )
        return self._dag_page(
            ctx,
            request,
            dag,
            "runs",
            "dag_runs.html",
            runs=listing.items,
            total=listing.total,
            offset=max(0, offset),
            page_size=PAGE_SIZE,
            versions=views.version_numbers(ctx.store, dag_id),
            run_duration=views.run_duration,
        )

    @get("/{dag_id:str}/code", sync_to_thread=True)
    def code(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        version: FromQuery[int | None] = None,
    ) -> Response[str]:
        dag = get_dag_or_404(ctx, dag_id)
        versions = ctx.store.list_dag_versions(dag_id)
        shown = ctx.store.get_dag_version(dag_id, version)
        if version is not None and shown is None:
            raise NotFoundException(f"DAG {dag_id!r} has no version {version}")
        return self._dag_page(
            ctx,
            request,
            dag,
            "code",
            "dag_code.html",
            versions=list(reversed(versions)),
            shown=shown,
        )

    @get("/{dag_id:str}/details", sync_to_thread=True)
    def details(
        self, ctx: Ctx, request: Request[Any, Any, Any], dag_id: FromPath[str]
    ) -> Response[str]:
        dag = get_dag_or_404(ctx, dag_id)
        count = len(ctx.store.list_dag_versions(dag_id))
        return self._dag_page(ctx, request, dag, "details", "dag_details.html", version_count=count)

    @get("/{dag_id:str}/trigger", sync_to_thread=True)
    def trigger(
        self, ctx: Ctx, request: Request[Any, Any, Any], dag_id: FromPath[str]
    ) -> Response[str]:
        dag = get_dag_or_404(ctx, dag_id)
        latest = views.latest_sdag(ctx.store, dag_id)
        fields = views.param_fields(latest[1].data.get("params") or {}) if latest else []
        defaults = {f.name: f.default for f in fields if f.has_default}
        return self._dag_page(
            ctx, request, dag, "trigger", "dag_trigger.html", fields=fields, defaults=defaults
        )

    @get("/{dag_id:str}/runs/{run_id:str}", sync_to_thread=True)
    def run(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        run_id: FromPath[str],
    ) -> Response[str]:
        dag = get_dag_or_404(ctx, dag_id)
        run = get_run_or_404(ctx, dag_id, run_id)
        sdag = run_sdag(ctx.store, run)
        tis = ctx.store.list_task_instances(dag_ids=[dag_id], run_ids=[run_id], limit=None).items
        order = views.task_order(sdag, (ti.task_id for ti in tis))
        position = {task: i for i, task in enumerate(order)}
        shown = sorted(
            (ti for ti in tis if not (ti.state == "removed" and ti.map_index < 0)),
            key=lambda ti: (position.get(ti.task_id, 0), ti.map_index),
        )
        return self._dag_page(
            ctx,
            request,
            dag,
            "runs",
            "run.html",
            run=run,
            tis=shown,
            run_version=views.version_numbers(ctx.store, dag_id).get(run.dag_version_id or -1),
            run_duration=views.run_duration(run),
        )

    @get("/{dag_id:str}/runs/{run_id:str}/tasks/{task_id:str}", sync_to_thread=True)
    def task_instance(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        run_id: FromPath[str],
        task_id: FromPath[str],
        map_index: FromQuery[int] = -1,
        try_number: FromQuery[int | None] = None,
    ) -> Response[str]:
        dag = get_dag_or_404(ctx, dag_id)
        run = get_run_or_404(ctx, dag_id, run_id)
        sdag = run_sdag(ctx.store, run)
        task = sdag.tasks.get(task_id) if sdag is not None else None
        ref = TaskInstanceRef(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index)
        ti = ctx.store.get_task_instance(ref)
        mapped = []
        if ti is None or (map_index < 0 and ti.state == "removed"):
            mapped = [
                t
                for t in ctx.store.list_task_instances(
                    dag_ids=[dag_id], run_ids=[run_id], task_ids=[task_id], limit=None
                ).items
                if t.map_index >= 0
            ]
            if ti is None and not mapped:
                raise NotFoundException(
                    f"The Task Instance with dag_id: `{dag_id}`, run_id: `{run_id}`, "
                    f"task_id: `{task_id}` and map_index: `{map_index}` was not found"
                )
        tries = ctx.store.list_task_instance_tries(ref) if ti is not None else []
        try_numbers = sorted(
            {t.try_number for t in tries if t.try_number > 0}
            | ({ti.try_number} if ti is not None and ti.try_number > 0 else set())
        )
        selected_try = (
            try_number if try_number in try_numbers else (try_numbers[-1] if try_numbers else None)
        )
        xcoms = [
            x
            for x in ctx.store.list_xcoms(dag_id, run_id, task_id=task_id)
            if x.map_index == map_index
        ]
        log_file = None
        if ti is not None and selected_try is not None:
            log_file = try_log_path(ctx.config["logging.base_log_folder"], ref, selected_try)
        return self._dag_page(
            ctx,
            request,
            dag,
            "runs",
            "task_instance.html",
            run=run,
            task=task,
            ti=ti,
            mapped=mapped,
            map_index=map_index,
            task_id=task_id,
            tries=tries,
            try_numbers=try_numbers,
            selected_try=selected_try,
            xcoms=xcoms,
            log_file=str(log_file) if log_file else None,
        )


@get("/import-errors", include_in_schema=False, sync_to_thread=True)
def import_errors(ctx: Ctx, request: Request[Any, Any, Any]) -> Response[str]:
    errors = ctx.store.list_import_errors(limit=None).items
    return page(
        request, "import_errors.html", title="Import errors", nav="import-errors", errors=errors
    )


@get("/api-docs", include_in_schema=False, sync_to_thread=False)
def api_docs(request: Request[Any, Any, Any]) -> Response[str]:
    return page(request, "api_docs.html", title="REST API", nav="api-docs")


PAGE_HANDLERS: list[Any] = [index, DagPages, import_errors, api_docs]
