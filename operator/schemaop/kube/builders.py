"""Pure builders of the Kubernetes objects the operator creates (no I/O).

A migration run is an immutable ConfigMap holding the plan and a Job that runs
``schemaop job run --plan``; both are named from the SchemaVersion's name and
the plan's hash (plus the retry attempt for the Job), and owned by the
SchemaVersion, so a restarted operator computes the same names, finds what it
created before, and never starts a second Job for the same plan and attempt.

Credentials reach the Job only through ``secretKeyRef`` env vars: the plan, the
Job's args and its annotations never hold a secret.

A plan larger than one ConfigMap can hold (the API server refuses more than
1 MiB) is cut into parts, one ConfigMap each (``<name>-plan-<hash>``,
``...-2``, ...), all projected into the one plan directory; the Job then reads
the directory (``--plan DIR`` joins ``plan.json.000``, ``plan.json.001`` ... in
order). A plan that fits keeps the single ``plan.json``.

The Job is built as the operator's Job policy allows (:mod:`schemaop.model.jobpolicy`;
:func:`schemaop.decide.decide` refuses a SchemaVersion that asks for more before
any builder runs): no API token unless its ServiceAccount is one the policy lets
talk to the API, and the same confinement as the operator's own container.

When a Job has finished, :func:`build_run_record` makes its durable record, a
``SchemaMigrationRun`` (see "Run records" below): bounded in size, secrets masked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Final

from schemaop import redaction
from schemaop.model.jobpolicy import JobPolicy
from schemaop.model.names import (
    ANNOTATION_RETRY_REQUESTED,
    API_VERSION,
    EXIT_STOPPED,
    GROUP,
    REQUIRE_AUTH_SCRAM,
)
from schemaop.model.plan import Plan
from schemaop.model.run import MAX_RUN_STATEMENTS, RunSummary, bounded_steps, ended_silently

LABEL_SCHEMAVERSION: Final = f"{GROUP}/schemaversion"
LABEL_PLAN: Final = f"{GROUP}/plan"
LABEL_ATTEMPT: Final = f"{GROUP}/attempt"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_OUTCOME: Final = f"{GROUP}/outcome"
# On a Job: what made the operator start it (one of TRIGGERS), for its run record.
ANNOTATION_TRIGGER: Final = f"{GROUP}/trigger"
ANNOTATION_PLAN_HASH: Final = f"{GROUP}/plan-hash"
PLAN_KEY: Final = "plan.json"
PLAN_MOUNT: Final = "/etc/schemaop/plan"
CONTAINER: Final = "migrate"
# Bytes of plan JSON per ConfigMap: under the API server's 1 MiB for data and keys,
# with room for the object's metadata.
PLAN_PART_BYTES: Final = 900 * 1024
SNAPSHOT_MOUNT: Final = "/var/lib/schemaop/snapshots"
# The most of a retry request (annotation schemaop.io/retry-requested) a Job carries.
RETRY_REQUEST_MAX: Final = 256


def dns_name(*parts: str, max_len: int = 63) -> str:
    """A DNS-1123 label from parts; a long one is cut and made unique by a hash."""
    name = "-".join(p.strip("-").lower() for p in parts if p)
    if len(name) <= max_len:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: max_len - 9].rstrip('-')}-{digest}"


def plan_configmap_name(schemaversion: str, plan_hash: str) -> str:
    return dns_name(schemaversion, "plan", plan_hash[:12], max_len=253)


def job_name(schemaversion: str, plan_hash: str, attempt: int) -> str:
    # Job names feed the pods' job-name label: 63 characters at most.
    return dns_name(schemaversion, plan_hash[:10], str(attempt))


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    meta = owner["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": "SchemaVersion",
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controlled_by(obj: Mapping[str, Any], uid: str) -> bool:
    """Whether ``obj``'s controller (its ownerReference with controller: true) is the
    object with ``uid``: labels can be copied by anyone who may create the kind in
    the namespace, the UID of the controller cannot be chosen."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return bool(uid) and any(r.get("controller") and r.get("uid") == uid for r in refs)


def _labels(schemaversion: str, plan_hash: str) -> dict[str, str]:
    return {
        LABEL_SCHEMAVERSION: schemaversion,
        LABEL_PLAN: plan_hash[:12],
        LABEL_MANAGED_BY: "schemaop",
    }


