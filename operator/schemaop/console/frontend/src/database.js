// One database: its state, plan, migrations, rollback points, history, drift, events,
// runs; and the actions (approve, set target with preview, retry, pause, roll back).
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { get, pages, paths, post } from "./api.js";
import { LiveState } from "./list.js";
import { useEvents } from "./live.js";
import {
  approvalWaiting,
  compareVersions,
  condition,
  drift,
  outcomeTone,
  overall,
  shortHash,
  when,
} from "./status.js";
import {
  Badge,
  Empty,
  Hash,
  Link,
  Section,
  SqlWithFindings,
  StatementWithPosition,
  errorText,
  html,
} from "./ui.js";

export function DatabasePage({ ns, name }) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const pending = useRef(null);

  const load = useCallback(async () => {
    try {
      setData(await get(paths.sv(ns, name)));
      setError(null);
    } catch (exc) {
      setError(exc);
    }
  }, [ns, name]);

  useEffect(() => {
    setData(null);
    load();
  }, [load]);

  // Any change of this SchemaVersion or one of its runs reloads the page's data
  // (at most every half second).
  const live = useEvents((kind, event) => {
    const object = event.object || {};
    const meta = object.metadata || {};
    if (meta.namespace !== ns) return;
    const ours =
      kind === "schemaversion"
        ? meta.name === name
        : (object.spec && object.spec.schemaVersion) === name;
    if (!ours || pending.current) return;
    pending.current = setTimeout(() => {
      pending.current = null;
      load();
    }, 500);
  }, load);
  useEffect(() => () => pending.current && clearTimeout(pending.current), []);

  if (error && !data)
    return html`<main id="main" tabindex="-1" class="page">
      <p><${Link} href=${pages.list}>← All databases</${Link}></p>
      <p class="alert" role="alert">Could not read ${ns}/${name}: ${errorText(error)}</p>
    </main>`;
  if (!data) return html`<main id="main" tabindex="-1" class="page"><p class="empty">Loading…</p></main>`;

  const sv = data.schemaVersion;
  const status = sv.status || {};
  const state = overall(sv);
  return html`<main id="main" tabindex="-1" class="page">
    <p class="crumbs"><${Link} href=${pages.list}>← All databases</${Link}></p>
    <div class="page-head">
      <h1>${name} <span class="muted ns">in ${ns}</span></h1>
      <${LiveState} state=${live} />
    </div>
    ${error && html`<p class="alert" role="alert">Could not refresh: ${errorText(error)}</p>`}
    <div class="summary card">
      <div>
        <div class="label">Status</div>
        <${Badge} tone=${state.tone} label=${state.label} testid="sv-status" />
        ${state.reason && html` <span class="reason">${state.reason}</span>`}
      </div>
      <div>
        <div class="label">Current → target</div>
        <span class="version big">${status.currentVersion || "none"}</span>${" → "}<span
          class="version big"
          >${status.targetVersion || sv.spec.targetVersion || "?"}</span
        >${" "}<span class="muted">(spec: ${sv.spec.targetVersion || "latest"})</span>
      </div>
      <div>
        <div class="label">Pending steps</div>
        <span class="big">${status.pending ?? 0}</span>
      </div>
      <div>
        <div class="label">Policy</div>
        ${`approval ${sv.spec.approval || "Automatic"}, destructive ${sv.spec.destructive || "Block"}`}
        ${sv.spec.paused ? html`, <strong>paused</strong>` : ""}
      </div>
      ${state.message && html`<p class="message wide">${state.message}</p>`}
      ${status.dirty &&
      html`<p class="alert wide" role="alert">
        The database is dirty: a non-transactional step started and did not finish. Run
        <code>schemaop repair</code>.
      </p>`}
    </div>
    <${Actions} data=${data} reload=${load} />
    ${status.failure && html`<${Failure} failure=${status.failure} />`}
    ${status.dataMigration && html`<${DataMigration} dm=${status.dataMigration} />`}
    <${Plan} sv=${sv} migrations=${data.migrations || []} />
    <${Runs} ns=${ns} runs=${data.runs || []} lastJob=${status.lastJob} />
    <${Migrations} migrations=${data.migrations || []} />
    <${RollbackPoints} points=${status.rollbackPoints || []} />
    <${History} history=${status.history || []} />
    <${Drift} sv=${sv} />
    <${Events} events=${data.events || []} />
  </main>`;
}

// -- actions -----------------------------------------------------------------------------

