// Small shared pieces: htm bound to Preact, the router, badges, SQL with lint findings.
import { h } from "preact";
import { useEffect, useState } from "preact/hooks";
import htm from "htm";

export const html = htm.bind(h);

// -- routing (History API) ---------------------------------------------------------------

const listeners = new Set();

export function navigate(path) {
  if (path !== window.location.pathname + window.location.search) {
    window.history.pushState(null, "", path);
  }
  listeners.forEach((fn) => fn());
  window.scrollTo(0, 0);
  // Keyboard and screen-reader users land on the new page, not on the old link.
  requestAnimationFrame(() => {
    const main = document.getElementById("main");
    if (main) main.focus({ preventScroll: true });
  });
}

export function useLocation() {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const update = () => setPath(window.location.pathname);
    listeners.add(update);
    window.addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      window.removeEventListener("popstate", update);
    };
  }, []);
  return path;
}

// A real link: keyboard and middle-click work; a plain click stays in the page.
export function Link({ href, children, ...rest }) {
  const onClick = (event) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey)
      return;
    event.preventDefault();
    navigate(href);
  };
  return html`<a href=${href} onClick=${onClick} ...${rest}>${children}</a>`;
}

// -- display -----------------------------------------------------------------------------

const SYMBOL = { good: "✓", bad: "✕", busy: "↻", wait: "⚠", muted: "•" };

export function Badge({ tone, label, testid }) {
  return html`<span class=${`badge tone-${tone}`} data-testid=${testid}
    ><span aria-hidden="true">${SYMBOL[tone] || "•"} </span>${label}</span
  >`;
}

export function Section({ title, id, children, actions }) {
  return html`<section class="card" aria-labelledby=${id}>
    <div class="card-head">
      <h2 id=${id}>${title}</h2>
      ${actions}
    </div>
    ${children}
  </section>`;
}

export function Empty({ children }) {
  return html`<p class="empty">${children}</p>`;
}

export function Hash({ value, testid }) {
  if (!value) return html`<span class="muted">none</span>`;
  return html`<code class="hash" title=${value} data-testid=${testid}>${value}</code>`;
}

const SEVERITY_ORDER = { error: 0, warning: 1, info: 2 };

// SQL with line numbers and each lint finding right under the line it names.
export function SqlWithFindings({ sql, findings, label }) {
  const lines = String(sql || "").split("\n");
  const byLine = new Map();
  const unplaced = [];
  for (const f of findings || []) {
    const line = Number(f.line);
    if (line >= 1 && line <= lines.length) {
      if (!byLine.has(line)) byLine.set(line, []);
      byLine.get(line).push(f);
    } else {
      unplaced.push(f);
    }
  }
  for (const list of byLine.values())
    list.sort((a, b) => (SEVERITY_ORDER[a.severity] ?? 3) - (SEVERITY_ORDER[b.severity] ?? 3));
  const finding = (f) => html`<div class=${`finding sev-${f.severity || "info"}`} role="note">
    <strong>${(f.severity || "info").toUpperCase()} ${f.code}</strong>
    ${f.column ? html` <span class="muted">(column ${f.column})</span>` : ""}${`: ${f.message}`}
    ${f.hint ? html`<div class="hint">${f.hint}</div>` : ""}
    ${f.suppressed ? html` <span class="muted">(allowed by a schemaop:allow comment)</span>` : ""}
  </div>`;
  return html`<div class="sql" aria-label=${label || "SQL"}>
    ${unplaced.map(finding)}
    <table class="sql-lines">
      <tbody>
        ${lines.map(
          (text, i) => html`<tr key=${i} class=${byLine.has(i + 1) ? "flagged" : ""}>
              <td class="ln" aria-hidden="true">${i + 1}</td>
              <td class="code"><code>${text || " "}</code></td>
            </tr>
            ${byLine.has(i + 1)
              ? html`<tr class="finding-row">
                  <td class="ln"></td>
                  <td>${byLine.get(i + 1).map(finding)}</td>
                </tr>`
              : ""}`,
        )}
      </tbody>
    </table>
  </div>`;
}

// A statement with its error position marked (line/column or character offset).
export function StatementWithPosition({ statement, position }) {
  const text = String(statement || "");
  let offset = null;
  if (position && position.offset) offset = Number(position.offset) - 1;
  else if (position && position.line) {
    const lines = text.split("\n");
    offset = 0;
    for (let i = 0; i < Number(position.line) - 1 && i < lines.length; i++)
      offset += lines[i].length + 1;
    offset += Math.max(0, Number(position.column || 1) - 1);
  }
  if (offset === null || offset < 0 || offset >= text.length)
    return html`<pre class="statement"><code>${text}</code></pre>`;
  let end = offset + 1;
  while (end < text.length && /\w/.test(text[end])) end++;
  return html`<pre class="statement"><code>${text.slice(0, offset)}<mark
    title="the error is here">${text.slice(offset, end)}</mark>${text.slice(end)}</code></pre>`;
}

export function errorText(error) {
  if (!error) return "";
  if (error.status) return `${error.message} (HTTP ${error.status}${error.code ? `, ${error.code}` : ""})`;
  return String(error.message || error);
}