def plan_parts(plan: Plan, part_bytes: int = PLAN_PART_BYTES) -> list[str]:
    """The plan's JSON cut into parts of at most ``part_bytes`` UTF-8 bytes (one if it fits).

    Cuts fall between characters, never inside one, so each part is valid text.
    """
    text = plan.to_json()
    data = text.encode()
    if len(data) <= part_bytes:
        return [text]
    parts, start = [], 0
    while start < len(data):
        end = min(start + part_bytes, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # a UTF-8 continuation byte
            end -= 1
        parts.append(data[start:end].decode())
        start = end
    return parts


def plan_part_key(index: int) -> str:
    return f"{PLAN_KEY}.{index:03d}"


def plan_part_names(schemaversion: str, plan_hash: str, count: int) -> list[str]:
    first = plan_configmap_name(schemaversion, plan_hash)
    return [first] + [
        dns_name(schemaversion, "plan", plan_hash[:12], str(i + 1), max_len=253)
        for i in range(1, count)
    ]


def build_plan_configmaps(
    schemaversion: Mapping[str, Any], plan: Plan, part_bytes: int = PLAN_PART_BYTES
) -> list[dict[str, Any]]:
    """The immutable ConfigMap(s) holding the plan: one, or one per part of a large plan."""
    meta = schemaversion["metadata"]
    parts = plan_parts(plan, part_bytes)
    names = plan_part_names(meta["name"], plan.hash, len(parts))
    out = []
    for i, (name, part) in enumerate(zip(names, parts, strict=True)):
        out.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": name,
                    "namespace": meta["namespace"],
                    "labels": _labels(meta["name"], plan.hash),
                    "ownerReferences": [owner_reference(schemaversion)],
                },
                "immutable": True,
                "data": {PLAN_KEY if len(parts) == 1 else plan_part_key(i): part},
            }
        )
    return out


def build_plan_configmap(schemaversion: Mapping[str, Any], plan: Plan) -> dict[str, Any]:
    """The plan's one ConfigMap (a plan that fits; see :func:`build_plan_configmaps`)."""
    return build_plan_configmaps(schemaversion, plan)[0]


def _plan_volume(schemaversion: str, plan_hash: str, parts: int) -> tuple[dict[str, Any], str]:
    """The plan volume and the ``--plan`` argument for a plan of ``parts`` ConfigMaps."""
    names = plan_part_names(schemaversion, plan_hash, parts)
    if parts == 1:
        return {"name": "plan", "configMap": {"name": names[0]}}, f"{PLAN_MOUNT}/{PLAN_KEY}"
    sources = [{"configMap": {"name": name}} for name in names]
    return {"name": "plan", "projected": {"sources": sources}}, PLAN_MOUNT