function Actions({ data, reload }) {
  const sv = data.schemaVersion;
  const { namespace: ns, name } = sv.metadata;
  const status = sv.status || {};
  const plan = status.plan || {};
  const [busy, setBusy] = useState("");
  const [result, setResult] = useState(null); // {ok: bool, text}
  const [target, setTarget] = useState("");
  const [preview, setPreview] = useState(null);
  const [previewFor, setPreviewFor] = useState(null); // {target, resourceVersion}
  const targetRef = useRef(null);
  // The plan hash this page showed the person. A live update that changes the plan
  // does not change what Approve sends: approving then answers 409 PlanChanged until
  // the person has looked at the new plan ("Review the new plan").
  const currentHash = (plan.steps || []).length ? plan.hash || "" : "";
  const [shownHash, setShownHash] = useState(currentHash);
  useEffect(() => {
    // A plan appearing where none was shown, or going away, is no stale page.
    if (!shownHash || !currentHash) setShownHash(currentHash);
  }, [shownHash, currentHash]);
  const planChanged = Boolean(shownHash && currentHash !== shownHash);

  // Roll back buttons elsewhere on the page fill the target and preview it.
  useEffect(() => {
    const onRollback = (event) => {
      setTarget(event.detail);
      runPreview(event.detail);
      if (targetRef.current) {
        targetRef.current.scrollIntoView({ block: "center" });
        targetRef.current.focus();
      }
    };
    window.addEventListener("schemaop-rollback", onRollback);
    return () => window.removeEventListener("schemaop-rollback", onRollback);
  });

  const act = async (label, verb, body, done) => {
    setBusy(label);
    setResult(null);
    try {
      const answer = await post(paths.action(ns, name, verb), body);
      setResult({ ok: true, text: done(answer) });
      await reload();
    } catch (exc) {
      setResult({ ok: false, text: `${label} refused: ${errorText(exc)}` });
    } finally {
      setBusy("");
    }
  };

  async function runPreview(value) {
    const wanted = String(value || "").trim();
    if (!wanted) {
      setResult({ ok: false, text: "Enter a version (or latest) to preview." });
      return;
    }
    setBusy("Preview");
    setResult(null);
    setPreview(null);
    try {
      const answer = await get(paths.preview(ns, name, wanted));
      setPreview(answer);
      setPreviewFor({ target: wanted, resourceVersion: sv.metadata.resourceVersion });
    } catch (exc) {
      setResult({ ok: false, text: `Preview refused: ${errorText(exc)}` });
    } finally {
      setBusy("");
    }
  }

  const confirm = () =>
    act(
      "Set target",
      "target",
      { targetVersion: previewFor.target, resourceVersion: previewFor.resourceVersion },
      () => {
        setPreview(null);
        return `Target set to ${previewFor.target}.`;
      },
    );

  const waiting = approvalWaiting(sv);
  const paused = Boolean(sv.spec.paused);
  return html`<${Section} title="Actions" id="actions">
    <div class="actions">
      <div class="action">
        <h3>Approve the plan</h3>
        ${(sv.spec.approval || "Automatic") !== "Manual"
          ? html`<p class="muted">Approval is Automatic: plans run without one.</p>`
          : shownHash
          ? html`<p>
                Approves exactly plan <${Hash} value=${shownHash} testid="approve-hash" />
                ${planChanged
                  ? ""
                  : `(${(plan.steps || []).length} step${(plan.steps || []).length === 1 ? "" : "s"}, ${plan.fromVersion || "none"} → ${plan.toVersion || "?"}, listed under Plan).`}
                ${plan.approved && !planChanged ? html` <${Badge} tone="good" label="Approved" />` : ""}
              </p>
              ${planChanged &&
              html`<div class="alert plain" role="alert" data-testid="plan-changed">
                The plan changed since this page showed it: it is now
                ${" "}<${Hash} value=${currentHash} />. Approving the plan shown
                above is refused.
                <div class="buttons">
                  <button type="button" class="small" onClick=${() => setShownHash(currentHash)}>
                    Review the new plan
                  </button>
                </div>
              </div>`}
              <button
                type="button"
                class="primary"
                data-testid="approve-button"
                disabled=${Boolean(busy)}
                onClick=${() =>
                  act("Approve", "approve", { planHash: shownHash }, (a) =>
                    `Approved plan ${(a && a.approved) || shownHash}.`,
                  )}
              >
                Approve plan ${shortHash(shownHash)}
              </button>
              ${!waiting && !plan.approved
                ? html`<p class="muted small">This database does not wait for approval now.</p>`
                : ""}`
          : html`<p class="muted">No plan to approve.</p>`}
      </div>
      <div class="action">
        <h3>Set target or roll back</h3>
        <form
          class="inline"
          onSubmit=${(e) => {
            e.preventDefault();
            runPreview(target);
          }}
        >
          <label
            >Target version
            <input
              ref=${targetRef}
              data-testid="target-input"
              value=${target}
              placeholder="e.g. 3 or latest"
              onInput=${(e) => setTarget(e.currentTarget.value)}
          /></label>
          <button type="submit" data-testid="preview-button" disabled=${Boolean(busy)}>
            Preview
          </button>
        </form>
        <p class="muted small">Nothing changes until you confirm the preview.</p>
      </div>
      <div class="action">
        <h3>Run control</h3>
        <div class="buttons">
          <button
            type="button"
            data-testid="retry-button"
            disabled=${Boolean(busy)}
            onClick=${() => act("Retry", "retry", {}, () => "Retry requested: the operator retries now.")}
          >
            Retry now
          </button>
          <button
            type="button"
            data-testid="pause-button"
            aria-pressed=${paused ? "true" : "false"}
            disabled=${Boolean(busy)}
            onClick=${() =>
              act(paused ? "Resume" : "Pause", "pause", { paused: !paused }, () =>
                paused ? "Resumed." : "Paused.",
              )}
          >
            ${paused ? "Resume" : "Pause"}
          </button>
        </div>
        <p class="muted small">
          ${status.failure && status.failure.retryAt
            ? `Next retry at ${when(status.failure.retryAt)}.`
            : "Retry skips the backoff of a failed run once."}
        </p>
      </div>
    </div>
    <div aria-live="polite">
      ${busy && html`<p class="muted">${busy}…</p>`}
      ${result &&
      (result.ok
        ? html`<p class="ok" role="status" data-testid="action-result">${result.text}</p>`
        : html`<p class="alert" role="alert" data-testid="action-error">${result.text}</p>`)}
    </div>
    ${preview &&
    html`<${Preview}
      preview=${preview}
      current=${status.currentVersion}
      busy=${busy}
      onConfirm=${confirm}
      onCancel=${() => setPreview(null)}
    />`}
  </${Section}>`;
}

