// The trigger form: inputs built from the DAG's params, kept in step with the raw JSON
// conf, checked as you type (the server checks again and its messages land inline).
import { api, flash, showErrors } from "./ui.js";

const form = document.getElementById("trigger-form");
const confBox = document.getElementById("conf-json");

function fields() {
  return [...form.querySelectorAll(".field[data-param]")];
}

function inputOf(field) {
  return field.querySelector("input, select, textarea");
}

// The JSON value of one input, or undefined when it is empty.
function readField(field) {
  const input = inputOf(field);
  const kind = field.dataset.kind;
  if (kind === "checkbox") return input.checked;
  const raw = input.value;
  if (raw === "") return field.dataset.nullable === "true" ? null : undefined;
  if (kind === "integer" || kind === "number") return Number(raw);
  if (kind === "select" || kind === "json") {
    try { return JSON.parse(raw); } catch { return { __invalid: raw }; }
  }
  if (kind === "datetime") return raw.length === 16 ? raw + ":00+00:00" : raw;
  return raw;
}

function writeField(field, value) {
  const input = inputOf(field);
  const kind = field.dataset.kind;
  if (kind === "checkbox") input.checked = Boolean(value);
  else if (value === undefined || value === null) input.value = "";
  else if (kind === "select" || kind === "json") input.value = JSON.stringify(value);
  else if (kind === "datetime") input.value = String(value).slice(0, 16);
  else input.value = String(value);
}

const typeOk = {
  string: (v) => typeof v === "string",
  integer: (v) => Number.isInteger(v),
  number: (v) => typeof v === "number" && Number.isFinite(v),
  boolean: (v) => typeof v === "boolean",
  array: (v) => Array.isArray(v),
  object: (v) => v !== null && typeof v === "object" && !Array.isArray(v),
  null: (v) => v === null,
};

// A message for what is wrong with ``value`` under the param's schema, or "".
export function check(field, value) {
  const schema = JSON.parse(field.dataset.schema || "{}");
  if (value === undefined) return field.dataset.required === "true" ? "a value is required" : "";
  if (value && value.__invalid !== undefined) return "not valid JSON";
  const types = [].concat(schema.type || []);
  if (types.length && !types.some((t) => typeOk[t] && typeOk[t](value))) return `must be of type ${types.join(" or ")}`;
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) return `must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(", ")}`;
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) return `must be at least ${schema.minimum}`;
    if (schema.maximum !== undefined && value > schema.maximum) return `must be at most ${schema.maximum}`;
  }
  if (typeof value === "string") {
    if (schema.minLength !== undefined && value.length < schema.minLength) return `must have at least ${schema.minLength} characters`;
    if (schema.maxLength !== undefined && value.length > schema.maxLength) return `must have at most ${schema.maxLength} characters`;
    if (schema.pattern && !new RegExp(schema.pattern, "u").test(value)) return `must match ${schema.pattern}`;
  }
  return "";
}

function showFieldError(field, message) {
  const slot = field.querySelector(".field-error");
  slot.textContent = message;
  field.classList.toggle("invalid", Boolean(message));
}

function readConf() {
  try {
    const conf = JSON.parse(confBox.value || "{}");
    return conf && typeof conf === "object" && !Array.isArray(conf) ? conf : null;
  } catch {
    return null;
  }
}

function fieldsToJson() {
  const conf = readConf() || {};
  for (const field of fields()) {
    const value = readField(field);
    showFieldError(field, check(field, value));
    if (value === undefined || (value && value.__invalid !== undefined)) delete conf[field.dataset.param];
    else conf[field.dataset.param] = value;
  }
  confBox.value = JSON.stringify(conf, null, 2);
  form.querySelector('[data-error-for="__conf"]').textContent = "";
}

function jsonToFields() {
  const conf = readConf();
  const slot = form.querySelector('[data-error-for="__conf"]');
  if (!conf) {
    slot.textContent = "The conf must be a JSON object.";
    return;
  }
  slot.textContent = "";
  for (const field of fields()) {
    writeField(field, conf[field.dataset.param]);
    showFieldError(field, check(field, conf[field.dataset.param]));
  }
}

for (const field of fields()) {
  inputOf(field).addEventListener("input", fieldsToJson);
  inputOf(field).addEventListener("change", fieldsToJson);
}
confBox.addEventListener("input", jsonToFields);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const conf = readConf();
  if (!conf) {
    form.querySelector('[data-error-for="__conf"]').textContent = "The conf must be a JSON object.";
    return;
  }
  let bad = false;
  for (const field of fields()) {
    const message = check(field, conf[field.dataset.param]);
    showFieldError(field, message);
    bad = bad || Boolean(message);
  }
  if (bad) return;
  const button = document.getElementById("trigger-submit");
  button.disabled = true;
  document.getElementById("trigger-error").textContent = "";
  try {
    const runId = document.getElementById("run-id").value.trim();
    const result = await api("POST", `/ui/dags/${encodeURIComponent(form.dataset.dagId)}/trigger`, {
      conf,
      ...(runId ? { run_id: runId } : {}),
    });
    flash(`Triggered ${result.run_id}.`);
    location.href = `/dags/${encodeURIComponent(form.dataset.dagId)}`;
  } catch (error) {
    showErrors(form, error);
    if (!Array.isArray(error.detail)) document.getElementById("trigger-error").textContent = error.message;
  } finally {
    button.disabled = false;
  }
});
