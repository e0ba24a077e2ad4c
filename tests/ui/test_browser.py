"""The UI in a real headless Chromium against a real api-server, scheduler (local
executor) and dag-processor: log in, trigger with a param and watch the grid turn green
without reloading, read a task's log, clear a failed task and see it rerun, see an
import error, and be refused as a viewer. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.ui.conftest import PASSWORD, Stack, add_finished_runs, screenshot

pytestmark = pytest.mark.slow

WAIT_MS = 30_000


@pytest.fixture
def page(browser: Any, stack: Stack) -> Iterator[Any]:
    context = browser.new_context(base_url=stack.url, viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    yield opened
    context.close()


def log_in(page: Any, username: str) -> None:
    page.goto("/dags")
    assert "/login" in page.url  # unauthenticated: sent to the login form
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/dags")


def newest_column(page: Any) -> list[str]:
    """The state class of every cell in the grid's newest run column."""
    return page.eval_on_selector_all(
        "#grid tbody tr td:last-child .cell",
        "cells => cells.map(c => [...c.classList].find(x => x.startsWith('s-')))",
    )


def test_trigger_with_param_and_watch_the_grid_turn_green(page: Any, stack: Stack) -> None:
    log_in(page, "admin")
    assert page.locator("#import-error-banner").is_visible()
    screenshot(page, "01-dag-list")

    page.click("a.dag-link:text('ui_params')")
    page.wait_for_url("**/dags/ui_params")
    page.check("input.pause-toggle")  # unpause
    page.wait_for_selector(".pause-text:text('Active')")
    page.click("#trigger-link")
    page.wait_for_url("**/dags/ui_params/trigger")

    count = page.locator(".field[data-param=count] input")
    count.fill("9")  # the form checks the param's maximum as you type
    assert "at most 5" in page.locator("[data-error-for=count]").inner_text()
    count.fill("3")
    assert page.locator("[data-error-for=count]").inner_text() == ""
    page.fill(".field[data-param=name] input", "Ada")
    assert '"name": "Ada"' in page.input_value("#conf-json")
    screenshot(page, "02-trigger-form")
    page.click("#trigger-submit")
    page.wait_for_url("**/dags/ui_params")

    # No reload from here on: the marker would vanish with one.
    page.evaluate("window.__sameDocument = true")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#grid tbody tr td:last-child .cell')]"
        ".every(c => c.classList.contains('s-success'))",
        timeout=WAIT_MS,
    )
    assert page.evaluate("window.__sameDocument") is True
    assert newest_column(page) == ["s-success", "s-success"]
    screenshot(page, "03-grid-green")

    page.click("#grid tbody tr:first-child td:last-child .cell")  # greet
    page.wait_for_url("**/tasks/greet")
    page.wait_for_function("document.getElementById('log').textContent.includes('hello Ada #2')")
    assert page.locator("#xcoms").inner_text().strip().endswith("3")
    screenshot(page, "04-task-log")

    run = stack.runtime.store.list_dag_runs(dag_ids=["ui_params"]).items[-1]
    assert run.conf == {"name": "Ada", "count": 3, "color": "red"}
    assert run.triggered_by == "ui"


