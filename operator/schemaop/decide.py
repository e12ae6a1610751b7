"""What the operator does next for one SchemaVersion: facts in, decision out (pure).

The kopf handlers gather the facts (the resource, its SchemaMigrations, the
database's history read through a read-only connection, the Jobs it created)
and call :func:`decide`; it returns the conditions and status fields to write,
at most one Job to create, and when to look again. All policy lives here, so it
is unit-tested without a cluster or a database:

gates, in order: paused; an invalid migration set; a spec the operator cannot
use (values out of bounds, for objects admitted before a CRD upgrade); the Job
policy (image, ServiceAccount, snapshot volume type, pod annotations: the
operator's configuration, not the SchemaVersion author's); the Secret; the
database; a running Job; the planner's refusals (checksum mismatch, missing
down step, dirty database); the lint policy; manual approval; then the Job for
the plan, whose failures are retried with capped exponential backoff when the
cause is transient and wait for a spec change when it is not.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from schemaop.kube.builders import LABEL_ATTEMPT, LABEL_PLAN
from schemaop.model import conditions as cond
from schemaop.model.conditions import Condition, Reason
from schemaop.model.duration import (
    DRIFT_CHECK_INTERVAL,
    FIELDS,
    LOCK_TIMEOUT,
    STATEMENT_TIMEOUT,
    InvalidDuration,
)
from schemaop.model.history import DatabaseState
from schemaop.model.jobpolicy import JobPolicy
from schemaop.model.jobpolicy import check as check_job_policy
from schemaop.model.migration import InvalidMigrationSet, Migration, MigrationSet
from schemaop.model.names import ANNOTATION_APPROVED_PLAN
from schemaop.model.plan import InvalidPlan, Plan, RunOptions
from schemaop.model.run import RunError, RunSummary
from schemaop.model.version import InvalidVersion, Version
from schemaop.planner import PlanRefused, plan

# Retry backoff for transient failures: 10 s, 20 s, 40 s ... capped at 5 minutes.
BACKOFF_BASE = 10.0
BACKOFF_CAP = 300.0
# How often a healthy resource is looked at again when nothing triggers it.
DEFAULT_RESYNC = 300.0
MAX_STATUS_STEPS = 50
MAX_HISTORY = 20
# Bounds of integer spec fields, as in schemas/schemaversion.json (a unit test compares).
LOCK_RETRIES = (1, 100)
ACTIVE_DEADLINE_SECONDS = (1, 2_592_000)
TTL_SECONDS_AFTER_FINISHED = (0, 2_147_483_647)


def backoff(attempt: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Delay before retry number ``attempt`` (1-based): capped exponential, never zero."""
    return float(min(cap, base * (2 ** max(0, attempt - 1))))


