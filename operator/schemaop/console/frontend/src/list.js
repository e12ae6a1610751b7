// The list of every SchemaVersion the user may see, kept live by /api/v1/events.
import { useCallback, useEffect, useMemo, useState } from "preact/hooks";
import { get, paths, pages } from "./api.js";
import { useEvents } from "./live.js";
import { approvalWaiting, drift, key, outcomeTone, overall, when } from "./status.js";
import { Badge, Empty, Link, errorText, html } from "./ui.js";

const FILTERS = {
  all: { label: "All", test: () => true },
  attention: {
    label: "Needs attention",
    test: (sv) =>
      ["bad", "wait"].includes(overall(sv).tone) || drift(sv).tone === "bad" || approvalWaiting(sv),
  },
  Ready: { label: "Ready", test: (sv) => overall(sv).label === "Ready" },
  Reconciling: { label: "Reconciling", test: (sv) => overall(sv).label === "Reconciling" },
  Stalled: { label: "Stalled", test: (sv) => overall(sv).label === "Stalled" },
  approval: { label: "Waiting for approval", test: approvalWaiting },
  drift: { label: "Drifted", test: (sv) => drift(sv).tone === "bad" },
  paused: { label: "Paused", test: (sv) => Boolean(sv.spec && sv.spec.paused) },
};

export function LiveState({ state }) {
  const label = { live: "Live", connecting: "Connecting…", reconnecting: "Reconnecting…" }[state];
  const tone = state === "live" ? "good" : "wait";
  return html`<span class=${`live tone-${tone}`} role="status" data-testid="live-state"
    ><span aria-hidden="true">●</span> ${label || "Not live: reload the page"}</span
  >`;
}

export function ListPage() {
  const [items, setItems] = useState(null);
  const [denied, setDenied] = useState([]);
  const [error, setError] = useState(null);
  const [search, setSearch] = useState("");
  const [filter, setFilter] = useState("all");
  const [namespace, setNamespace] = useState("");

  const load = useCallback(async () => {
    try {
      const body = await get(paths.list);
      const map = new Map();
      for (const sv of body.items || []) map.set(key(sv), sv);
      setItems(map);
      setDenied(body.namespacesDenied || []);
      setError(null);
    } catch (exc) {
      setError(exc);
    }
  }, []);

  useEffect(() => {
    load();
  }, [load]);

  const live = useEvents((kind, event) => {
    if (kind !== "schemaversion" || !event.object || !event.object.metadata) return;
    setItems((old) => {
      const map = new Map(old || []);
      if (event.type === "DELETED") map.delete(key(event.object));
      else map.set(key(event.object), event.object);
      return map;
    });
  }, load);

  const all = useMemo(
    () =>
      [...(items || new Map()).values()].sort((a, b) =>
        key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0,
      ),
    [items],
  );
  const namespaces = useMemo(
    () => [...new Set(all.map((sv) => sv.metadata.namespace))].sort(),
    [all],
  );
  const needle = search.trim().toLowerCase();
  const shown = all.filter((sv) => {
    if (namespace && sv.metadata.namespace !== namespace) return false;
    if (!FILTERS[filter].test(sv)) return false;
    if (!needle) return true;
    const state = overall(sv);
    const status = sv.status || {};
    const haystack = [
      sv.metadata.namespace,
      sv.metadata.name,
      status.currentVersion,
      status.targetVersion,
      state.label,
      state.reason,
      state.message,
    ]
      .join(" ")
      .toLowerCase();
    return haystack.includes(needle);
  });

  return html`<main id="main" tabindex="-1" class="page">
    <div class="page-head">
      <h1>Databases</h1>
      <${LiveState} state=${live} />
    </div>
    <form class="filters" role="search" onSubmit=${(e) => e.preventDefault()}>
      <label
        >Search
        <input
          type="search"
          data-testid="search-input"
          placeholder="name, namespace, version, reason…"
          value=${search}
          onInput=${(e) => setSearch(e.currentTarget.value)}
      /></label>
      <label
        >Status
        <select
          data-testid="status-filter"
          value=${filter}
          onChange=${(e) => setFilter(e.currentTarget.value)}
        >
          ${Object.entries(FILTERS).map(
            ([value, f]) => html`<option value=${value}>${f.label}</option>`,
          )}
        </select></label
      >
      <label
        >Namespace
        <select
          data-testid="namespace-filter"
          value=${namespace}
          onChange=${(e) => setNamespace(e.currentTarget.value)}
        >
          <option value="">All namespaces</option>
          ${namespaces.map((ns) => html`<option value=${ns}>${ns}</option>`)}
        </select></label
      >
      <span class="count" aria-live="polite">${shown.length} of ${all.length} shown</span>
    </form>
    ${error &&
    html`<p class="alert" role="alert">Could not list SchemaVersions: ${errorText(error)}</p>`}
    ${denied.length > 0 &&
    html`<p class="note">
      You may not list SchemaVersions in: ${denied.join(", ")}. Those namespaces are not shown.
    </p>`}
    ${items === null && !error
      ? html`<p class="empty">Loading…</p>`
      : html`<${Table} rows=${shown} total=${all.length} />`}
  </main>`;
}

