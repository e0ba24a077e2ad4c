// slipstream UI: what every page shares. Actions are JSON requests to /ui/... that
// carry the session's CSRF secret in X-CSRF-Token; pages that show running runs poll
// a small JSON endpoint every 2 s and update in place.

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
export const POLL_MS = 2000;

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : messageOf(detail) || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

function messageOf(detail) {
  if (Array.isArray(detail)) return detail.map((d) => d.msg).join("; ");
  return detail ? String(detail) : "";
}

export async function api(method, url, body) {
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (method !== "GET") init.headers["X-CSRF-Token"] = csrf();
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  if (response.status === 401) {
    location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
    throw new ApiError(401, "Not logged in");
  }
  let data = null;
  const text = await response.text();
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!response.ok) throw new ApiError(response.status, data && data.detail !== undefined ? data.detail : data);
  return data;
}

export function flash(message, bad = false) {
  const box = document.getElementById("flash");
  if (!box) return;
  const item = document.createElement("div");
  item.className = "msg" + (bad ? " bad" : "");
  item.textContent = message;
  box.append(item);
  setTimeout(() => item.remove(), bad ? 8000 : 4000);
}

// -- confirmation dialog ---------------------------------------------------------------

export function confirmDialog(title, items) {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-title").textContent = title;
  const body = document.getElementById("confirm-body");
  body.replaceChildren();
  if (items) {
    const note = document.createElement("p");
    note.textContent = items.length
      ? `${items.length} task instance${items.length === 1 ? "" : "s"}:`
      : "No task instance will change.";
    body.append(note);
    const list = document.createElement("ul");
    for (const ti of items.slice(0, 200)) {
      const li = document.createElement("li");
      li.textContent = `${ti.task_id}${ti.map_index >= 0 ? `[${ti.map_index}]` : ""} (${ti.state})`;
      list.append(li);
    }
    body.append(list);
  }
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    document.getElementById("confirm-ok").focus();
  });
}

// -- action buttons: data-action (URL), data-method, data-body (JSON), data-options
//    (a fieldset whose checkboxes add booleans), data-preview (dry run first), data-confirm.

function optionsOf(button) {
  const out = {};
  const selector = button.dataset.options;
  if (!selector) return out;
  for (const box of document.querySelectorAll(`${selector} input[type=checkbox]`)) out[box.name] = box.checked;
  return out;
}

async function runAction(button) {
  const method = button.dataset.method || "POST";
  const body = { ...JSON.parse(button.dataset.body || "{}"), ...optionsOf(button) };
  const payload = method === "DELETE" ? undefined : body;
  try {
    let items = null;
    if (button.dataset.preview !== undefined) {
      items = (await api(method, button.dataset.action, { ...body, dry_run: true })).task_instances;
    }
    if (button.dataset.confirm && !(await confirmDialog(button.dataset.confirm, items))) return;
    button.disabled = true;
    const result = await api(method, button.dataset.action, payload);
    flash(result && result.count !== undefined ? `Done: ${result.count} task instance(s) changed.` : "Done.");
    setTimeout(() => location.reload(), 400);
  } catch (error) {
    flash(error.message, true);
  } finally {
    button.disabled = false;
  }
}

// -- forms: data-api (URL) and data-method; inputs become a JSON object ---------------

function formBody(form) {
  const body = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled) continue;
    if (el.type === "checkbox") body[el.name] = el.checked;
    else if (el.value === "") continue;
    else if (el.dataset.type === "int") body[el.name] = Number.parseInt(el.value, 10);
    else body[el.name] = el.value;
  }
  return body;
}

export function showErrors(form, error) {
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
  for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
  const general = form.querySelector(".form-error");
  const unplaced = [];
  if (Array.isArray(error.detail)) {
    for (const item of error.detail) {
      const name = item.loc && item.loc[item.loc.length - 1];
      const slot = name && form.querySelector(`[data-error-for="${CSS.escape(String(name))}"]`);
      if (slot) {
        slot.textContent = item.msg;
        slot.closest(".field")?.classList.add("invalid");
      } else unplaced.push(item.msg);
    }
  } else unplaced.push(error.message);
  if (general) general.textContent = unplaced.join("; ");
  else if (unplaced.length) flash(unplaced.join("; "), true);
}

async function submitForm(form) {
  const button = form.querySelector("[type=submit]");
  if (button) button.disabled = true;
  try {
    await api(form.dataset.method || "POST", form.dataset.api, formBody(form));
    flash("Saved.");
    setTimeout(() => location.reload(), 300);
  } catch (error) {
    showErrors(form, error);
  } finally {
    if (button) button.disabled = false;
  }
}

// -- live state: elements with data-live-run + data-task follow a task's state,
//    data-run-state a run's; the container with data-live-dag polls while a run is active.

const ACTIVE = new Set(["queued", "running"]);

export function setState(el, state) {
  const value = state || "none";
  for (const cls of [...el.classList]) if (cls.startsWith("s-")) el.classList.remove(cls);
  el.classList.add("s-" + value);
  if (el.hasAttribute("data-text")) el.textContent = value.replaceAll("_", " ");
  if (el.title) el.title = el.title.replace(/· [a-z_ ]+$/, "· " + value);
}

function watchedRuns(root) {
  const runs = new Map();
  for (const el of root.querySelectorAll("[data-run-state]")) {
    const state = [...el.classList].find((c) => c.startsWith("s-"))?.slice(2);
    runs.set(el.dataset.runState, state);
  }
  for (const el of root.querySelectorAll("[data-live-run]")) if (!runs.has(el.dataset.liveRun)) runs.set(el.dataset.liveRun, undefined);
  return runs;
}