def connection_env(connection: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Env vars that give the Job its database, secrets by reference only.

    ``urlFrom`` becomes ``DATABASE_URL``; host/port/dbname/user/sslmode become
    libpq's own ``PG*`` variables, with ``PGPASSWORD`` from ``passwordFrom``.
    """
    if "urlFrom" in connection:
        ref = connection["urlFrom"]["secretKeyRef"]
        return [_secret_env("DATABASE_URL", ref)]
    env = [
        {"name": "PGHOST", "value": str(connection["host"])},
        {"name": "PGPORT", "value": str(connection.get("port", 5432))},
        {"name": "PGDATABASE", "value": str(connection["dbname"])},
        {"name": "PGUSER", "value": str(connection["user"])},
    ]
    if connection.get("sslmode"):
        env.append({"name": "PGSSLMODE", "value": str(connection["sslmode"])})
    if "passwordFrom" in connection:
        env.append(_secret_env("PGPASSWORD", connection["passwordFrom"]["secretKeyRef"]))
        # The host is the SchemaVersion's: send the password only by SCRAM (libpq 16+
        # reads PGREQUIREAUTH; the engine refuses to connect with an older libpq).
        env.append({"name": "PGREQUIREAUTH", "value": REQUIRE_AUTH_SCRAM})
    return env


def _secret_env(name: str, ref: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": ref["name"], "key": ref["key"]}}}


def retry_request(obj: Mapping[str, Any]) -> str:
    """The retry request (annotation ``schemaop.io/retry-requested``) an object carries,
    as a Job keeps it (clipped); empty when none."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(ANNOTATION_RETRY_REQUESTED) or "").strip()[:RETRY_REQUEST_MAX]


def build_job(
    schemaversion: Mapping[str, Any],
    plan: Plan,
    attempt: int,
    policy: JobPolicy,
    plan_parts_count: int = 1,
) -> dict[str, Any]:
    """The migration Job for one plan and attempt (``plan_parts_count`` plan ConfigMaps)."""
    meta = schemaversion["metadata"]
    spec = schemaversion.get("spec", {})
    overrides: Mapping[str, Any] = spec.get("job", {}) or {}
    name = job_name(meta["name"], plan.hash, attempt)
    labels = {**_labels(meta["name"], plan.hash), LABEL_ATTEMPT: str(attempt)}
    pod_labels = {**dict(overrides.get("podLabels", {})), **labels}
    plan_volume, plan_arg = _plan_volume(meta["name"], plan.hash, plan_parts_count)
    volumes: list[dict[str, Any]] = [plan_volume, {"name": "tmp", "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [
        {"name": "plan", "mountPath": PLAN_MOUNT, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir for a read-only root
    ]
    snapshot = spec.get("snapshot", {}) or {}
    if snapshot.get("policy") == "Full" and snapshot.get("volume"):
        # The name last: the volume's own keys must not rename it away from its mount.
        volumes.append({**dict(snapshot["volume"]), "name": "snapshots"})
        mounts.append({"name": "snapshots", "mountPath": SNAPSHOT_MOUNT})
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": policy.image_for(spec),
        "imagePullPolicy": "IfNotPresent",
        "args": ["job", "run", "--plan", plan_arg],
        "env": [
            *connection_env(spec["connection"]),
            {"name": "SCHEMAOP_JOB", "value": name},
        ],
        "volumeMounts": mounts,
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if overrides.get("resources"):
        container["resources"] = dict(overrides["resources"])
    service_account = policy.service_account_for(spec)
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [container],
        "volumes": volumes,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        # A Job talks to PostgreSQL; an API token only for an account the policy names.
        "automountServiceAccountToken": policy.mounts_token(service_account),
    }
    if service_account:
        pod_spec["serviceAccountName"] = service_account
    if overrides.get("nodeSelector"):
        pod_spec["nodeSelector"] = dict(overrides["nodeSelector"])
    if overrides.get("tolerations"):
        pod_spec["tolerations"] = list(overrides["tolerations"])
    job_spec: dict[str, Any] = {
        # The operator retries with its own capped backoff (and a new attempt
        # number), so the Job itself does not retry unless asked to.
        "backoffLimit": int(overrides.get("backoffLimit", 0)),
        "template": {
            "metadata": {
                "labels": pod_labels,
                "annotations": dict(overrides.get("podAnnotations", {})),
            },
            "spec": pod_spec,
        },
    }
    # SIGTERM (a node drained, a pod evicted) stops a batched data migration between
    # two batches with EXIT_STOPPED: not a failure, a new pod continues from its position.
    job_spec["podFailurePolicy"] = {
        "rules": [
            {
                "action": "Ignore",
                "onExitCodes": {
                    "containerName": CONTAINER,
                    "operator": "In",
                    "values": [EXIT_STOPPED],
                },
            }
        ]
    }
    if overrides.get("activeDeadlineSeconds"):
        job_spec["activeDeadlineSeconds"] = int(overrides["activeDeadlineSeconds"])
    if overrides.get("ttlSecondsAfterFinished") is not None:
        job_spec["ttlSecondsAfterFinished"] = int(overrides["ttlSecondsAfterFinished"])
    annotations = {
        ANNOTATION_PLAN_HASH: plan.hash,
        ANNOTATION_TRIGGER: job_trigger(schemaversion, attempt),
    }
    requested = retry_request(schemaversion)
    if requested:
        # This Job answers that request: the same value never skips a backoff again.
        annotations[ANNOTATION_RETRY_REQUESTED] = requested
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner_reference(schemaversion)],
        },
        "spec": job_spec,
    }


# --- Run records ---------------------------------------------------------------
#
# One SchemaMigrationRun per finished Job attempt, written once by the operator and
# owned by the SchemaVersion. What Kubernetes keeps is bounded (the database's
# history table keeps the full record): long texts are clipped, the step list is
# capped, the log is its tail; whatever was cut is named in ``spec.clipped``.

