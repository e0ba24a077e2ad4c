// A browsable view of the OpenAPI document: operations by tag, with their parameters,
// request bodies and responses, and the component schemas. Built from the JSON with
// DOM calls only (no innerHTML), so nothing in the document can inject markup.
import { api } from "./ui.js";

const root = document.getElementById("api-docs");
const filter = document.getElementById("api-filter");

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function refName(ref) {
  return ref.split("/").pop();
}

function schemaText(schema) {
  if (!schema) return "";
  if (schema.$ref) return refName(schema.$ref);
  if (schema.oneOf || schema.anyOf) return (schema.oneOf || schema.anyOf).map(schemaText).join(" | ");
  if (schema.type === "array") return `array<${schemaText(schema.items)}>`;
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  return schema.format ? `${schema.type} (${schema.format})` : schema.type || "any";
}

function schemaLink(schema) {
  const text = schemaText(schema);
  const names = [];
  const collect = (s) => {
    if (!s) return;
    if (s.$ref) names.push(refName(s.$ref));
    (s.oneOf || s.anyOf || []).forEach(collect);
    if (s.items) collect(s.items);
  };
  collect(schema);
  if (names.length === 1) return el("a", { href: `#schema-${names[0]}` }, el("code", {}, text));
  return el("code", {}, text);
}

function operation(path, method, op) {
  const params = op.parameters || [];
  const body = op.requestBody?.content?.["application/json"]?.schema;
  const responses = Object.entries(op.responses || {});
  return el("details", { class: "api-op", "data-search": `${method} ${path} ${op.summary || ""} ${op.operationId || ""}`.toLowerCase() },
    el("summary", {}, el("span", { class: `method ${method}` }, method.toUpperCase()), el("code", {}, path), el("span", { class: "muted" }, op.summary || "")),
    el("div", { class: "body" },
      op.description ? el("p", {}, op.description) : null,
      params.length ? el("table", { class: "table small" },
        el("thead", {}, el("tr", {}, el("th", {}, "Parameter"), el("th", {}, "In"), el("th", {}, "Type"), el("th", {}, "Required"), el("th", {}, "Description"))),
        el("tbody", {}, params.map((p) => el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in), el("td", {}, schemaLink(p.schema)), el("td", {}, p.required ? "yes" : ""), el("td", {}, p.description || ""))))) : null,
      body ? el("p", {}, "Request body: ", schemaLink(body)) : null,
      el("p", {}, "Responses: ", responses.map(([code, r]) => {
        const schema = r.content?.["application/json"]?.schema;
        return el("span", { class: "tag" }, code, " ", schema ? schemaLink(schema) : r.description || "");
      })),
    ));
}

function schemaSection(name, schema) {
  const props = Object.entries(schema.properties || {});
  const required = new Set(schema.required || []);
  return el("details", { class: "api-op", id: `schema-${name}`, "data-search": name.toLowerCase() },
    el("summary", {}, el("code", {}, name), el("span", { class: "muted" }, schema.type || "")),
    el("div", { class: "body" },
      props.length ? el("table", { class: "table small" },
        el("thead", {}, el("tr", {}, el("th", {}, "Field"), el("th", {}, "Type"), el("th", {}, "Required"))),
        el("tbody", {}, props.map(([field, s]) => el("tr", {}, el("td", {}, el("code", {}, field)), el("td", {}, schemaLink(s)), el("td", {}, required.has(field) ? "yes" : ""))))) :
        el("pre", {}, JSON.stringify(schema, null, 2))));
}

async function load() {
  let spec;
  try {
    spec = await api("GET", root.dataset.specUrl);
  } catch (error) {
    root.replaceChildren(el("p", { class: "error" }, `Could not read the OpenAPI document: ${error.message}`));
    return;
  }
  const byTag = new Map();
  for (const [path, item] of Object.entries(spec.paths || {})) {
    for (const [method, op] of Object.entries(item)) {
      if (!["get", "post", "put", "patch", "delete"].includes(method)) continue;
      const tag = (op.tags && op.tags[0]) || "Other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(path, method, op));
    }
  }
  const sections = [el("p", { class: "muted" }, `${spec.info?.title || "API"} ${spec.info?.version || ""} · OpenAPI ${spec.openapi || ""}`)];
  for (const [tag, ops] of [...byTag].sort(([a], [b]) => a.localeCompare(b))) {
    sections.push(el("section", { class: "api-tag" }, el("h2", {}, tag), ops));
  }
  const schemas = Object.entries(spec.components?.schemas || {}).sort(([a], [b]) => a.localeCompare(b));
  sections.push(el("section", { id: "schemas" }, el("h2", {}, `Schemas (${schemas.length})`), schemas.map(([n, s]) => schemaSection(n, s))));
  root.replaceChildren(...sections);
}

filter?.addEventListener("input", () => {
  const q = filter.value.trim().toLowerCase();
  for (const node of root.querySelectorAll("[data-search]")) node.hidden = q && !node.dataset.search.includes(q);
});

load();