function startLive(root) {
  const dagId = root.dataset.liveDag;
  let timer = null;
  const tick = async () => {
    const runs = watchedRuns(root);
    const active = [...runs].filter(([, state]) => state === undefined || ACTIVE.has(state)).map(([id]) => id);
    if (!active.length) return;
    const query = active.map((id) => "run_id=" + encodeURIComponent(id)).join("&");
    try {
      const data = await api("GET", `/ui/dags/${encodeURIComponent(dagId)}/grid?${query}`);
      const known = new Set(runs.keys());
      for (const run of data.runs) {
        for (const el of root.querySelectorAll(`[data-run-state="${CSS.escape(run.run_id)}"]`)) setState(el, run.state);
      }
      for (const [runId, tasks] of Object.entries(data.tis)) {
        for (const el of root.querySelectorAll(`[data-live-run="${CSS.escape(runId)}"]`)) {
          const cell = tasks[el.dataset.task];
          setState(el, cell ? cell.state : "");
          if (cell) el.classList.remove("missing");
        }
      }
      if (root.hasAttribute("data-reload-on-new") && data.runs.some((r) => !known.has(r.run_id))) {
        location.reload();
        return;
      }
      // Task states are read after run states, so a run seen finished has its final cells.
      if (data.runs.some((r) => active.includes(r.run_id) && ACTIVE.has(r.state))) {
        timer = setTimeout(tick, POLL_MS);
      }
    } catch (error) {
      if (error.status !== 401) timer = setTimeout(tick, POLL_MS * 2);
    }
  };
  const hasActive = [...watchedRuns(root)].some(([, s]) => s === undefined || ACTIVE.has(s));
  if (hasActive) timer = setTimeout(tick, POLL_MS);
  return () => clearTimeout(timer);
}

// The DAG list: refresh the recent-run dots while any of them is active.
function startDagList(table) {
  const render = (dagId, info) => {
    const row = table.querySelector(`tr[data-dag-id="${CSS.escape(dagId)}"]`);
    if (!row) return;
    const dots = row.querySelector(".recent-runs .dots");
    if (dots) {
      dots.replaceChildren(...info.runs.map((run) => {
        const a = document.createElement("a");
        a.className = "dot s-" + run.state;
        a.href = `/dags/${encodeURIComponent(dagId)}/runs/${encodeURIComponent(run.run_id)}`;
        a.title = `${run.run_id} · ${run.state}`;
        return a;
      }));
    }
    const last = row.querySelector(".last-run");
    const run = info.runs[info.runs.length - 1];
    if (last && run) {
      last.replaceChildren();
      const badge = document.createElement("span");
      badge.className = "badge s-" + run.state;
      badge.textContent = run.state.replaceAll("_", " ");
      const when = document.createElement("span");
      when.className = "small muted";
      when.textContent = " " + run.logical_date;
      last.append(badge, when);
    }
    const next = row.querySelector(".next-run");
    if (next) next.textContent = info.next_run;
  };
  const anyActive = () => [...table.querySelectorAll(".dot")].some((d) => d.classList.contains("s-running") || d.classList.contains("s-queued"));
  let finalPass = false;
  const tick = async () => {
    const ids = [...table.querySelectorAll("tr[data-dag-id]")].map((r) => r.dataset.dagId);
    if (!ids.length) return;
    try {
      const data = await api("GET", "/ui/dags/status?" + ids.map((id) => "dag_id=" + encodeURIComponent(id)).join("&"));
      for (const [dagId, info] of Object.entries(data)) render(dagId, info);
    } catch (error) {
      if (error.status === 401) return;
    }
    if (anyActive()) { finalPass = false; setTimeout(tick, POLL_MS); }
    else if (!finalPass) { finalPass = true; setTimeout(tick, POLL_MS); }
  };
  if (anyActive()) setTimeout(tick, POLL_MS);
  table.addEventListener("slipstream:changed", () => setTimeout(tick, POLL_MS));
}

// -- wiring ---------------------------------------------------------------------------

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-action]");
  if (button && button.tagName !== "SELECT") {
    event.preventDefault();
    runAction(button);
  }
});

document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-api]");
  if (form) {
    event.preventDefault();
    submitForm(form);
  }
});

document.addEventListener("change", async (event) => {
  const toggle = event.target.closest(".pause-toggle");
  if (toggle) {
    const paused = !toggle.checked;
    try {
      await api("POST", `/ui/dags/${encodeURIComponent(toggle.dataset.dagId)}/paused`, { is_paused: paused });
      const text = toggle.parentElement.querySelector(".pause-text");
      if (text) text.textContent = paused ? "Paused" : "Active";
      toggle.parentElement.title = paused ? "Paused" : "Active";
      flash(`${toggle.dataset.dagId} ${paused ? "paused" : "unpaused"}.`);
      document.getElementById("dag-table")?.dispatchEvent(new Event("slipstream:changed"));
    } catch (error) {
      toggle.checked = !toggle.checked;
      flash(error.message, true);
    }
    return;
  }
  const role = event.target.closest("select.user-role");
  if (role) {
    try {
      await api("PATCH", role.dataset.action, { role: role.value });
      flash("Role changed.");
    } catch (error) {
      flash(error.message, true);
    }
  }
});

document.getElementById("logout")?.addEventListener("click", async () => {
  try { await api("POST", "/logout"); } finally { location.href = "/login"; }
});

for (const root of document.querySelectorAll("[data-live-dag]")) startLive(root);
const dagTable = document.getElementById("dag-table");
if (dagTable) startDagList(dagTable);