RUN_PLURAL: Final = "schemamigrationruns"
RUN_KIND: Final = "SchemaMigrationRun"
#: How much of the Job pod's log a record keeps: its last lines, then its last bytes.
RUN_LOG_LINES: Final = 500
RUN_LOG_BYTES: Final = 64 * 1024
#: How many steps a record lists (failed steps are kept first).
RUN_STEPS: Final = 200
#: Characters kept of an error's message, detail and hint; and of its statement.
RUN_TEXT: Final = 4000
RUN_STATEMENT: Final = 8000
#: How many per-statement entries a record keeps over all its steps (failed steps'
#: first; a step whose statements are left out says how many in ``statementsOmitted``).
RUN_STATEMENTS: Final = MAX_RUN_STATEMENTS

TRIGGERS: Final = ("NewPlan", "Approval", "Retry", "Unknown")
_TRIGGER_MESSAGES: Final = {
    "NewPlan": "a new plan that needs no approval (a new migration or a changed target)",
    "Approval": "the plan was approved (annotation schemaop.io/approved-plan)",
    "Retry": "a retry after the previous attempt failed with a retryable error (after "
    "its backoff, or at once when asked with annotation schemaop.io/retry-requested)",
    "Unknown": "not recorded (the Job was created by an older operator)",
}


def job_trigger(schemaversion: Mapping[str, Any], attempt: int) -> str:
    """What starts a Job: a retry (attempt > 1, after the operator's backoff), the
    approval of a Manual plan (the operator starts one only once approved), or a
    new plan that needs none. One of :data:`TRIGGERS`."""
    if attempt > 1:
        return "Retry"
    if (schemaversion.get("spec") or {}).get("approval") == "Manual":
        return "Approval"
    return "NewPlan"


@dataclasses.dataclass(frozen=True)
class PodLog:
    """What the operator could read of a Job pod's log (``text`` None: nothing)."""

    pod: str | None = None
    text: str | None = None
    unavailable: str | None = None


def run_record_name(job: Mapping[str, Any]) -> str:
    """The record's name: the Job's, plus the start of its UID (a Job deleted by its TTL
    and created again under the same name is a second run with a record of its own)."""
    meta = job["metadata"]
    return dns_name(str(meta["name"]), str(meta.get("uid", ""))[:8], max_len=253)


def job_finished(status: Mapping[str, Any]) -> dict[str, Any] | None:
    """The condition that says a Job has finished (``Complete`` or ``Failed``, True),
    from its status; None while it runs."""
    for c in status.get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return dict(c)
    return None


def job_done(job: Mapping[str, Any]) -> dict[str, Any] | None:
    """:func:`job_finished` of a whole Job object."""
    return job_finished(job.get("status") or {})


def run_outcome(job: Mapping[str, Any], summary: RunSummary | None) -> str:
    """Succeeded; Failed (the engine said why, in its summary); or Stopped (ended from
    outside before the engine could say: deadline exceeded, pod killed or evicted)."""
    done = job_done(job) or {}
    if done.get("type") == "Complete":
        return "Succeeded"
    if done.get("reason") == "DeadlineExceeded":
        return "Stopped"
    if summary is None or summary.error is None or ended_silently(summary):
        return "Stopped"
    return "Failed"


#: Bytes before the kept tail that are masked with it: a secret cut by the final cut
#: is masked whole as long as it is shorter than this.
_LOG_MASK_MARGIN: Final = 16 * 1024


def _last_bytes(text: str, limit: int) -> tuple[str, bool]:
    """The last ``limit`` UTF-8 bytes of ``text`` (cut between characters), and whether
    anything was cut."""
    data = text.encode()
    if len(data) <= limit:
        return text, False
    start = len(data) - limit
    while start < len(data) and (data[start] & 0xC0) == 0x80:  # a continuation byte
        start += 1
    return data[start:].decode(), True


def clip_log(text: str, lines: int = RUN_LOG_LINES, limit: int = RUN_LOG_BYTES) -> tuple[str, bool]:
    """The log's last ``lines`` lines and last ``limit`` UTF-8 bytes, every remembered
    secret masked; and whether anything was cut.

    Masking happens before the final cut (on the tail and a margin before it), so
    that cut never leaves half a secret unmasked; the margin bounds the masking's
    cost whatever the size of the log."""
    kept = text.splitlines(keepends=True)
    clipped = len(kept) > lines
    text, cut = _last_bytes("".join(kept[-lines:]), limit + _LOG_MASK_MARGIN)
    text, cut_again = _last_bytes(redaction.scrub(text), limit)
    return text, clipped or cut or cut_again