function Preview({ preview, current, busy, onConfirm, onCancel }) {
  const steps = preview.steps || [];
  const down = preview.direction === "down";
  return html`<div class="preview" role="region" aria-label="Preview">
    <h3>
      ${`Preview: ${preview.from || current || "none"} → ${preview.target} `}<${Badge}
        tone=${down ? "wait" : preview.direction === "none" ? "muted" : "busy"}
        label=${down ? "roll back (down)" : preview.direction === "none" ? "no change" : "up"}
      />
    </h3>
    ${preview.refused &&
    html`<p class="alert" role="alert" data-testid="preview-refused">
      Refused: ${preview.refused}
    </p>`}
    <ol class="steps" data-testid="preview-steps">
      ${steps.length === 0 && html`<li class="muted">No step: the database is already there.</li>`}
      ${steps.map(
        (step) => html`<li key=${`${step.direction}-${step.version}`} class="step">
          <div>
            <${Badge} tone=${step.direction === "down" ? "wait" : "busy"} label=${step.direction} />
            <strong> ${step.version}</strong> ${step.description}
            ${step.source === "recorded"
              ? html` <span class="tag" title="The SchemaMigration is gone: the down SQL recorded in the database's history runs"
                  >recorded down SQL</span
                >`
              : ""}
          </div>
          ${step.note && html`<p class="note small" data-testid=${`preview-note-${step.version}`}>${step.note}</p>`}
          ${(step.destructive || []).length > 0 &&
          html`<div class="destructive">
            <strong>Destructive policy:</strong>
            <ul>
              ${step.destructive.map((d) => html`<li>${d}</li>`)}
            </ul>
          </div>`}
          ${step.sql &&
          html`<details>
            <summary>SQL</summary>
            <${SqlWithFindings} sql=${step.sql} findings=${[]} label=${`SQL of ${step.version}`} />
          </details>`}
        </li>`,
      )}
    </ol>
    <div class="buttons">
      <button
        type="button"
        class=${down ? "danger" : "primary"}
        data-testid="confirm-button"
        disabled=${Boolean(busy) || Boolean(preview.refused)}
        onClick=${onConfirm}
      >
        ${down ? `Roll back to ${preview.target}` : `Set target to ${preview.target}`}
      </button>
      <button type="button" onClick=${onCancel}>Cancel</button>
    </div>
  </div>`;
}

