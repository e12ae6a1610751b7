// The schema explorer: fetches /api/v1/schema (revalidating by ETag), lists the
// tables, shows one table's columns and relations, and follows /api/v1/events so
// a migration shows up without a reload. Plain DOM, no build step; all text goes
// through textContent, never innerHTML, so no name in the database can inject markup.
"use strict";

const state = { doc: null, etag: null, selected: null, filter: "" };
const token = (() => {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) sessionStorage.setItem("schemaop-token", decodeURIComponent(m[1]));
  return sessionStorage.getItem("schemaop-token");
})();

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "onclick") node.addEventListener("click", v);
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child == null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const key = (schema, name) => JSON.stringify([schema, name]);

async function load() {
  const headers = {};
  if (state.etag) headers["If-None-Match"] = state.etag;
  if (token) headers["Authorization"] = "Bearer " + token;
  const response = await fetch("api/v1/schema", { headers, cache: "no-store" });
  if (response.status === 304) return false;
  if (!response.ok) {
    showBanner(`Could not read the schema (HTTP ${response.status}).`);
    return false;
  }
  state.doc = await response.json();
  state.etag = response.headers.get("ETag");
  render();
  return true;
}

function showBanner(text) {
  const banner = document.getElementById("banner");
  banner.textContent = text || "";
  banner.hidden = !text;
}

function tables() {
  return state.doc ? state.doc.schemas.flatMap((s) => s.tables) : [];
}

function render() {
  const doc = state.doc;
  document.getElementById("version").textContent = doc.version ?? "none";
  document.getElementById("fingerprint").textContent = doc.fingerprint.slice(0, 12);
  document.getElementById("fingerprint").title = doc.fingerprint;
  document.getElementById("generated").textContent = new Date(doc.generatedAt).toLocaleTimeString();
  setStale(doc.stale);
  const all = tables();
  if (!state.selected || !all.some((t) => key(t.schema, t.name) === state.selected)) {
    state.selected = all.length ? key(all[0].schema, all[0].name) : null;
  }
  renderList();
  renderDetail();
}

function renderList() {
  const list = document.getElementById("tables");
  list.replaceChildren();
  const needle = state.filter.toLowerCase();
  for (const schema of state.doc.schemas) {
    const shown = schema.tables.filter((t) => t.name.toLowerCase().includes(needle));
    list.append(el("h2", {}, `${schema.name} (${schema.tables.length})`));
    const ul = el("ul", { "data-schema": schema.name });
    for (const table of shown) {
      const id = key(table.schema, table.name);
      const button = el("button", {
        class: id === state.selected ? "selected" : "",
        "data-table": `${table.schema}.${table.name}`,
        onclick: () => { state.selected = id; renderList(); renderDetail(); },
      }, table.name, table.kind === "table" ? null : el("span", { class: "kind" }, table.kind));
      ul.append(el("li", {}, button));
    }
    if (!schema.tables.length) ul.append(el("li", { class: "muted" }, "no tables"));
    list.append(ul);
  }
}

function referencedBy(table) {
  const out = [];
  for (const other of tables()) {
    for (const fk of other.foreignKeys) {
      if (fk.references.schema === table.schema && fk.references.table === table.name) {
        out.push({ from: other, fk });
      }
    }
  }
  return out;
}

function relLink(schema, name, label) {
  return el("a", { class: "rel", onclick: () => {
    state.selected = key(schema, name); renderList(); renderDetail();
  } }, label);
}

