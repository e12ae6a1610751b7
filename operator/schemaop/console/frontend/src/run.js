// One run (a SchemaMigrationRun record): outcome, per step and statement, the error
// at its statement, and the log (live while the Job's pod exists).
import { useEffect, useRef, useState } from "preact/hooks";
import { get, pages, paths } from "./api.js";
import { triggerText } from "./database.js";
import { useLogStream } from "./live.js";
import { ms, outcomeTone, when } from "./status.js";
import { Badge, Empty, Hash, Link, Section, StatementWithPosition, errorText, html } from "./ui.js";

export function RunPage({ ns, name }) {
  const [run, setRun] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    setRun(null);
    get(paths.run(ns, name)).then(
      (body) => {
        setRun(body);
        setError(null);
      },
      (exc) => setError(exc),
    );
  }, [ns, name]);

  if (error)
    return html`<main id="main" tabindex="-1" class="page">
      <p class="alert" role="alert">Could not read run ${ns}/${name}: ${errorText(error)}</p>
    </main>`;
  if (!run) return html`<main id="main" tabindex="-1" class="page"><p class="empty">Loading…</p></main>`;
  const spec = run.spec || {};
  const summary = spec.summary || {};
  const log = spec.log || {};
  return html`<main id="main" tabindex="-1" class="page">
    <p class="crumbs">
      <${Link} href=${pages.list}>All databases</${Link}> /
      ${" "}<${Link} href=${pages.sv(ns, spec.schemaVersion)}>${spec.schemaVersion}</${Link}>
    </p>
    <div class="page-head">
      <h1>Run ${name}</h1>
    </div>
    <div class="summary card">
      <div>
        <div class="label">Outcome</div>
        <${Badge} tone=${outcomeTone(spec.outcome)} label=${spec.outcome || "?"} testid="run-outcome" />
        ${spec.outcomeReason && html` <span class="reason">${spec.outcomeReason}</span>`}
      </div>
      <div>
        <div class="label">Versions</div>
        <span class="version big">${spec.fromVersion || "none"}</span>${" → "}<span
          class="version big"
          >${spec.toVersion || "?"}</span
        >
        ${spec.target ? html`<span class="muted"> (target ${spec.target})</span>` : ""}
      </div>
      <div>
        <div class="label">Trigger</div>
        ${`${triggerText(spec.trigger)}, attempt ${spec.attempt ?? "?"}`}
      </div>
      <div>
        <div class="label">Time</div>
        ${when(spec.startTime)}${spec.duration ? html` <span class="muted">(${spec.duration})</span>` : ""}
      </div>
      <div class="wide small">
        Plan <${Hash} value=${spec.planHash} />${"; Job "}<code>${(spec.job && spec.job.name) || "?"}</code>
        ${summary.applied !== undefined ? html`; ${summary.applied} applied, ${summary.skipped || 0} skipped` : ""}
        ${(spec.clipped || []).length ? html`; shortened to fit: ${spec.clipped.join(", ")}` : ""}
      </div>
    </div>
    ${summary.error && html`<${RunErrorBox} error=${summary.error} />`}
    <${Steps} summary=${summary} error=${summary.error} />
    <${LogSection} url=${paths.runLog(ns, name)} record=${log} />
  </main>`;
}

function RunErrorBox({ error }) {
  const pos = error.position || null;
  return html`<${Section} title="Error" id="run-error-title">
    <div class="error-box" data-testid="run-error" role="alert">
      <p>
        <strong>${error.sqlstate ? `SQLSTATE ${error.sqlstate}` : error.kind || "Error"}</strong>
        ${error.version ? ` in version ${error.version}` : ""}
        ${pos && pos.line ? `, line ${pos.line}${pos.column ? ` column ${pos.column}` : ""}` : ""}
        ${pos && !pos.line && pos.offset ? `, at character ${pos.offset}` : ""}${": "}<span data-testid="run-error-message">${error.message}</span>
      </p>
      ${error.detail && html`<p><strong>Detail:</strong> ${error.detail}</p>`}
      ${error.hint && html`<p><strong>Hint:</strong> ${error.hint}</p>`}
      ${error.statement &&
      html`<div>
        <div class="label">Statement</div>
        <${StatementWithPosition} statement=${error.statement} position=${pos} />
      </div>`}
      <p class="muted small">
        ${error.reason || error.kind}${error.retryable ? ": retryable, the operator retries with backoff" : ": not retryable, it needs a fix (a new migration, or a spec change)"}.
      </p>
    </div>
  </${Section}>`;
}