function rollbackTo(version) {
  window.dispatchEvent(new CustomEvent("schemaop-rollback", { detail: version }));
}

// -- sections ----------------------------------------------------------------------------

function Failure({ failure }) {
  return html`<${Section} title="Last failure" id="failure">
    <div class="error-box">
      <p>
        <strong>${failure.sqlstate ? `SQLSTATE ${failure.sqlstate}` : "Error"}</strong>
        ${failure.version ? ` in version ${failure.version}` : ""}
        ${failure.line ? `, line ${failure.line}` : ""}${`: ${failure.message}`}
      </p>
      ${failure.statement &&
      html`<${StatementWithPosition}
        statement=${failure.statement}
        position=${failure.position ? { offset: failure.position } : null}
      />`}
      <p class="muted small">
        ${failure.attempts ? `${failure.attempts} attempt(s). ` : ""}
        ${failure.retryAt ? `Next retry at ${when(failure.retryAt)}.` : ""}
      </p>
    </div>
  </${Section}>`;
}

function DataMigration({ dm }) {
  return html`<${Section} title="Data migration" id="datamig">
    <p>
      ${`Version ${dm.version} (${dm.direction}): ${dm.progress || `${dm.percent ?? 0}%`}, `}
      ${`${dm.rowsDone ?? 0} rows in ${dm.batchesDone ?? 0} batches`}
      ${dm.rowsTotalEstimate ? ` of about ${dm.rowsTotalEstimate} rows` : ""}
      ${dm.eta ? `, about ${dm.eta} left` : ""}${dm.paused ? " (paused)" : ""}.
    </p>
    ${dm.percent !== undefined &&
    html`<progress max="100" value=${dm.percent} aria-label="Data migration progress"></progress>`}
    ${dm.throttleReason && html`<p class="note">Slowed down: ${dm.throttleReason}</p>`}
    ${dm.lastError &&
    html`<p class="alert">
      Last failed batch: SQLSTATE ${dm.lastError.sqlstate}: ${dm.lastError.message}
    </p>`}
  </${Section}>`;
}

function findingsFor(migration, direction) {
  return (migration.lint || []).filter((f) => (f.direction || "up") === direction);
}

function Plan({ sv, migrations }) {
  const plan = (sv.status && sv.status.plan) || null;
  if (!plan || !(plan.steps || []).length)
    return html`<${Section} title="Plan" id="plan"><${Empty}>No plan: nothing to do.</${Empty}></${Section}>`;
  const byVersion = new Map(migrations.map((m) => [m.spec.version, m]));
  const lint = plan.lint || {};
  return html`<${Section} title="Plan" id="plan">
    <p>
      ${`${plan.fromVersion || "none"} → ${plan.toVersion} (${plan.direction}), hash `}
      <${Hash} value=${plan.hash} />
      ${" "}${plan.approved
        ? html`<${Badge} tone="good" label="Approved" />`
        : approvalWaiting(sv)
          ? html`<${Badge} tone="wait" label="Waiting for approval" />`
          : ""}
      ${lint.errors || lint.warnings
        ? html` <span class="muted">lint: ${lint.errors || 0} error(s), ${lint.warnings || 0} warning(s)</span>`
        : ""}
    </p>
    ${plan.truncatedSteps ? html`<p class="note">${plan.truncatedSteps} more step(s) not listed.</p>` : ""}
    <ol class="steps">
      ${plan.steps.map((step) => {
        const migration = byVersion.get(step.version);
        const sql = migration ? (step.direction === "down" ? migration.spec.down : migration.spec.up) : "";
        return html`<li key=${`${step.direction}-${step.version}`} class="step">
          <div>
            <${Badge} tone=${step.direction === "down" ? "wait" : "busy"} label=${step.direction} />
            <strong> ${step.version}</strong> ${step.description}
            ${step.transactional === false ? html` <span class="tag">non-transactional</span>` : ""}
            ${step.batched ? html` <span class="tag">batched</span>` : ""}
            ${step.source === "recorded" ? html` <span class="tag">recorded down SQL</span>` : ""}
          </div>
          ${sql
            ? html`<${SqlWithFindings}
                sql=${sql}
                findings=${findingsFor(migration, step.direction)}
                label=${`SQL of ${step.direction} ${step.version}`}
              />`
            : html`<p class="muted small">
                The SQL of this step is not in a SchemaMigration${step.source === "recorded"
                  ? " (it is the down SQL recorded in the database's history)"
                  : ""}.
              </p>`}
        </li>`;
      })}
    </ol>
  </${Section}>`;
}