function renderDetail() {
  const detail = document.getElementById("detail");
  detail.replaceChildren();
  const table = tables().find((t) => key(t.schema, t.name) === state.selected);
  if (!table) {
    detail.append(el("p", { class: "muted" }, "No tables in the managed schemas yet."));
    return;
  }
  detail.append(el("h2", {}, `${table.schema}.${table.name}`, el("span", { class: "kind" }, table.kind)));
  if (table.comment) detail.append(el("p", {}, table.comment));
  const pk = new Set(table.primaryKey ? table.primaryKey.columns : []);
  const fkCols = new Map();
  for (const fk of table.foreignKeys) fk.columns.forEach((c) => fkCols.set(c, fk));
  const rows = table.columns.map((c) => el("tr", { "data-column": c.name },
    el("td", {}, pk.has(c.name) ? el("span", { class: "tag pk" }, "PK") : null,
       fkCols.has(c.name) ? el("span", { class: "tag fk" }, "FK") : null, el("strong", {}, c.name)),
    el("td", { class: "mono" }, c.type),
    el("td", {}, c.nullable ? "null" : "not null"),
    el("td", { class: "mono" }, c.identity ? `identity ${c.identity}` :
       c.generated ? `generated: ${c.generated.expression}` : c.default ?? ""),
    el("td", {}, c.comment ?? "")));
  detail.append(el("table", { "data-testid": "columns" },
    el("thead", {}, el("tr", {}, ...["column", "type", "null", "default", "comment"].map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows)));

  const relations = [];
  for (const fk of table.foreignKeys) {
    const r = fk.references;
    relations.push(el("li", {}, `${fk.columns.join(", ")} → `,
      relLink(r.schema, r.table, `${r.schema}.${r.table}`), ` (${r.columns.join(", ")})`,
      el("span", { class: "muted" }, ` on delete ${fk.onDelete.toLowerCase()}`)));
  }
  for (const { from, fk } of referencedBy(table)) {
    relations.push(el("li", {}, relLink(from.schema, from.name, `${from.schema}.${from.name}`),
      ` (${fk.columns.join(", ")}) → ${fk.references.columns.join(", ")}`));
  }
  detail.append(el("h3", {}, "Relations"),
    relations.length ? el("ul", { "data-testid": "relations" }, ...relations) : el("p", { class: "muted" }, "none"));

  const constraints = [
    ...table.uniqueConstraints.map((u) => `UNIQUE (${u.columns.join(", ")})`),
    ...table.checkConstraints.map((c) => c.definition),
  ];
  if (constraints.length) {
    detail.append(el("h3", {}, "Constraints"), el("ul", {}, ...constraints.map((c) => el("li", { class: "mono" }, c))));
  }
  if (table.indexes.length) {
    detail.append(el("h3", {}, "Indexes"),
      el("ul", {}, ...table.indexes.map((i) => el("li", { class: "mono" }, i.definition))));
  }
  const enums = state.doc.schemas.flatMap((s) => s.enums);
  const used = enums.filter((e) => table.columns.some((c) => c.dataType.kind === "enum" &&
    c.dataType.name === e.name && c.dataType.schema === e.schema));
  if (used.length) {
    detail.append(el("h3", {}, "Enums"),
      el("ul", {}, ...used.map((e) => el("li", {}, `${e.schema}.${e.name}: `, e.labels.join(", ")))));
  }
}

function setLive(text, cls) {
  const live = document.getElementById("live");
  live.textContent = text;
  live.className = "live " + cls;
}

function setStale(stale) {
  if (stale) {
    setLive("stale", "stale");
    showBanner("The database cannot be read right now: this is the last schema seen.");
  } else {
    showBanner("");
  }
}

function follow() {
  const url = "api/v1/events" + (token ? "?access_token=" + encodeURIComponent(token) : "");
  const source = new EventSource(url);
  source.addEventListener("open", () => setLive("live", "connected"));
  source.addEventListener("error", () => setLive("reconnecting", "connecting"));
  source.addEventListener("hello", (e) => {
    const data = JSON.parse(e.data);
    if (data.etag !== state.etag) load();
    if (data.stale) setStale(true);
  });
  source.addEventListener("schema-changed", async () => {
    if (await load()) document.getElementById("detail").classList.add("flash");
    setTimeout(() => document.getElementById("detail").classList.remove("flash"), 1600);
  });
  source.addEventListener("status", (e) => {
    const data = JSON.parse(e.data);
    setStale(data.stale);
    if (!data.stale) { setLive("live", "connected"); load(); }
  });
}

document.getElementById("filter").addEventListener("input", (e) => {
  state.filter = e.target.value;
  if (state.doc) renderList();
});
load().catch((err) => showBanner("Could not read the schema: " + err)).finally(follow);