def job_finished(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The condition that says a Job has finished (``Complete`` or ``Failed``), or None."""
    for c in status.get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return cast("Mapping[str, Any]", c)
    return None


@dataclasses.dataclass(frozen=True)
class JobFacts:
    """One migration Job the operator created, as read from the API."""

    name: str
    plan_hash12: str
    attempt: int
    active: bool
    succeeded: bool
    failed: bool
    started_at: str | None = None
    finished_at: str | None = None
    # The Job's termination message: the engine's summary (None: no message).
    summary: RunSummary | None = None

    @classmethod
    def from_job(cls, job: Mapping[str, Any], message: str | None) -> JobFacts:
        meta, status = job["metadata"], job.get("status") or {}
        labels = meta.get("labels") or {}
        conds = {c.get("type"): c for c in status.get("conditions") or []}
        done = job_finished(status)
        return cls(
            name=meta["name"],
            plan_hash12=labels.get(LABEL_PLAN, ""),
            attempt=int(labels.get(LABEL_ATTEMPT, "1") or 1),
            active=done is None,
            succeeded=bool(conds.get("Complete", {}).get("status") == "True"),
            failed=bool(conds.get("Failed", {}).get("status") == "True"),
            started_at=status.get("startTime"),
            finished_at=status.get("completionTime")
            or (done.get("lastTransitionTime") if done else None),
            summary=RunSummary.from_json(message) if message else None,
        )


@dataclasses.dataclass(frozen=True)
class Facts:
    """Everything :func:`decide` needs, gathered by the handlers."""

    name: str
    namespace: str
    generation: int
    spec: Mapping[str, Any]
    annotations: Mapping[str, str]
    migrations: Sequence[Mapping[str, Any]]  # SchemaMigration objects
    now: dt.datetime
    status: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    secret_error: str | None = None
    # The Secret exists but lacks the labels of the operator's --secret-selector.
    secret_unlabelled: bool = False
    db_error: RunError | None = None  # why the database could not be read
    db_state: DatabaseState | None = None
    live_fingerprint: str | None = None
    jobs: Sequence[JobFacts] = ()
    # Rows of the database's snapshots table (engine.snapshot.list_snapshots).
    rollback_points: Sequence[Mapping[str, Any]] = ()
    # What the SchemaVersion may ask of its Job (operator configuration).
    job_policy: JobPolicy = dataclasses.field(default_factory=JobPolicy)
    # Destructive-change policy hook: (plan, migrations, policy) -> (plan, blocking
    # findings, lint summary). None when lint is not available.
    apply_policy: (
        Callable[[Plan, MigrationSet, str], tuple[Plan, list[dict[str, Any]], dict[str, Any]]]
        | None
    ) = None


@dataclasses.dataclass
class Decision:
    conditions: list[Condition]
    status: dict[str, Any]  # fields to set on status (besides conditions)
    create_job_for: tuple[Plan, int] | None = None  # (plan, attempt)
    requeue_after: float = DEFAULT_RESYNC
    # Per-migration facts for SchemaMigration status: name -> fields.
    migration_status: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)


def to_migrations(objects: Sequence[Mapping[str, Any]]) -> MigrationSet:
    """SchemaMigration objects -> a validated set (raises InvalidMigrationSet)."""
    items = []
    for obj in objects:
        spec, name = obj.get("spec") or {}, obj["metadata"]["name"]
        try:
            version = Version(str(spec.get("version", "")))
        except InvalidVersion as exc:
            raise InvalidMigrationSet(f"SchemaMigration {name}: {exc}") from exc
        items.append(
            Migration(
                version=version,
                description=str(spec.get("description", "")),
                up=str(spec.get("up", "")),
                down=spec.get("down"),
                transactional=bool(spec.get("transactional", True)),
                source=f"SchemaMigration {name}",
            )
        )
    return MigrationSet(items)


def run_options(spec: Mapping[str, Any]) -> RunOptions:
    """The plan's run options from a spec; raises InvalidSpec (see :func:`spec_problems`)."""
    snapshot = (spec.get("snapshot") or {}).get("policy", "Schema")
    try:
        return RunOptions(
            lock_timeout_ms=int(LOCK_TIMEOUT.parse(spec.get(LOCK_TIMEOUT.key)) or 0),
            retries=int(spec.get("lockRetries", 5)),
            statement_timeout_ms=STATEMENT_TIMEOUT.parse(spec.get(STATEMENT_TIMEOUT.key)),
            snapshot=snapshot,
            snapshot_dir="/var/lib/schemaop/snapshots" if snapshot == "Full" else None,
            schemas=tuple(spec.get("schemas") or ("public",)),
            history_schema=str(spec.get("historySchema", "schemaop")),
            allow_missing=bool(spec.get("allowMissingMigrations", False)),
        )
    except (InvalidPlan, TypeError, ValueError) as exc:
        raise InvalidSpec(str(exc)) from exc


class InvalidSpec(ValueError):
    """A spec value the operator cannot use (the CRD normally refuses it at admission)."""


def _int_in(spec: Mapping[str, Any], name: str, bounds: tuple[int, int], path: str) -> str | None:
    value = spec.get(name)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not (bounds[0] <= value <= bounds[1])
    ):
        return f"{path} must be an integer from {bounds[0]} to {bounds[1]}, not {value!r}"
    return None