function lockText(item) {
  const parts = [];
  if (item.lockWaits) parts.push(`${item.lockWaits} lock wait${item.lockWaits === 1 ? "" : "s"}`);
  if (item.lockWaitMs) parts.push(`${ms(item.lockWaitMs)} waiting`);
  if (item.retries) parts.push(`${item.retries} retr${item.retries === 1 ? "y" : "ies"}`);
  return parts.join(", ");
}

function Steps({ summary, error }) {
  const steps = summary.steps || [];
  return html`<${Section} title="Steps" id="steps">
    ${steps.length === 0
      ? html`<${Empty}>No step ran.</${Empty}>`
      : html`<ol class="steps">
          ${steps.map(
            (step, i) => html`<li key=${i} class="step" data-testid=${`run-step-${step.version}`}>
              <div>
                <${Badge} tone=${outcomeTone(step.status)} label=${step.status || "?"} />
                <strong> ${step.direction} ${step.version}</strong> ${step.description}
                <span class="muted"
                  >${` — ${ms(step.durationMs)}`}${step.attempts > 1 ? `, ${step.attempts} attempts` : ""}${step.transactional === false ? ", non-transactional" : ""}${step.source === "recorded" ? ", recorded down SQL" : ""}</span
                >
              </div>
              ${lockText(step) && html`<p class="small">Step retries: ${lockText(step)}.</p>`}
              ${(step.notices || []).length > 0 &&
              html`<div class="small">
                Notices${step.noticesBatch > 1 ? ` (of this step and the next ${step.noticesBatch - 1}, sent in one query)` : ""}:
                <ul class="notices">
                  ${step.notices.map((n) => html`<li>${noticeText(n)}</li>`)}
                </ul>
              </div>`}
              ${step.batches && html`<p class="small">Batches: ${Object.entries(step.batches).map(([k, v]) => `${k} ${v}`).join(", ")}</p>`}
              <${Statements} statements=${step.statements || []} failed=${error && error.version === step.version ? error : null} />
              ${step.statementsOmitted ? html`<p class="muted small">${step.statementsOmitted} more statement(s) left out of the record.</p>` : ""}
            </li>`,
          )}
        </ol>`}
    ${summary.stepsOmitted ? html`<p class="note">${summary.stepsOmitted} step(s) left out of the record (the database's history table has them).</p>` : ""}
  </${Section}>`;
}

function noticeText(n) {
  if (typeof n === "string") return n;
  return [n.severity, n.sqlstate ? `(${n.sqlstate})` : "", n.message].filter(Boolean).join(" ");
}

// Per statement, as PostgreSQL answered (when the run record has them): command tag,
// rows, duration, lock waits and retries, notices, and the error of the one that failed.
function Statements({ statements, failed }) {
  if (!statements.length) return "";
  return html`<table class="grid statements" data-testid="run-statements">
    <thead>
      <tr>
        <th scope="col">#</th>
        <th scope="col">Statement</th>
        <th scope="col">Result</th>
        <th scope="col">Rows</th>
        <th scope="col">Duration</th>
        <th scope="col">Lock waits, retries</th>
        <th scope="col">Notices</th>
      </tr>
    </thead>
    <tbody>
      ${statements.map((s, i) => {
        const notices = s.notices || [];
        const isFailed = s.status === "failed" || Boolean(s.error);
        const err = s.error || (isFailed ? failed : null) || {};
        const pos = err.position || null;
        return html`<tr key=${i} class=${isFailed ? "failed" : ""} data-testid=${`run-statement-${s.index ?? i + 1}`}>
          <td class="num">${s.index ?? i + 1}${s.line ? html`<div class="muted small">line ${s.line}</div>` : ""}</td>
          <td>
            <code class="stmt">${s.statement || s.sql || ""}</code>
            ${isFailed &&
            html`<div class="alert small">
              ${err.sqlstate ? `SQLSTATE ${err.sqlstate}: ` : ""}${err.message || "failed"}
              ${pos && (pos.line || pos.offset) ? ` (${pos.line ? `line ${pos.line}${pos.column ? ` column ${pos.column}` : ""}` : `character ${pos.offset}`})` : ""}
            </div>`}
          </td>
          <td class="nowrap">
            ${isFailed
              ? html`<${Badge} tone="bad" label="failed" />`
              : s.command
                ? html`<code>${s.command}</code>`
                : s.status === "ok"
                  ? html`<${Badge} tone="good" label="ok" />`
                  : ""}
          </td>
          <td class="num">${s.rows ?? s.rowsAffected ?? ""}</td>
          <td class="nowrap">${ms(s.durationMs)}</td>
          <td>${lockText(s)}</td>
          <td>
            ${notices.map((n) => html`<div class="small">${noticeText(n)}</div>`)}
            ${s.noticesOmitted ? html`<div class="muted small">${s.noticesOmitted} more</div>` : ""}
          </td>
        </tr>`;
      })}
    </tbody>
  </table>`;
}

export function LogSection({ url, record }) {
  const { lines, state, dropped } = useLogStream(url);
  const box = useRef(null);
  const follow = useRef(true);
  useEffect(() => {
    if (box.current && follow.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines]);
  const fallback = state === "failed" && lines.length === 0 && record && record.tail;
  const text = fallback ? record.tail : lines.join("\n");
  const label = {
    connecting: html`<${Badge} tone="muted" label="Connecting…" />`,
    live: html`<${Badge} tone="busy" label="Live" />`,
    ended: html`<${Badge} tone="good" label="Complete" />`,
    failed: html`<${Badge} tone="wait" label=${fallback ? "From the run record" : "Not available"} />`,
  }[state];
  return html`<${Section} title="Log" id="log" actions=${html`<span data-testid="log-state">${label}</span>`}>
    ${record && record.clipped ? html`<p class="note">Only the end of the log is kept.</p>` : ""}
    ${dropped > 0
      ? html`<p class="note" role="status" data-testid="log-dropped">
          ${dropped} line${dropped === 1 ? " was" : "s were"} left out of this live log: the
          page did not read it fast enough (marked where they are missing). The run record keeps
          the end of the log; reload to read it from the start.
        </p>`
      : ""}
    ${record && record.unavailable && !text ? html`<p class="note">${record.unavailable}</p>` : ""}
    ${text || state !== "ended"
      ? html`<pre
          class="log"
          tabindex="0"
          aria-label="Log"
          data-testid="run-log"
          ref=${box}
          onScroll=${(e) => {
            const el = e.currentTarget;
            follow.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
          }}
        >${text}</pre>`
      : html`<${Empty}>The log is empty.</${Empty}><pre class="log hidden" data-testid="run-log"></pre>`}
  </${Section}>`;
}

export function JobPage({ ns, job }) {
  return html`<main id="main" tabindex="-1" class="page">
    <p class="crumbs"><${Link} href=${pages.list}>All databases</${Link}></p>
    <div class="page-head"><h1>Job ${job}</h1></div>
    <p class="note">
      This Job is running and has no run record yet; its record appears on the database's
      page when it ends.
    </p>
    <${LogSection} url=${paths.jobLog(ns, job)} record=${null} />
  </main>`;
}
