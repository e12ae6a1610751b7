// Reading a SchemaVersion's status (docs/operator.md "Conditions and reasons").

export function condition(sv, type) {
  const conditions = (sv && sv.status && sv.status.conditions) || [];
  return conditions.find((c) => c.type === type) || null;
}

function isTrue(sv, type) {
  const c = condition(sv, type);
  return Boolean(c && c.status === "True");
}

// One state for a person: its label (text, never colour alone), a tone for the
// colour, the reason and the message of the condition that decided it.
export function overall(sv) {
  const ready = condition(sv, "Ready");
  const pick = (label, tone, c) => ({
    label,
    tone,
    reason: (c && c.reason) || "",
    message: (c && c.message) || "",
  });
  if (isTrue(sv, "Stalled")) return pick("Stalled", "bad", condition(sv, "Stalled"));
  if (isTrue(sv, "Reconciling")) return pick("Reconciling", "busy", condition(sv, "Reconciling"));
  if (isTrue(sv, "ApprovalPending"))
    return pick("Waiting for approval", "wait", condition(sv, "ApprovalPending"));
  if (ready && ready.status === "True") return pick("Ready", "good", ready);
  if (ready && ready.reason === "Paused") return pick("Paused", "muted", ready);
  if (sv && sv.spec && sv.spec.paused) return pick("Paused", "muted", ready);
  if (ready) return pick("Not ready", "wait", ready);
  return pick("Unknown", "muted", null);
}

export function drift(sv) {
  const c = condition(sv, "Drifted");
  if (!c) return { label: "Not checked", tone: "muted", message: "" };
  if (c.status === "True") return { label: "Drifted", tone: "bad", message: c.message || "" };
  return { label: "In sync", tone: "good", message: c.message || "" };
}

export function approvalWaiting(sv) {
  const plan = (sv && sv.status && sv.status.plan) || null;
  if (isTrue(sv, "ApprovalPending")) return true;
  return Boolean(
    plan && plan.hash && plan.approved === false && sv.spec && sv.spec.approval === "Manual",
  );
}

export function key(sv) {
  return `${sv.metadata.namespace}/${sv.metadata.name}`;
}

export function outcomeTone(outcome) {
  switch (outcome) {
    case "Succeeded":
    case "applied":
    case "Applied":
      return "good";
    case "Failed":
    case "failed":
      return "bad";
    case "Running":
    case "running":
      return "busy";
    case "Stopped":
      return "wait";
    default:
      return "muted";
  }
}

export function shortHash(hash) {
  return hash ? String(hash).slice(0, 12) : "";
}

export function when(value) {
  if (!value) return "";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z").replace(/Z$/, " UTC");
}

export function ms(value) {
  if (value === undefined || value === null || value === "") return "";
  const n = Number(value);
  if (Number.isNaN(n)) return String(value);
  if (n < 1000) return `${n} ms`;
  if (n < 60000) return `${(n / 1000).toFixed(n < 10000 ? 2 : 1)} s`;
  const minutes = Math.floor(n / 60000);
  return `${minutes}m${Math.round((n % 60000) / 1000)}s`;
}

// Versions compare as dot-separated integers (model/version.py).
export function compareVersions(a, b) {
  const pa = String(a).split(".").map(Number);
  const pb = String(b).split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? -1;
    const y = pb[i] ?? -1;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