def test_clear_a_failed_task_and_see_it_rerun(page: Any, stack: Stack) -> None:
    log_in(page, "admin")
    page.goto("/dags/ui_flaky")
    page.check("input.pause-toggle")
    page.wait_for_selector(".pause-text:text('Active')")
    page.goto("/dags/ui_flaky/trigger")
    page.click("#trigger-submit")
    page.wait_for_url("**/dags/ui_flaky")
    page.wait_for_selector("#grid tbody tr:first-child td:last-child .cell.s-failed")
    page.wait_for_selector("#grid tbody tr:last-child td:last-child .cell.s-upstream_failed")
    screenshot(page, "05-grid-failed")

    page.click("#grid tbody tr:first-child td:last-child .cell")
    page.wait_for_url("**/tasks/flaky")
    page.wait_for_function(
        "document.getElementById('log').textContent.includes('first try fails on purpose')"
    )
    page.click("#clear-task")
    dialog = page.locator("#confirm-dialog")
    dialog.wait_for(state="visible")
    assert "2 task instances" in dialog.inner_text()  # flaky and, downstream, after
    screenshot(page, "06-clear-confirm")
    page.click("#confirm-ok")

    # The page follows the task instance: a second try appears and succeeds.
    page.wait_for_selector("#try-tabs a:text('Try 2')")
    page.wait_for_selector("#ti-state .badge.s-success")
    page.wait_for_function(
        "document.getElementById('log').textContent.includes('second try succeeds')"
    )
    screenshot(page, "07-task-rerun")
    run = stack.runtime.store.list_dag_runs(dag_ids=["ui_flaky"]).items[-1]
    stack.wait_for(
        "the cleared run to succeed",
        lambda: stack.runtime.store.get_dag_run("ui_flaky", run.run_id).state == "success",
    )


def test_import_errors_page(page: Any) -> None:
    log_in(page, "admin")
    page.click("#import-error-banner a")
    page.wait_for_url("**/import-errors")
    text = page.locator("main").inner_text()
    assert "broken.py" in text and "SyntaxError" in text
    screenshot(page, "08-import-errors")


def test_two_hundred_tasks_stay_readable(page: Any, stack: Stack) -> None:
    if not stack.runtime.store.list_dag_runs(dag_ids=["ui_wide"], limit=0).total:
        # The newest of the 25 runs (the graph shows it) is one of the failed ones.
        add_finished_runs(stack.runtime.store, "ui_wide", 25, failed_every=5)
    log_in(page, "admin")
    page.goto("/dags/ui_wide")
    assert page.locator("#grid tbody tr").count() == 200
    assert page.locator("#grid thead .run-head").count() == 25
    assert page.locator("#grid .cell").count() == 200 * 25
    cell = page.locator("#grid tbody tr:nth-child(150) td:last-child .cell").bounding_box()
    assert cell["width"] >= 12 and cell["height"] >= 12  # big enough to see and click
    screenshot(page, "09-grid-200-tasks")

    page.goto("/dags/ui_wide/graph")
    assert page.locator("#graph .node").count() == 200
    assert page.locator("#graph rect.s-failed").count() > 0
    layers = page.eval_on_selector_all(
        "#graph .node g",
        "gs => new Set(gs.map(g => g.getAttribute('transform').split(',')[0])).size",
    )
    assert layers == 10  # longest-path layering: one column per layer
    screenshot(page, "10-graph-200-tasks")
    page.emulate_media(color_scheme="dark")
    screenshot(page, "11-graph-dark")


def test_viewer_sees_pages_but_no_actions(page: Any, stack: Stack) -> None:
    log_in(page, "viewer")
    page.goto("/dags/ui_params")
    assert page.locator("#trigger-link").count() == 0
    assert page.locator("input.pause-toggle").is_disabled()
    assert page.locator("a:text('Variables')").count() == 0
    refused = page.evaluate(
        """async () => {
            const csrf = document.querySelector('meta[name=csrf-token]').content;
            const r = await fetch('/ui/dags/ui_params/paused', {method: 'POST',
                headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
                body: JSON.stringify({is_paused: true})});
            return r.status;
        }"""
    )
    assert refused == 403
    assert stack.runtime.store.get_dag("ui_params").is_paused is False
    screenshot(page, "12-viewer-dag")
    response = page.goto("/admin/users")
    assert response.status == 403
    assert "admin role" in page.locator("main").inner_text()


def test_api_reference_page(page: Any) -> None:
    log_in(page, "admin")
    page.goto("/api-docs")
    page.wait_for_selector(".api-op code:text('/api/v2/dags')")
    page.click(".api-op summary:has-text('/api/v2/dags/{dag_id}')")
    assert page.locator("#schemas").is_visible()
    screenshot(page, "13-api-docs")