def spec_problems(spec: Mapping[str, Any]) -> list[str]:
    """Every spec value out of the bounds the CRD sets, in words (empty: usable).

    The API server refuses these at admission; an object admitted before the CRDs
    were upgraded can still carry one, and must stall with a reason, not crash.
    """
    problems: list[str] = []
    for field in FIELDS:
        try:
            field.parse(spec.get(field.key))
        except InvalidDuration as exc:
            problems.append(str(exc))
    job = spec.get("job") or {}
    for problem in (
        _int_in(spec, "lockRetries", LOCK_RETRIES, "spec.lockRetries"),
        _int_in(
            job, "activeDeadlineSeconds", ACTIVE_DEADLINE_SECONDS, "spec.job.activeDeadlineSeconds"
        ),
        _int_in(
            job,
            "ttlSecondsAfterFinished",
            TTL_SECONDS_AFTER_FINISHED,
            "spec.job.ttlSecondsAfterFinished",
        ),
    ):
        if problem:
            problems.append(problem)
    snapshot = spec.get("snapshot") or {}
    if snapshot.get("policy") == "Full" and not snapshot.get("volume"):
        problems.append(
            "spec.snapshot.policy Full needs spec.snapshot.volume, where the dumps are written"
        )
    if not problems:
        try:
            run_options(spec)
        except InvalidSpec as exc:
            problems.append(str(exc))
    return problems


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _plan_status(p: Plan, approved: bool, lint: Mapping[str, Any] | None) -> dict[str, Any]:
    steps = [
        {
            "version": s.version.text,
            "direction": s.direction,
            "description": s.description,
            "transactional": s.transactional,
            "checksum": s.checksum,
        }
        for s in p.steps
    ]
    out: dict[str, Any] = {
        "hash": p.hash,
        "fromVersion": p.from_version.text if p.from_version else "",
        "toVersion": p.to_version.text if p.to_version else "",
        "direction": p.direction if p.direction in ("up", "down") else "none",
        "steps": steps[:MAX_STATUS_STEPS],
        "approved": approved,
    }
    if len(steps) > MAX_STATUS_STEPS:
        out["truncatedSteps"] = len(steps) - MAX_STATUS_STEPS
    if lint is not None:
        out["lint"] = dict(lint)
    return out


def _db_status(state: DatabaseState) -> dict[str, Any]:
    history = []
    for entry in state.recent[:MAX_HISTORY]:
        item: dict[str, Any] = {
            "version": entry.version.text,
            "direction": entry.direction,
            "status": entry.status,
            "description": entry.description,
        }
        if entry.applied_at:
            item["appliedAt"] = _iso(entry.applied_at)
        if entry.duration_ms is not None:
            item["durationSeconds"] = round(entry.duration_ms / 1000.0, 3)
        if entry.plan_hash:
            item["planHash"] = entry.plan_hash
        history.append(item)
    return {
        "currentVersion": state.current_version.text if state.current_version else "",
        "dirty": state.dirty,
        "schemaHash": state.last_fingerprint or "",
        "history": history,
    }


def _job_error(job: JobFacts) -> RunError | None:
    return job.summary.error if job.summary is not None else None


def _failure_from(job: JobFacts) -> dict[str, Any]:
    error = _job_error(job)
    failure: dict[str, Any] = {
        "message": (error.message if error else "") or "the migration Job failed without a summary",
        "attempts": job.attempt,
    }
    if error is None:
        return failure
    for key, value in (
        ("version", error.version),
        ("sqlstate", error.sqlstate),
        ("statement", error.statement),
    ):
        if value:
            failure[key] = value[:2000]
    if error.position is not None:
        if error.position.offset is not None:
            failure["position"] = error.position.offset
        if error.position.line is not None:
            failure["line"] = error.position.line
    return failure


def _failure_message(failure: Mapping[str, Any]) -> str:
    parts = []
    if failure.get("version"):
        parts.append(f"migration {failure['version']} failed")
    else:
        parts.append("migration failed")
    if failure.get("sqlstate"):
        parts.append(f"SQLSTATE {failure['sqlstate']}")
    text = ", ".join(parts) + f": {failure.get('message', '')}"
    if failure.get("line"):
        text += f" (line {failure['line']})"
    if failure.get("statement"):
        text += f"; statement: {str(failure['statement'])[:300]}"
    return text