def _clip_text(value: Any, limit: int, name: str, clipped: list[str]) -> Any:
    if isinstance(value, str) and len(value) > limit:
        clipped.append(name)
        return value[: limit - 3] + "..."
    return value


def _no_nulls(obj: Any) -> Any:
    """A copy without null values (a CRD field cannot hold null)."""
    if isinstance(obj, dict):
        return {k: _no_nulls(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_no_nulls(v) for v in obj]
    return obj


def run_summary_fields(summary: RunSummary, clipped: list[str]) -> dict[str, Any]:
    """``spec.summary`` of a record: the run summary without what the record holds
    elsewhere (plan hash, versions) or what it does not keep (snapshots, fingerprint),
    long texts clipped, at most :data:`RUN_STEPS` steps (the failed ones first), and
    the error's text scrubbed."""
    if summary.steps is not None:
        steps_kept, cut = bounded_steps(summary.steps)
        summary = dataclasses.replace(summary, steps=steps_kept)
        if cut:
            clipped.append("summary.steps.statements")
    data = summary.to_dict()
    out: dict[str, Any] = {
        k: data[k] for k in ("ok", "currentVersion", "applied", "skipped", "durationMs")
    }
    steps = list(data["steps"] or [])
    if len(steps) > RUN_STEPS:
        failed = [i for i, step in enumerate(steps) if step["status"] == "failed"][:RUN_STEPS]
        others = [i for i in range(len(steps)) if i not in set(failed)]
        keep = sorted(failed + others[: RUN_STEPS - len(failed)])
        out["stepsOmitted"] = len(steps) - len(keep)
        steps = [steps[i] for i in keep]
        clipped.append("summary.steps")
    if data["steps"] is not None:
        out["steps"] = [
            {**s, "description": _clip_text(s["description"], 256, "summary.steps", clipped)}
            for s in steps
        ]
    error = data["error"]
    if error is not None:
        for key in ("message", "detail", "hint"):
            error[key] = _clip_text(error[key], RUN_TEXT, f"summary.error.{key}", clipped)
        error["statement"] = _clip_text(
            error["statement"], RUN_STATEMENT, "summary.error.statement", clipped
        )
        if error.get("sqlstate") is not None:
            error["sqlstate"] = str(error["sqlstate"])[:5]
        out["error"] = error
    return dict(_no_nulls(redaction.scrub_messages(out)))


def summary_from_log(text: str | None, summary: RunSummary | None) -> RunSummary | None:
    """The full summary ``schemaop job run`` printed on stdout (one JSON line), when the
    log has it and it is the run the termination message describes; else ``summary``.

    The termination message is cut to 4 KB and never has the per-statement figures;
    the log's last line that is the same run's summary does. Read from the end; a line
    that is not JSON, or says another plan, outcome or version, is passed over.
    """
    if summary is None or not text:
        return summary
    for raw in reversed(text.splitlines()[-RUN_LOG_LINES:]):
        line = raw.strip()
        if not (line.startswith("{") and line.endswith("}")):
            continue
        full = RunSummary.from_json(line)
        same = (full.ok, full.plan_hash, full.current_version, full.applied, full.skipped) == (
            summary.ok,
            summary.plan_hash,
            summary.current_version,
            summary.applied,
            summary.skipped,
        )
        if same and full.plan_hash is not None:
            return full
    return summary


def parse_time(text: Any) -> dt.datetime | None:
    """An RFC 3339 timestamp of the API (``...Z``), or None when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """A duration for people: 0.4s, 12.3s, 3m4s, 2h5m."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60}s"
    return f"{whole // 3600}h{whole % 3600 // 60}m"


def _attempt(label: Any) -> int:
    text = str(label or "")
    return int(text) if text.isdigit() and 0 < len(text) < 6 and int(text) > 0 else 1


@dataclasses.dataclass(frozen=True)
class StoppedBy:
    """Why the operator itself stopped a Job that had not finished (it deletes it, so
    the Job never gets a Complete or Failed condition): the record's outcomeReason,
    a sentence for outcomeMessage, and when."""

    reason: str
    message: str
    at: str


def build_run_record(
    schemaversion: Mapping[str, Any],
    job: Mapping[str, Any],
    summary: RunSummary | None,
    log: PodLog,
    stopped: StoppedBy | None = None,
) -> dict[str, Any]:
    """The SchemaMigrationRun of one finished Job (its summary as the termination
    message says, and what could be read of its pod's log), or of one the operator
    stops (``stopped``: it is written before the Job is deleted)."""
    meta = schemaversion["metadata"]
    job_meta = job["metadata"]
    labels = job_meta.get("labels") or {}
    annotations = job_meta.get("annotations") or {}
    status = job.get("status") or {}
    done = job_done(job) or {}
    if stopped is not None:
        done = {"reason": stopped.reason, "lastTransitionTime": stopped.at}
    attempt = _attempt(labels.get(LABEL_ATTEMPT))
    outcome = "Stopped" if stopped is not None else run_outcome(job, summary)
    plan_hash = str(
        annotations.get(ANNOTATION_PLAN_HASH)
        or (summary.plan_hash if summary is not None else None)
        or labels.get(LABEL_PLAN, "")
    )
    trigger_kind = str(annotations.get(ANNOTATION_TRIGGER, ""))
    if trigger_kind not in TRIGGERS:
        trigger_kind = "Retry" if attempt > 1 else "Unknown"
    trigger: dict[str, Any] = {"kind": trigger_kind, "message": _TRIGGER_MESSAGES[trigger_kind]}
    if trigger_kind == "Approval" and plan_hash:
        trigger["approvedPlanHash"] = plan_hash
    clipped: list[str] = []
    spec: dict[str, Any] = {
        "schemaVersion": meta["name"],
        "job": {"name": job_meta["name"], "uid": job_meta.get("uid")},
        "planHash": plan_hash[:64] or None,
        "attempt": attempt,
        "trigger": trigger,
        "startTime": status.get("startTime"),
        "completionTime": status.get("completionTime") or done.get("lastTransitionTime"),
        "outcome": outcome,
        "outcomeReason": str(done.get("reason"))[:256] if done.get("reason") else None,
        "outcomeMessage": stopped.message[:1024] if stopped is not None else None,
    }
    started = parse_time(spec["startTime"])
    ended = parse_time(spec["completionTime"])
    if started is not None and ended is not None:
        spec["duration"] = human_duration(max(0.0, (ended - started).total_seconds()))
    if summary is not None:
        spec["fromVersion"] = summary.from_version
        spec["toVersion"] = summary.to_version
        spec["target"] = summary.target
        spec["summary"] = run_summary_fields(summary, clipped)
    record_log: dict[str, Any] = {
        "pod": log.pod,
        "unavailable": redaction.scrub(log.unavailable)[:1024] if log.unavailable else None,
    }
    if log.text is not None:
        record_log["tail"], log_clipped = clip_log(log.text)
        record_log["clipped"] = log_clipped
        if log_clipped:
            clipped.append("log")
    elif log.unavailable is None:
        record_log["unavailable"] = "the Job's pod was gone"
    spec["log"] = record_log
    if clipped:
        spec["clipped"] = sorted(set(clipped))[:16]
    return {
        "apiVersion": API_VERSION,
        "kind": RUN_KIND,
        "metadata": {
            "name": run_record_name(job),
            "namespace": meta["namespace"],
            "labels": {
                LABEL_SCHEMAVERSION: meta["name"],
                LABEL_PLAN: plan_hash[:12],
                LABEL_ATTEMPT: str(attempt),
                LABEL_OUTCOME: outcome,
                LABEL_MANAGED_BY: "schemaop",
            },
            "ownerReferences": [owner_reference(schemaversion)],
        },
        "spec": _no_nulls(spec),
    }


def _finished_at(record: Mapping[str, Any]) -> str:
    spec = record.get("spec") or {}
    meta = record.get("metadata") or {}
    return str(spec.get("completionTime") or meta.get("creationTimestamp") or "")


def runs_to_prune(records: Sequence[Mapping[str, Any]], limit: int) -> list[str]:
    """Names of the records beyond the newest ``limit`` (by completion time), oldest first."""
    ordered = sorted(records, key=lambda r: (_finished_at(r), r["metadata"]["name"]))
    return [r["metadata"]["name"] for r in ordered[: max(0, len(ordered) - limit)]]


def oldest_kept(records: Sequence[Mapping[str, Any]], limit: int) -> str | None:
    """The completion time below which a Job's record would be pruned at once (None
    while fewer than ``limit`` are kept): no record is written for such a Job."""
    if len(records) < limit:
        return None
    return min(_finished_at(r) for r in records)
