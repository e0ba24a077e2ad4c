// The task instance page: tail the selected try's log while it runs (polling with a
// byte offset), and reload when the task instance's state or try changes.
import { api, POLL_MS } from "./ui.js";

const log = document.getElementById("log");
const status = document.getElementById("log-status");
const panel = document.getElementById("ti-panel");
const LIVE = new Set(["queued", "running", "restarting", "scheduled", "none", "up_for_retry", "up_for_reschedule"]);

async function tail() {
  if (!log) return;
  let offset = 0;
  for (;;) {
    let data;
    try {
      data = await api("GET", `${log.dataset.logUrl}&offset=${offset}`);
    } catch (error) {
      status.textContent = error.message;
      return;
    }
    if (data.text) {
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
      log.append(document.createTextNode(data.text));
      if (atBottom) log.scrollTop = log.scrollHeight;
    }
    offset = data.offset;
    if (data.done) {
      status.textContent = data.exists ? "" : "No log was written for this try.";
      log.dataset.done = "true";
      return;
    }
    status.textContent = data.text && data.text.length >= 256 * 1024 ? "Loading…" : "Following the log…";
    if (!data.text || data.text.length < 256 * 1024) await new Promise((r) => setTimeout(r, 1000));
  }
}

async function watchState() {
  if (!panel || !LIVE.has(panel.dataset.state)) return;
  for (;;) {
    await new Promise((r) => setTimeout(r, POLL_MS));
    try {
      const data = await api("GET", panel.dataset.stateUrl);
      if (data.state !== panel.dataset.state || String(data.try_number) !== panel.dataset.try) {
        // Show the new state and tries; keep the log of a try that is still being read.
        const url = new URL(location.href);
        if (String(data.try_number) !== panel.dataset.try) url.searchParams.delete("try_number");
        location.replace(url.toString());
        return;
      }
    } catch (error) {
      if (error.status === 401) return;
    }
  }
}

tail();
watchState();