function Runs({ ns, runs, lastJob }) {
  const running = lastJob && lastJob.result === "Running" && !runs.some((r) => r.job === lastJob.name);
  return html`<${Section} title="Runs" id="runs">
    ${running &&
    html`<p class="note">
      <${Badge} tone="busy" label="Running" />${` Job ${lastJob.name} since ${when(lastJob.startedAt)}: `}<${Link} href=${pages.job(ns, lastJob.name)} data-testid="live-log-link">follow its log live</${Link}>
    </p>`}
    ${runs.length === 0
      ? html`<${Empty}>No run recorded yet.</${Empty}>`
      : html`<table class="grid">
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Outcome</th>
              <th scope="col">Versions</th>
              <th scope="col">Trigger</th>
              <th scope="col">Started</th>
              <th scope="col">Duration</th>
              <th scope="col">Plan</th>
            </tr>
          </thead>
          <tbody>
            ${runs.map(
              (run) => html`<tr key=${run.name} data-testid=${`run-row-${run.name}`}>
                <td><${Link} href=${pages.run(ns, run.name)}>${run.name}</${Link}>
                  <div class="muted small">attempt ${run.attempt ?? "?"}</div></td>
                <td>
                  <${Badge} tone=${outcomeTone(run.outcome)} label=${run.outcome || "?"} />
                  ${run.outcomeReason && html`<div class="muted small">${run.outcomeReason}</div>`}
                </td>
                <td class="nowrap">${`${run.fromVersion || "none"} → ${run.toVersion || "?"}`}</td>
                <td>${triggerText(run.trigger)}</td>
                <td class="nowrap">${when(run.startTime)}</td>
                <td>${run.duration || ""}</td>
                <td><code title=${run.planHash}>${shortHash(run.planHash)}</code></td>
              </tr>`,
            )}
          </tbody>
        </table>`}
  </${Section}>`;
}

export function triggerText(trigger) {
  if (!trigger) return "";
  if (typeof trigger === "string") return trigger;
  return trigger.kind + (trigger.message ? `: ${trigger.message}` : "");
}

function Migrations({ migrations }) {
  const sorted = [...migrations].sort((a, b) => compareVersions(a.spec.version, b.spec.version));
  return html`<${Section} title="Migrations" id="migrations">
    ${sorted.length === 0
      ? html`<${Empty}>No SchemaMigration references this database.</${Empty}>`
      : html`<table class="grid">
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Description</th>
              <th scope="col">Applied</th>
              <th scope="col">When</th>
              <th scope="col">Checksum</th>
              <th scope="col">Lint</th>
              <th scope="col"><span class="sr-only">SQL and actions</span></th>
            </tr>
          </thead>
          <tbody>
            ${sorted.map((m) => html`<${MigrationRow} key=${m.spec.version} m=${m} />`)}
          </tbody>
        </table>`}
  </${Section}>`;
}

function MigrationRow({ m }) {
  const [open, setOpen] = useState(false);
  const status = m.status || {};
  const lint = m.lint || [];
  const errors = lint.filter((f) => f.severity === "error").length;
  const warnings = lint.filter((f) => f.severity === "warning").length;
  const id = `sql-${m.spec.version}`;
  return html`<tr>
      <td class="version">${m.spec.version}</td>
      <td>${m.spec.description || html`<span class="muted">${m.metadata.name}</span>`}</td>
      <td>
        ${status.applied
          ? html`<${Badge} tone="good" label="Applied" />`
          : html`<${Badge} tone="muted" label="Not applied" />`}
      </td>
      <td class="nowrap">${when(status.appliedAt)}</td>
      <td><code title=${status.checksum || ""}>${shortHash(status.checksum)}</code></td>
      <td>
        ${errors ? html`<${Badge} tone="bad" label=${`${errors} error(s)`} /> ` : ""}
        ${warnings ? html`<${Badge} tone="wait" label=${`${warnings} warning(s)`} />` : ""}
        ${!errors && !warnings ? html`<span class="muted">clean</span>` : ""}
      </td>
      <td class="nowrap">
        <button type="button" class="small" aria-expanded=${open ? "true" : "false"} aria-controls=${id}
          onClick=${() => setOpen(!open)}>${open ? "Hide SQL" : "Show SQL"}</button>
        ${status.applied
          ? html` <button type="button" class="small" onClick=${() => rollbackTo(m.spec.version)}>
              Roll back to ${m.spec.version}
            </button>`
          : ""}
      </td>
    </tr>
    ${open &&
    html`<tr id=${id} class="expanded">
      <td colspan="7">
        <h4>Up</h4>
        <${SqlWithFindings} sql=${m.spec.up} findings=${findingsFor(m, "up")} label=${`Up SQL of ${m.spec.version}`} />
        <h4>Down</h4>
        ${m.spec.down
          ? html`<${SqlWithFindings} sql=${m.spec.down} findings=${findingsFor(m, "down")} label=${`Down SQL of ${m.spec.version}`} />`
          : html`<p class="muted">No down SQL: rolling back past this version is refused.</p>`}
      </td>
    </tr>`}`;
}