function Table({ rows, total }) {
  if (total === 0) return html`<${Empty}>No SchemaVersion you may see.</${Empty}>`;
  if (rows.length === 0) return html`<${Empty}>Nothing matches the search and filters.</${Empty}>`;
  return html`<table class="grid sv-list">
    <caption class="sr-only">
      SchemaVersions
    </caption>
    <thead>
      <tr>
        <th scope="col">Database</th>
        <th scope="col">Current → target</th>
        <th scope="col">Status</th>
        <th scope="col">Pending</th>
        <th scope="col">Drift</th>
        <th scope="col">Approval</th>
        <th scope="col">Last run</th>
      </tr>
    </thead>
    <tbody>
      ${rows.map((sv) => html`<${Row} key=${key(sv)} sv=${sv} />`)}
    </tbody>
  </table>`;
}

function Row({ sv }) {
  const { namespace, name } = sv.metadata;
  const status = sv.status || {};
  const state = overall(sv);
  const d = drift(sv);
  const job = status.lastJob;
  const waiting = approvalWaiting(sv);
  return html`<tr data-testid=${`sv-row-${namespace}-${name}`}>
    <td>
      <${Link} href=${pages.sv(namespace, name)} class="strong">${name}</${Link}>
      <div class="muted small">${namespace}</div>
    </td>
    <td class="nowrap">
      <span class="version">${status.currentVersion || "none"}</span>
      <span aria-label="to"> → </span>
      <span class="version">${status.targetVersion || (sv.spec && sv.spec.targetVersion) || "?"}</span>
      ${sv.spec && sv.spec.paused ? html` <span class="tag">paused</span>` : ""}
    </td>
    <td class="status-cell">
      <${Badge} tone=${state.tone} label=${state.label} testid="sv-status" />
      ${state.reason && html`<span class="reason"> ${state.reason}</span>`}
      ${state.message && html`<div class="message small">${state.message}</div>`}
    </td>
    <td class="num">${status.pending ?? ""}</td>
    <td><${Badge} tone=${d.tone} label=${d.label} /></td>
    <td>
      ${waiting
        ? html`<${Badge} tone="wait" label="Waiting" />`
        : html`<span class="muted">${sv.spec && sv.spec.approval === "Manual" ? "Manual" : "Automatic"}</span>`}
    </td>
    <td>
      ${job
        ? html`<${Badge} tone=${outcomeTone(job.result)} label=${job.result || "?"} />
            <div class="muted small">${when(job.finishedAt || job.startedAt)}</div>`
        : html`<span class="muted">none</span>`}
    </td>
  </tr>`;
}