def decide(facts: Facts) -> Decision:
    """The next step for one SchemaVersion (see the module docstring)."""
    spec = facts.spec
    try:
        drift_interval = float(DRIFT_CHECK_INTERVAL.parse(spec.get("driftCheckInterval")) or 0)
        drift_interval /= 1000.0
    except InvalidDuration:
        drift_interval = DEFAULT_RESYNC
    target_text = str(spec.get("targetVersion", "latest"))
    status: dict[str, Any] = {}

    if spec.get("paused"):
        return Decision(cond.paused(), status, requeue_after=drift_interval)

    try:
        migrations = to_migrations(facts.migrations)
    except InvalidMigrationSet as exc:
        return Decision(cond.stalled(Reason.INVALID_MIGRATION_SET, str(exc)), status)

    problems = spec_problems(spec)
    if problems:
        return Decision(
            cond.stalled(
                Reason.INVALID_SPEC,
                "; ".join(problems) + ". Fix the SchemaVersion's spec; nothing runs until then.",
            ),
            status,
            requeue_after=drift_interval,
        )
    violations = check_job_policy(spec, facts.job_policy)
    if violations:
        return Decision(
            cond.stalled(
                Reason.JOB_POLICY_DENIED,
                "The operator's Job policy refuses this SchemaVersion, so no Job is created: "
                + "; ".join(str(v) for v in violations)
                + ". Change spec.job or spec.snapshot, or ask the operator's administrators "
                "to allow it.",
            ),
            status,
            requeue_after=drift_interval,
        )

    latest = migrations.latest
    status["targetVersion"] = (
        (latest.text if latest else "") if target_text == "latest" else target_text
    )
    previous_failure = dict(facts.status.get("failure") or {})
    attempts_so_far = int(previous_failure.get("attempts", 0) or 0)

    if facts.secret_error and facts.secret_unlabelled:
        # A person must label it (Stalled); Secrets are not watched in this mode (the
        # operator may not list them), so look again, more often than the usual cap.
        delay = backoff(attempts_so_far + 1, cap=60.0)
        status["failure"] = {"message": facts.secret_error, "attempts": attempts_so_far + 1}
        return Decision(
            cond.stalled(
                Reason.SECRET_NOT_LABELLED,
                f"{facts.secret_error} (checked again in {delay:.0f}s, or at once when this "
                "SchemaVersion changes)",
            ),
            status,
            requeue_after=delay,
        )
    if facts.secret_error:
        delay = backoff(attempts_so_far + 1)
        status["failure"] = {"message": facts.secret_error, "attempts": attempts_so_far + 1}
        return Decision(
            cond.progressing(
                Reason.SECRET_NOT_FOUND,
                f"{facts.secret_error}; create or fix it (schemaop watches it and retries, "
                f"next in "
                f"{delay:.0f}s)",
            ),
            status,
            requeue_after=delay,
        )

    if facts.db_error is not None or facts.db_state is None:
        error = facts.db_error or RunError(
            "database state unknown", reason=Reason.DATABASE_UNREACHABLE, retryable=True
        )
        delay = backoff(attempts_so_far + 1)
        status["failure"] = {
            "message": error.message,
            "attempts": attempts_so_far + 1,
            **({"sqlstate": error.sqlstate} if error.sqlstate else {}),
        }
        # Credentials the database refuses need a person; anything else that keeps the
        # database from being read is shown as unreachable and looked at again.
        reason = (
            Reason.AUTHENTICATION_FAILED
            if error.reason is Reason.AUTHENTICATION_FAILED
            else Reason.DATABASE_UNREACHABLE
        )
        message = f"{error.message}; retrying in {delay:.0f}s"
        conditions = (
            cond.stalled(reason, message)
            if reason == Reason.AUTHENTICATION_FAILED
            else cond.progressing(reason, message)
        )
        return Decision(conditions, status, requeue_after=delay)

    state = facts.db_state
    status.update(_db_status(state))
    status["rollbackPoints"] = [
        {
            "kind": str(p.get("kind", "")),
            "ref": str(p.get("location", "")),
            "version": str(p.get("version") or ""),
            "fingerprint": str(p.get("fingerprint") or ""),
            "takenAt": str(p.get("takenAt", "")),
        }
        for p in list(facts.rollback_points)[-MAX_HISTORY:][::-1]
    ]
    applied = {a.version for a in state.applied}
    migration_status: dict[str, dict[str, Any]] = {}
    for obj in facts.migrations:
        version = _version_of(obj)
        found = migrations.get(version) if version is not None else None
        if version is None or found is None:
            continue
        migration_status[obj["metadata"]["name"]] = {
            "applied": version in applied,
            "checksum": found.checksum,
            "observedGeneration": int(obj["metadata"].get("generation", 1)),
        }

    # A Job still running for this database: wait for it, whatever the plan now is.
    running = [j for j in facts.jobs if j.active]
    if running:
        job = max(running, key=lambda j: j.attempt)
        status["lastJob"] = {"name": job.name, "planHash": job.plan_hash12, "result": "Running"}
        if job.started_at:
            status["lastJob"]["startedAt"] = job.started_at
        return Decision(
            cond.progressing(Reason.MIGRATING, f"Job {job.name} is running"),
            status,
            requeue_after=30.0,
            migration_status=migration_status,
        )

    if not facts.migrations and not state.applied:
        # Nothing declared and nothing applied: most likely the SchemaVersion arrived
        # before its SchemaMigrations (one kubectl apply, one GitOps sync). Not Ready:
        # "at version 0" would read as healthy to Argo CD and Flux for that moment.
        return Decision(
            cond.progressing(Reason.NO_MIGRATIONS),
            status,
            requeue_after=drift_interval,
            migration_status=migration_status,
        )

    try:
        options = run_options(spec)
    except InvalidPlan as exc:
        return Decision(cond.stalled(Reason.INVALID_SPEC, f"spec: {exc}"), status)
    try:
        the_plan = plan(migrations, state, target_text, options=options)
    except PlanRefused as refusal:
        reason = refusal.reason
        message = refusal.message
        if reason is Reason.MISSING_MIGRATION:
            # The usual cause on a cluster: a Helm rollback or a GitOps prune deleted them.
            message += (
                ". If a Helm rollback or a GitOps prune deleted their SchemaMigrations, apply "
                "them again, and keep them from now on (helm.sh/resource-policy: keep, "
                "Argo CD Prune=false, Flux prune: disabled; see docs/install.md)"
            )
        return Decision(
            cond.stalled(reason, message),
            status,
            requeue_after=drift_interval,
            migration_status=migration_status,
        )

    status["pending"] = len(the_plan.steps)
    last_job = _last_job_status(facts.jobs)
    if last_job:
        status["lastJob"] = last_job

    if not the_plan.steps:
        status["plan"] = None
        status["failure"] = None
        conditions = cond.ready(
            f"The database is at version {status['currentVersion'] or '0 (empty)'}."
        )
        if facts.live_fingerprint and state.last_fingerprint:
            drifted = facts.live_fingerprint != state.last_fingerprint
            conditions.append(
                cond.drift(
                    drifted,
                    (
                        f"The live schema (fingerprint {facts.live_fingerprint[:12]}) differs from "
                        "the one recorded after the last migration "
                        f"({state.last_fingerprint[:12]}); "
                        "someone changed it outside schemaop. schemaop does not change it back: "
                        "turn the change into a migration, or revert it by hand."
                    )
                    if drifted
                    else None,
                )
            )
        return Decision(
            conditions, status, requeue_after=drift_interval, migration_status=migration_status
        )

    # Lint policy gate (and the Backup/Rename rewrite).
    lint_summary: dict[str, Any] | None = None
    if facts.apply_policy is not None:
        policy = str(spec.get("destructive", "Block"))
        the_plan, blocking, lint_summary = facts.apply_policy(the_plan, migrations, policy)
        if blocking:
            status["plan"] = _plan_status(the_plan, False, lint_summary)
            listing = "; ".join(
                f"{b.get('version', '?')}: {b.get('code', '')} {b.get('message', '')}"
                for b in blocking[:5]
            )
            return Decision(
                cond.stalled(
                    Reason.DESTRUCTIVE_CHANGE,
                    f"{cond.MESSAGES[Reason.DESTRUCTIVE_CHANGE]} Findings: {listing}",
                ),
                status,
                requeue_after=drift_interval,
                migration_status=migration_status,
            )

    approved = spec.get("approval", "Automatic") != "Manual" or (
        facts.annotations.get(ANNOTATION_APPROVED_PLAN, "").strip()
        in (the_plan.hash, the_plan.short_hash)
    )
    status["plan"] = _plan_status(the_plan, approved, lint_summary)
    if not approved:
        return Decision(
            cond.waiting_for_approval(the_plan.hash, namespace=facts.namespace, name=facts.name),
            status,
            requeue_after=drift_interval,
            migration_status=migration_status,
        )

    # The Job for this plan: first attempt, wait for a retry, or stop.
    mine = sorted(
        (j for j in facts.jobs if j.plan_hash12 == the_plan.short_hash), key=lambda j: j.attempt
    )
    if not mine:
        status["failure"] = None
        return Decision(
            cond.progressing(Reason.MIGRATING, _describe_plan(the_plan)),
            status,
            create_job_for=(the_plan, 1),
            requeue_after=30.0,
            migration_status=migration_status,
        )
    last = mine[-1]
    failure = (
        _failure_from(last)
        if last.failed
        else {
            "message": "the migration Job succeeded but the database is not at its target yet",
            "attempts": last.attempt,
        }
    )
    # Whether another attempt can help was decided once, by the engine's classifier
    # (schemaop.engine.errors), and travels in the summary; a Job that failed without
    # saying why is not retried, one that succeeded short of the target is.
    job_error = _job_error(last)
    retryable = job_error.retryable if job_error is not None else not last.failed
    if not retryable:
        status["failure"] = failure
        return Decision(
            cond.stalled(
                Reason.MIGRATION_FAILED,
                _failure_message(failure)
                + ". The database is unchanged by the failed step. Fix the migration (a new "
                "SchemaMigration version, or delete and recreate the broken one) to continue.",
            ),
            status,
            requeue_after=drift_interval,
            migration_status=migration_status,
        )
    delay = backoff(last.attempt)
    finished = _parse_time(last.finished_at) or facts.now
    retry_at = finished + dt.timedelta(seconds=delay)
    failure["retryAt"] = _iso(retry_at)
    status["failure"] = failure
    if facts.now < retry_at:
        return Decision(
            cond.progressing(
                Reason.RETRYING,
                f"{_failure_message(failure)}; attempt {last.attempt + 1} at {failure['retryAt']}",
            ),
            status,
            requeue_after=max(1.0, (retry_at - facts.now).total_seconds()),
            migration_status=migration_status,
        )
    return Decision(
        cond.progressing(
            Reason.MIGRATING, _describe_plan(the_plan) + f" (attempt {last.attempt + 1})"
        ),
        status,
        create_job_for=(the_plan, last.attempt + 1),
        requeue_after=30.0,
        migration_status=migration_status,
    )


def _version_of(obj: Mapping[str, Any]) -> Version | None:
    try:
        return Version(str((obj.get("spec") or {}).get("version", "")))
    except InvalidVersion:
        return None


def _describe_plan(p: Plan) -> str:
    frm = p.from_version.text if p.from_version else "0"
    to = p.to_version.text if p.to_version else "0"
    return (
        f"Migrating {p.direction} from {frm} to {to}: {len(p.steps)} step(s), plan {p.short_hash}"
    )


def _last_job_status(jobs: Sequence[JobFacts]) -> dict[str, Any] | None:
    if not jobs:
        return None
    job = max(jobs, key=lambda j: (j.finished_at or j.started_at or "", j.attempt))
    out: dict[str, Any] = {
        "name": job.name,
        "planHash": job.plan_hash12,
        "result": "Running" if job.active else ("Succeeded" if job.succeeded else "Failed"),
    }
    if job.started_at:
        out["startedAt"] = job.started_at
    if job.finished_at:
        out["finishedAt"] = job.finished_at
    if job.failed:
        out["message"] = _failure_message(_failure_from(job))[:1000]
    return out