function RollbackPoints({ points }) {
  return html`<${Section} title="Rollback points" id="rollback">
    ${points.length === 0
      ? html`<${Empty}>No rollback point recorded.</${Empty}>`
      : html`<table class="grid">
          <thead>
            <tr>
              <th scope="col">Kind</th>
              <th scope="col">Version</th>
              <th scope="col">Taken</th>
              <th scope="col">Where</th>
              <th scope="col"><span class="sr-only">Action</span></th>
            </tr>
          </thead>
          <tbody>
            ${points.map(
              (p, i) => html`<tr key=${i}>
                <td>${p.kind}</td>
                <td class="version">${p.version}</td>
                <td class="nowrap">${when(p.takenAt)}</td>
                <td><code>${p.ref}</code></td>
                <td>
                  ${p.version &&
                  html`<button type="button" class="small" onClick=${() => rollbackTo(p.version)}>
                    Roll back to ${p.version}
                  </button>`}
                </td>
              </tr>`,
            )}
          </tbody>
        </table>`}
  </${Section}>`;
}

function History({ history }) {
  return html`<${Section} title="History" id="history">
    ${history.length === 0
      ? html`<${Empty}>Nothing applied yet.</${Empty}>`
      : html`<table class="grid">
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Direction</th>
              <th scope="col">Status</th>
              <th scope="col">Description</th>
              <th scope="col">When</th>
              <th scope="col">Duration</th>
              <th scope="col">Plan</th>
            </tr>
          </thead>
          <tbody>
            ${history.map(
              (row, i) => html`<tr key=${i}>
                <td class="version">${row.version}</td>
                <td>${row.direction}</td>
                <td><${Badge} tone=${outcomeTone(row.status)} label=${row.status || "?"} /></td>
                <td>${row.description}</td>
                <td class="nowrap">${when(row.appliedAt)}</td>
                <td>${row.durationSeconds !== undefined ? `${Number(row.durationSeconds).toFixed(2)} s` : ""}</td>
                <td><code title=${row.planHash || ""}>${shortHash(row.planHash)}</code></td>
              </tr>`,
            )}
          </tbody>
        </table>`}
  </${Section}>`;
}

function Drift({ sv }) {
  const d = drift(sv);
  const c = condition(sv, "Drifted");
  return html`<${Section} title="Drift" id="drift">
    <p>
      <${Badge} tone=${d.tone} label=${d.label} testid="drift-status" />
      ${c && c.lastTransitionTime ? html` <span class="muted">since ${when(c.lastTransitionTime)}</span>` : ""}
    </p>
    ${d.message && html`<p class="message">${d.message}</p>`}
    <p class="muted small">
      Recorded schema fingerprint: <code>${(sv.status && sv.status.schemaHash) || "none"}</code>
    </p>
  </${Section}>`;
}

function Events({ events }) {
  return html`<${Section} title="Events" id="events">
    ${events.length === 0
      ? html`<${Empty}>No Event (Kubernetes keeps them about an hour).</${Empty}>`
      : html`<table class="grid">
          <thead>
            <tr>
              <th scope="col">Type</th>
              <th scope="col">Reason</th>
              <th scope="col">Message</th>
              <th scope="col">Count</th>
              <th scope="col">Last seen</th>
            </tr>
          </thead>
          <tbody>
            ${events.map(
              (e, i) => html`<tr key=${i}>
                <td><${Badge} tone=${e.type === "Warning" ? "bad" : "muted"} label=${e.type || "Normal"} /></td>
                <td>${e.reason}</td>
                <td class="message">${e.message}</td>
                <td class="num">${e.count ?? 1}</td>
                <td class="nowrap">${when(e.lastTimestamp)}</td>
              </tr>`,
            )}
          </tbody>
        </table>`}
  </${Section}>`;
}
