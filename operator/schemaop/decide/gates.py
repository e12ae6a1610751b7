"""The gates: what the operator does next for one SchemaVersion (pure).

:func:`decide` takes the facts the reconciler gathered and returns a
:class:`Decision`: the conditions, the status changes (mutators of
:mod:`schemaop.model.status`), at most one Job to create, and when to look again.
Gates, in order: paused; an invalid migration set; a spec the operator cannot
use (:mod:`schemaop.decide.spec`); the Job policy (image, ServiceAccount,
snapshot volume type, pod annotations: the operator's configuration, not the
SchemaVersion author's); the Secret (and the hosts a password Secret allows its
password to go to: :mod:`schemaop.decide.secrethosts`); the database; a running Job; the planner's
refusals (checksum mismatch, missing down step, dirty database); the lint
policy; manual approval; then the Job for the plan, whose failures are retried
with capped exponential backoff when the cause is transient and wait for a spec
change when it is not.

A Decision is never edited once made. What the reconciler learns by acting is a
second pure step that returns a new Decision: :func:`after_job_created`,
:func:`after_job_refused`, :func:`with_migration_lint`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from schemaop.decide.jobfacts import JobFacts, last_job_status
from schemaop.decide.spec import (
    run_options,
    spec_problems,
    to_migrations,
    version_of,
)
from schemaop.kube.builders import parse_time, retry_request
from schemaop.model import conditions as cond
from schemaop.model import status as st
from schemaop.model.batchprogress import BatchProgress
from schemaop.model.conditions import Condition, Reason
from schemaop.model.duration import DRIFT_CHECK_INTERVAL, InvalidDuration
from schemaop.model.history import DatabaseState
from schemaop.model.jobpolicy import JobPolicy
from schemaop.model.jobpolicy import check as check_job_policy
from schemaop.model.migration import InvalidMigrationSet, MigrationSet
from schemaop.model.names import ANNOTATION_APPROVED_PLAN, ANNOTATION_RETRY_REQUESTED
from schemaop.model.plan import InvalidPlan, Plan, recorded_down_note
from schemaop.model.run import RunError, RunSummary, ended_silently
from schemaop.model.status import (
    Failure,
    LastJob,
    MigrationLint,
    PlanLint,
    SchemaMigrationStatus,
    SchemaVersionStatus,
    StatusChange,
)
from schemaop.model.version import InvalidVersion, Version
from schemaop.planner import PlanRefused, plan

# Retry backoff for transient failures: 10 s, 20 s, 40 s ... capped at 5 minutes.
BACKOFF_BASE = 10.0
BACKOFF_CAP = 300.0
# How often a healthy resource is looked at again when nothing triggers it.
DEFAULT_RESYNC = 300.0
# How long a SchemaVersion whose Job the API server refused waits before a new look.
REFUSED_JOB_RESYNC = 300.0
# How often a running Job is looked at: with a batched step in progress (its progress is
# read then, engine.observe.read_progress), and otherwise (its end wakes the loop).
BATCHED_JOB_RESYNC = 10.0
RUNNING_JOB_RESYNC = 30.0


# Connection failures a retry cannot cure: the spec, the Secret or the database's
# set-up must change (Stalled, and looked at again with backoff).
# An unusable connection string (InvalidConnectionSecret) too: its own reason, never
# DatabaseUnreachable, so nobody waits for a network to heal.
_NEEDS_A_PERSON = frozenset(
    {Reason.AUTHENTICATION_FAILED, Reason.CONNECTION_POOLED, Reason.INVALID_CONNECTION_SECRET}
)


# Jobs of one plan in a row that may end without a summary (their process killed:
# OOM, kill -9, a lost node, an eviction) before a person is asked to look. Each is
# safe to follow with another: the next run plans again from the history it reads
# under the lock (a transactional step committed whole or not at all; a
# non-transactional one left its pending row, and the run refuses a dirty database).
# One that advanced its batched step first is not counted (a backfill longer than
# activeDeadlineSeconds goes on: _outcome_of_jobs, status.retry.progress).
MAX_SILENT_FAILURES = 3


def backoff(attempt: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Delay before retry number ``attempt`` (1-based): capped exponential, never zero."""
    return float(min(cap, base * (2 ** max(0, attempt - 1))))


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
    # Why the passwordFrom Secret's password must not go to spec.connection's host
    # (decide.secrethosts.host_problem); nothing was connected to.
    host_not_allowed: str | None = None
    db_error: RunError | None = None  # why the database could not be read
    db_state: DatabaseState | None = None
    live_fingerprint: str | None = None
    jobs: Sequence[JobFacts] = ()
    # Rows of the database's snapshots table (engine.snapshot.list_snapshots).
    rollback_points: Sequence[Mapping[str, Any]] = ()
    # The batched step in progress (or the last one) from the progress table, when the
    # reconciler read it (while a Job runs, to see a shown one end, once after a Job of
    # a plan with a batched step ended, as such a plan's first Job starts); None: not read.
    batch_progress: BatchProgress | None = None
    # Whether it was read: read and None is "no batched step" (a rollback removed it).
    batch_progress_read: bool = False
    # What the SchemaVersion may ask of its Job (operator configuration).
    job_policy: JobPolicy = dataclasses.field(default_factory=JobPolicy)
    # Destructive-change policy hook: (plan, migrations, policy) -> (plan, blocking
    # findings, lint summary). None when lint is not available.
    apply_policy: (
        Callable[[Plan, MigrationSet, str], tuple[Plan, list[dict[str, Any]], PlanLint]] | None
    ) = None


@dataclasses.dataclass(frozen=True)
class Decision:
    """The outcome of :func:`decide`; never edited (see the module docstring)."""

    conditions: Sequence[Condition]
    # Changes to the SchemaVersion's status besides conditions, applied in order by
    # the status writer to the status it read (model.status.apply).
    changes: Sequence[StatusChange]
    create_job_for: tuple[Plan, int] | None = None  # (plan, attempt)
    # Why that Job is started, for its MigrationStarted Event ("": a plain start or retry).
    job_note: str = ""
    # A Job to delete: spec.paused stops the Job of a batched step (its pod gets SIGTERM
    # and ends after the current batch; the progress table keeps the position).
    delete_job: str | None = None
    requeue_after: float = DEFAULT_RESYNC
    # Per-migration facts for SchemaMigration status: name -> fields.
    migration_status: Mapping[str, SchemaMigrationStatus] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "conditions", tuple(self.conditions))
        object.__setattr__(self, "changes", tuple(self.changes))

    @property
    def status(self) -> SchemaVersionStatus:
        """The status fields this decision sets, as they read on an empty status."""
        return st.apply({}, self.changes)

    @property
    def shows_progress(self) -> bool:
        """Whether it writes status.dataMigration from the progress read it was decided
        on (a decision that returned before that, e.g. a new connection refused or the
        migration set invalid, does not: the read is then not shown)."""
        return progress_shown in self.changes


def decide(facts: Facts) -> Decision:
    """The next step for one SchemaVersion (see the module docstring)."""
    spec = facts.spec
    try:
        drift_interval = float(DRIFT_CHECK_INTERVAL.parse(spec.get("driftCheckInterval")) or 0)
        drift_interval /= 1000.0
    except InvalidDuration:
        drift_interval = DEFAULT_RESYNC
    target_text = str(spec.get("targetVersion", "latest"))
    changes: list[StatusChange] = []

    facts = dataclasses.replace(facts, batch_progress=_live_progress(facts))
    if spec.get("paused"):
        return _paused(facts, drift_interval)
    # Not paused (any more): a new Job continues the batched step from its position.
    changes.append(st.set_data_migration_paused(False))

    try:
        migrations = to_migrations(facts.migrations)
    except InvalidMigrationSet as exc:
        return Decision(cond.stalled(Reason.INVALID_MIGRATION_SET, str(exc)), changes)

    problems = spec_problems(spec)
    if problems:
        return Decision(
            cond.stalled(
                Reason.INVALID_SPEC,
                "; ".join(problems) + ". Fix the SchemaVersion's spec; nothing runs until then.",
            ),
            changes,
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
            changes,
            requeue_after=drift_interval,
        )

    latest = migrations.latest
    changes.append(
        st.set_target_version(
            (latest.text if latest else "") if target_text == "latest" else target_text
        )
    )
    previous_failure = facts.status.get("failure") or {}
    attempts_so_far = int(previous_failure.get("attempts", 0) or 0)

    if facts.secret_error and facts.secret_unlabelled:
        # A person must label it (Stalled); Secrets are not watched in this mode (the
        # operator may not list them), so look again, more often than the usual cap.
        delay = backoff(attempts_so_far + 1, cap=60.0)
        changes.append(
            st.set_failure({"message": facts.secret_error, "attempts": attempts_so_far + 1})
        )
        return Decision(
            cond.stalled(
                Reason.SECRET_NOT_LABELLED,
                f"{facts.secret_error} (checked again in {delay:.0f}s, or at once when this "
                "SchemaVersion changes)",
            ),
            changes,
            requeue_after=delay,
        )
    if facts.host_not_allowed:
        # A person must act (the spec or the Secret's annotation); a change of either
        # triggers a reconciliation (the Secret is watched unless --secret-selector).
        delay = backoff(attempts_so_far + 1, cap=60.0)
        changes.append(
            st.set_failure({"message": facts.host_not_allowed, "attempts": attempts_so_far + 1})
        )
        return Decision(
            cond.stalled(Reason.HOST_NOT_ALLOWED, facts.host_not_allowed),
            changes,
            requeue_after=delay,
        )
    if facts.secret_error:
        delay = backoff(attempts_so_far + 1)
        changes.append(
            st.set_failure({"message": facts.secret_error, "attempts": attempts_so_far + 1})
        )
        return Decision(
            cond.progressing(
                Reason.SECRET_NOT_FOUND,
                f"{facts.secret_error}; create or fix it (schemaop watches it and retries, "
                f"next in "
                f"{delay:.0f}s)",
            ),
            changes,
            requeue_after=delay,
        )

    if facts.db_error is not None or facts.db_state is None:
        error = facts.db_error or RunError(
            "database state unknown", reason=Reason.DATABASE_UNREACHABLE, retryable=True
        )
        delay = backoff(attempts_so_far + 1)
        failure: Failure = {"message": error.message, "attempts": attempts_so_far + 1}
        if error.sqlstate:
            failure["sqlstate"] = error.sqlstate
        changes.append(st.set_failure(failure))
        # Credentials the database refuses need a person; anything else that keeps the
        # database from being read is shown as unreachable and looked at again.
        # So does a connection through a transaction pooler (ConnectionPooled).
        reason = error.reason if error.reason in _NEEDS_A_PERSON else Reason.DATABASE_UNREACHABLE
        message = f"{error.message}; retrying in {delay:.0f}s"
        conditions = (
            cond.stalled(reason, message)
            if reason in _NEEDS_A_PERSON
            else cond.progressing(reason, message)
        )
        return Decision(conditions, changes, requeue_after=delay)

    state = facts.db_state
    database = st.database_status(state)
    changes.append(st.set_database(database))
    changes.append(st.set_rollback_points(st.rollback_points(facts.rollback_points)))
    changes += _data_migration_changes(facts)
    applied = {a.version for a in state.applied}
    migration_status: dict[str, SchemaMigrationStatus] = {}
    for obj in facts.migrations:
        version = version_of(obj)
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
        running_job: LastJob = {"name": job.name, "planHash": job.plan_hash12, "result": "Running"}
        if job.started_at:
            running_job["startedAt"] = job.started_at
        changes.append(st.set_last_job(running_job))
        message = f"Job {job.name} is running"
        progress = facts.batch_progress
        # One run at a time holds the database's advisory lock: a step in progress is
        # the running Job's (its plan hash is not compared: a Job of another plan that
        # is stopped finishes its step first, as SIGTERM does to any step).
        batched = progress is not None and not progress.completed
        if batched and progress is not None:
            message += (
                f": batched step {progress.version} ({progress.direction}), "
                f"{progress.rows_done} rows in {progress.batches_done} batches"
            )
        # Its plan has a batched step not begun yet (the read at the Job's start finds
        # none in progress): looked at as often, so its progress shows once it starts.
        often = batched or _plan_has_batched_step(facts.status, job.plan_hash12)
        return Decision(
            cond.progressing(Reason.MIGRATING, message),
            changes,
            requeue_after=BATCHED_JOB_RESYNC if often else RUNNING_JOB_RESYNC,
            migration_status=migration_status,
        )

    if not facts.migrations and not state.applied:
        # Nothing declared and nothing applied: most likely the SchemaVersion arrived
        # before its SchemaMigrations (one kubectl apply, one GitOps sync). Not Ready:
        # "at version 0" would read as healthy to Argo CD and Flux for that moment.
        return Decision(
            cond.progressing(Reason.NO_MIGRATIONS),
            changes,
            requeue_after=drift_interval,
            migration_status=migration_status,
        )

    try:
        options = run_options(spec)
    except InvalidPlan as exc:
        return Decision(cond.stalled(Reason.INVALID_SPEC, f"spec: {exc}"), changes)
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
            changes,
            requeue_after=drift_interval,
            migration_status=migration_status,
        )

    changes.append(st.set_pending(len(the_plan.steps)))
    last_job = last_job_status(facts.jobs)
    if last_job:
        changes.append(st.set_last_job(last_job))

    if not the_plan.steps:
        changes += [st.clear_plan, st.clear_failure, st.clear_retry]
        message = f"The database is at version {database.get('currentVersion') or '0 (empty)'}."
        recorded = _recorded_in_last_run(facts.jobs)
        if recorded:
            note = recorded_down_note(recorded, done=True)
            message += f" {note[0].upper()}{note[1:]}."
        conditions = cond.ready(message)
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
            conditions, changes, requeue_after=drift_interval, migration_status=migration_status
        )

    # Lint policy gate (and the Backup/Rename rewrite).
    lint_summary: PlanLint | None = None
    if facts.apply_policy is not None:
        policy = str(spec.get("destructive", "Block"))
        the_plan, blocking, lint_summary = facts.apply_policy(the_plan, migrations, policy)
        if blocking:
            changes.append(st.set_plan(st.plan_status(the_plan, False, lint_summary)))
            listing = "; ".join(
                f"{b.get('version', '?')}: {b.get('code', '')} {b.get('message', '')}"
                for b in blocking[:5]
            )
            return Decision(
                cond.stalled(
                    Reason.DESTRUCTIVE_CHANGE,
                    f"{cond.MESSAGES[Reason.DESTRUCTIVE_CHANGE]} Findings: {listing}",
                ),
                changes,
                requeue_after=drift_interval,
                migration_status=migration_status,
            )

    # Only the full hash approves: a prefix is a weaker proof of which plan was reviewed.
    approval = facts.annotations.get(ANNOTATION_APPROVED_PLAN, "").strip()
    approved = spec.get("approval", "Automatic") != "Manual" or approval == the_plan.hash
    changes.append(st.set_plan(st.plan_status(the_plan, approved, lint_summary)))
    if not approved:
        return Decision(
            cond.waiting_for_approval(
                the_plan.hash,
                namespace=facts.namespace,
                name=facts.name,
                given=approval,
            ),
            changes,
            requeue_after=drift_interval,
            migration_status=migration_status,
        )

    # The Job for this plan: first attempt, wait for a retry, or stop. How its earlier
    # attempts ended is read from its Jobs, and from status.retry once they are gone
    # (ttlSecondsAfterFinished, a person, a prune): the count and backoff outlive them.
    mine = sorted(
        (j for j in facts.jobs if j.plan_hash12 == the_plan.short_hash), key=lambda j: j.attempt
    )
    kept = _recorded_retry(facts.status, the_plan.short_hash)
    ended = int(kept.get("attempt", 0)) if kept else 0
    started = int(kept.get("started", 0) or 0) if kept else 0
    seen = mine[-1].attempt if mine else 0
    if mine and seen >= max(ended, started):
        outcome = _outcome_of_jobs(
            mine, kept, spec, facts.batch_progress, facts.batch_progress_read
        )
    elif kept is not None and started > max(ended, seen):
        # Its Job was started, then deleted before its end was seen (a TTL of 0 s, a
        # person, a prune): nobody knows how it ended, so it ended from outside.
        outcome = _outcome_vanished(
            kept, started, facts.now, facts.batch_progress, facts.batch_progress_read
        )
    elif kept is not None and ended >= 1:
        outcome = _outcome_recorded(kept)
    else:
        changes += [
            st.clear_failure,
            st.clear_retry,
            st.retry_started(
                the_plan.short_hash,
                1,
                _request(facts.annotations),
                _known(_progress_at_end(None, facts.batch_progress), facts.batch_progress_read),
            ),
        ]
        return Decision(
            cond.progressing(Reason.MIGRATING, _describe_plan(the_plan)),
            changes,
            create_job_for=(the_plan, 1),
            requeue_after=30.0,
            migration_status=migration_status,
        )
    failure = outcome.failure
    attempt = outcome.attempt
    # The line a condition shows: as recorded when the Jobs are gone (never wrapped
    # again, so it stays the same however often it is read back).
    text = outcome.text or st.failure_message(failure)
    record: st.Retry = {
        "planHash": the_plan.short_hash,
        "attempt": attempt,
        "retryable": outcome.retryable,
        "stoppedInARow": outcome.stopped,
        "reason": outcome.reason.value,
        "message": text[:2000],
    }
    if outcome.retry_requested:
        record["retryRequested"] = outcome.retry_requested
    if outcome.progress is not None:
        record["progress"] = outcome.progress
    # A person asked (annotation schemaop.io/retry-requested, a value no attempt of
    # this plan answered yet): the backoff is skipped, and a plan stopped from outside
    # too often gets one more attempt (each value answers once).
    asked = retry_requested(facts.annotations, mine, outcome.retry_requested)
    if outcome.reason in _NEEDS_A_PERSON and not asked:
        # The Job could not use its connection as configured: nothing ran. Once the
        # person fixed it, a retry request starts the plan again.
        changes += [st.set_failure(failure), st.set_retry(record)]
        return Decision(
            cond.stalled(
                outcome.reason,
                text + ". Once fixed, ask for one more attempt: kubectl annotate schemaversion "
                f'{facts.name} {ANNOTATION_RETRY_REQUESTED}="$(date -u +%FT%TZ)" --overwrite',
            ),
            changes,
            requeue_after=drift_interval,
            migration_status=migration_status,
        )
    if not outcome.retryable and not (
        asked and (outcome.stopped or outcome.reason in _NEEDS_A_PERSON)
    ):
        changes += [st.set_failure(failure), st.set_retry(record)]
        advice = (
            ". Not retried again: see why in the Job's pod (kubectl describe pod; "
            "OOMKilled: raise spec.job.resources; DeadlineExceeded: raise "
            "spec.job.activeDeadlineSeconds), then ask for one more attempt: kubectl "
            f'annotate schemaversion {facts.name} {ANNOTATION_RETRY_REQUESTED}="$(date -u '
            '+%FT%TZ)" --overwrite'
            if outcome.stopped
            else ". The database is unchanged by the failed step. Fix the migration (a new "
            "SchemaMigration version, or delete and recreate the broken one) to continue."
        )
        return Decision(
            cond.stalled(outcome.reason, text + advice),
            changes,
            requeue_after=drift_interval,
            migration_status=migration_status,
        )
    # An attempt stopped from outside that advanced its batched step is followed at
    # once: it ran to its deadline doing useful work, so it is no failure to back off
    # from (and cannot hot-loop: each such attempt committed at least one batch).
    delay = 0.0 if outcome.continues else backoff(attempt)
    retry_at = outcome.retry_at or (outcome.finished or facts.now) + dt.timedelta(seconds=delay)
    if asked:
        retry_at = min(retry_at, facts.now)  # a person asked: this backoff is skipped
    failure["retryAt"] = record["retryAt"] = st.iso(retry_at)
    changes += [st.set_failure(failure), st.set_retry(record)]
    if facts.now < retry_at:
        return Decision(
            cond.progressing(
                Reason.RETRYING,
                f"{text}; attempt {attempt + 1} at {failure['retryAt']}",
            ),
            changes,
            requeue_after=max(1.0, (retry_at - facts.now).total_seconds()),
            migration_status=migration_status,
        )
    changes.append(st.retry_started(the_plan.short_hash, attempt + 1, _request(facts.annotations)))
    message = _describe_plan(the_plan) + f" (attempt {attempt + 1})"
    note = f"attempt {attempt}: {text}" if outcome.continues else ""
    return Decision(
        cond.progressing(Reason.MIGRATING, f"{message}; {note}" if note else message),
        changes,
        create_job_for=(the_plan, attempt + 1),
        job_note=note,
        requeue_after=30.0,
        migration_status=migration_status,
    )


@dataclasses.dataclass(frozen=True)
class _Outcome:
    """How the last attempt of a plan ended, from its Jobs or from status.retry."""

    attempt: int
    failure: Failure
    retryable: bool
    reason: Reason
    # Attempts in a row that ended from outside (see _stopped_in_a_row).
    stopped: int = 0
    finished: dt.datetime | None = None
    # When the next attempt may start, as recorded (None: from ``finished`` and backoff).
    retry_at: dt.datetime | None = None
    retry_requested: str = ""
    # The condition's line as status.retry recorded it ("": from ``failure``).
    text: str = ""
    # Where the batched step stood when the attempt ended (status.retry.progress).
    progress: st.RetryProgress | None = None
    # Ended from outside but advanced its batched step: not counted in ``stopped``,
    # and followed at once by the next attempt, which continues the step.
    continues: bool = False


def _recorded_retry(status: Mapping[str, Any], plan_hash12: str) -> st.Retry | None:
    """status.retry when it is about this plan (None for another plan, or none)."""
    record = status.get("retry")
    if not isinstance(record, Mapping) or record.get("planHash") != plan_hash12:
        return None
    try:
        int(record.get("attempt", 0))
    except (TypeError, ValueError):
        return None
    return dict(record)  # type: ignore[return-value]


def _outcome_recorded(record: st.Retry) -> _Outcome:
    """The last attempt's end as status.retry kept it, its Jobs gone."""
    try:
        reason = Reason(str(record.get("reason", Reason.MIGRATION_FAILED.value)))
    except ValueError:
        reason = Reason.MIGRATION_FAILED
    attempt = max(1, int(record.get("attempt", 1)))
    message = str(record.get("message") or "migration failed: the migration Job failed")
    return _Outcome(
        attempt=attempt,
        failure={"message": message, "attempts": attempt},
        text=message,
        retryable=record.get("retryable") is True,
        reason=reason,
        stopped=max(0, int(record.get("stoppedInARow", 0) or 0)),
        retry_at=parse_time(str(record.get("retryAt") or "")),
        retry_requested=str(record.get("retryRequested") or ""),
        progress=record.get("progress"),
        continues=_advanced(record) and record.get("retryable") is True,
    )


def _outcome_vanished(
    record: st.Retry,
    started: int,
    now: dt.datetime,
    live: BatchProgress | None,
    read: bool = False,
) -> _Outcome:
    """The end of attempt ``started``, whose Job is gone without its end seen; the
    progress table read since (``live``) says whether it advanced its batched step."""
    before = record.get("progress") or None
    at_end = _progress_at_end(None, live) or before
    added = 0
    if (
        live is not None
        and "progress" in record  # where the step stood before it is known
        and int(record.get("attempt", 0)) == started - 1
    ):
        added = _batches_added(at_end, before)
    message = (
        f"the Job of attempt {started} was deleted before the operator saw it end "
        "(its ttlSecondsAfterFinished, a person, a prune)"
    )
    if added and at_end is not None:
        message += f", after {_batches_text(added, at_end)}; {_CONTINUES}"
        return _Outcome(
            attempt=started,
            failure={"message": message, "attempts": started, "version": at_end["version"]},
            text=message,
            retryable=True,
            reason=Reason.MIGRATION_FAILED,
            finished=now,
            retry_requested=str(record.get("retryRequested") or ""),
            progress={**at_end, "batchesAdded": added},
            continues=True,
        )
    stopped = max(0, int(record.get("stoppedInARow", 0) or 0)) + 1
    return _Outcome(
        attempt=started,
        failure={
            "message": (
                f"{message}, so it counts as ended from outside; {stopped} attempt(s) in a "
                "row ended so" + _no_progress_text(at_end)
            ),
            "attempts": started,
        },
        retryable=stopped < MAX_SILENT_FAILURES,
        reason=Reason.MIGRATION_FAILED,
        stopped=stopped,
        finished=now,
        retry_requested=str(record.get("retryRequested") or ""),
        progress=_known(None if at_end is None else {**at_end, "batchesAdded": added}, read),
    )


def _outcome_of_jobs(
    mine: Sequence[JobFacts],
    recorded: st.Retry | None,
    spec: Mapping[str, Any],
    live: BatchProgress | None = None,
    read: bool = False,
) -> _Outcome:
    """The last attempt's end, from the plan's Jobs (sorted by attempt) and, for the
    attempts whose Jobs are gone, status.retry; ``live``: the batched step's progress
    row as read after that end (None: not read, or no batched step in progress)."""
    last = mine[-1]
    failure = (
        st.failure_from(last.error, last.attempt)
        if last.failed
        else {
            "message": "the migration Job succeeded but the database is not at its target yet",
            "attempts": last.attempt,
        }
    )
    # Whether another attempt can help was decided once, by the engine's classifier
    # (schemaop.engine.errors), and travels in the summary; a Job that failed without
    # saying why is not retried, one that succeeded short of the target is.
    job_error = last.error
    reason = Reason.MIGRATION_FAILED
    stopped = _stopped_in_a_row(mine)
    # Where its batched step stood at its end, and how many batches it committed
    # (known when it ended from outside and where the step stood before it is known).
    at_end = _progress_at_end(last.summary, live)
    added: int | None = None
    seen_before = False
    if stopped and recorded is not None:
        # Earlier attempts of the run of stops may be gone: status.retry counted them
        # (and left out those that advanced their batched step).
        before = int(recorded.get("attempt", 0))
        kept = max(0, int(recorded.get("stoppedInARow", 0) or 0))
        if before == last.attempt:
            # Seen before: decided as then (the Jobs still listed count the stops
            # that advanced the step, which that decision left out).
            seen_before = True
            at_end = recorded.get("progress") or at_end
            raw = (recorded.get("progress") or {}).get("batchesAdded")
            added = None if raw is None else _int(raw)
            stopped = kept or stopped
        elif before == last.attempt - 1:
            stopped = kept + 1
    if stopped and added is None and not seen_before:
        known, start = _progress_before(mine, recorded)
        if known:
            added = _batches_added(at_end, start)
    if at_end is not None and added is not None:
        at_end = {**at_end, "batchesAdded": added}
    seconds = (spec.get("job") or {}).get("activeDeadlineSeconds")
    if stopped and added and at_end is not None:
        # Ended from outside after committing batches of its batched step: the step
        # keeps them and the next attempt continues from there, so this attempt is
        # not one of MAX_SILENT_FAILURES in a row (a batched step longer than
        # activeDeadlineSeconds goes on, a deadline at a time, until it completes).
        how = (
            f"stopped by spec.job.activeDeadlineSeconds ({seconds}s)"
            if last.deadline_exceeded
            else "ended from outside (killed, or stopped by its deadline)"
        )
        message = f"the migration Job was {how} after {_batches_text(added, at_end)}; {_CONTINUES}"
        return _Outcome(
            attempt=last.attempt,
            failure={"message": message, "attempts": last.attempt, "version": at_end["version"]},
            text=message,
            retryable=True,
            reason=reason,
            finished=parse_time(last.finished_at),
            retry_requested=last.retry_requested,
            progress=at_end,
            continues=True,
        )
    if stopped and last.deadline_exceeded:
        # Stopped by the Job controller (spec.job.activeDeadlineSeconds): whatever it
        # said on SIGTERM, it did not finish; as many in a row as kills are allowed.
        retryable = stopped < MAX_SILENT_FAILURES
        reason = Reason.DEADLINE_EXCEEDED if not retryable else Reason.MIGRATION_FAILED
        failure = {
            "message": (
                f"the migration Job was stopped by spec.job.activeDeadlineSeconds "
                f"({seconds}s) before it finished; {stopped} attempt(s) in a row ended "
                "from outside" + _no_progress_text(at_end if added is not None else None)
            ),
            "attempts": last.attempt,
        }
        if job_error is not None and job_error.version:
            failure["version"] = job_error.version
    elif stopped:
        # Killed before it could say how it ended: another attempt is safe (see
        # MAX_SILENT_FAILURES), a few in a row say something kills every run.
        retryable = stopped < MAX_SILENT_FAILURES
        failure["message"] = (
            f"the migration Job ended without a summary {stopped} time(s) in a row (its "
            "process was killed: out of memory, kill -9, its node lost, evicted, or its "
            "activeDeadlineSeconds passed)"
        )
        if job_error is not None and job_error.message:
            # Kubernetes kept the end of its log as the termination message.
            failure["message"] += f"; its last output: {job_error.message}"
    else:
        retryable = job_error.retryable if job_error is not None else not last.failed
        if job_error is not None and job_error.reason in _NEEDS_A_PERSON:
            reason = job_error.reason
    return _Outcome(
        attempt=last.attempt,
        failure=failure,
        retryable=retryable,
        reason=reason,
        stopped=stopped,
        finished=parse_time(last.finished_at),
        retry_requested=last.retry_requested,
        progress=_known(at_end, read),
    )


def _known(progress: st.RetryProgress | None, read: bool) -> st.RetryProgress | None:
    """status.retry.progress: where the batched step stood; ``{}`` when the progress
    table was read and no batched step was in progress; None (not recorded) when
    nobody knows. A missing record is not "nothing in progress": an attempt after it
    that ended from outside counts as a stop (a record pruned by an old CRD, written
    by an older operator, or a read that failed never makes a stop look like
    progress)."""
    if progress is None and read:
        return {}
    return progress


# How a message about an attempt that advanced its batched step ends.
_CONTINUES = "the step keeps its progress and the next attempt continues from there"


def _progress_at_end(
    summary: RunSummary | None, live: BatchProgress | None
) -> st.RetryProgress | None:
    """Where the batched step in progress stood when a run ended (None: no batched
    step in progress, or not known).

    Two sources, both cumulative over the attempts (the engine resumes ``rowsDone``
    and ``batchesDone`` from the progress row, engine.datamig._Step.start, and adds
    each batch it commits): the progress row as the operator read it after the run
    ended (``live``: the row itself, found whatever became of the pod), and the run's
    summary, the Job's termination message (the step a SIGTERM stopped is
    ``pending`` with its ``batches``; often gone, as the Job controller deletes the
    pod of a Job past its activeDeadlineSeconds). The further of the two counts."""
    found: st.RetryProgress | None = None
    for step in (summary.steps or ()) if summary is not None else ():
        batches = step.batches
        if batches is None or step.status == "applied":
            continue
        found = {
            "version": step.version,
            "direction": "down" if step.direction == "down" else "up",
            "batchesDone": _int(batches.get("batchesDone")),
            "rowsDone": _int(batches.get("rowsDone")),
        }
    if live is not None and not live.completed:
        read: st.RetryProgress = {
            "version": live.version,
            "direction": "down" if live.direction == "down" else "up",
            "batchesDone": live.batches_done,
            "rowsDone": live.rows_done,
        }
        found = _further(found, read)
    return found


def _progress_before(
    mine: Sequence[JobFacts], recorded: st.Retry | None
) -> tuple[bool, st.RetryProgress | None]:
    """Whether it is known where the batched step stood before the last of ``mine``
    started, and where: at the end of the attempt before it, as status.retry recorded
    it (or, before attempt 1, when it started) and as that attempt's summary says."""
    last = mine[-1]
    known, start = False, None
    if (
        recorded is not None
        and int(recorded.get("attempt", 0)) == last.attempt - 1
        and "progress" in recorded
    ):
        known, start = True, recorded.get("progress") or None
    previous = next((j for j in mine if j.attempt == last.attempt - 1), None)
    said = _progress_at_end(previous.summary, None) if previous is not None else None
    if said is not None:
        start = said if not known else _further(start, said)
        known = True
    return known, start


def _batches_added(at_end: st.RetryProgress | None, start: st.RetryProgress | None) -> int:
    """Batches committed between ``start`` and ``at_end`` (None: no batched step had
    started; a different step counts from its first batch)."""
    if at_end is None:
        return 0
    if start is None or _step(start) != _step(at_end):
        return max(0, at_end.get("batchesDone", 0))
    return max(0, at_end.get("batchesDone", 0) - start.get("batchesDone", 0))


def _further(
    first: st.RetryProgress | None, second: st.RetryProgress | None
) -> st.RetryProgress | None:
    """The further of two positions: of the same step, the one with more batches;
    else ``second`` (the newer word), unless it is None."""
    if first is None or second is None:
        return second or first
    if _step(first) == _step(second) and first.get("batchesDone", 0) > second.get("batchesDone", 0):
        return first
    return second


def _advanced(record: st.Retry) -> bool:
    """Whether status.retry's last attempt ended from outside after advancing its step."""
    return int((record.get("progress") or {}).get("batchesAdded", 0) or 0) > 0


def _step(p: st.RetryProgress) -> tuple[str, str]:
    return p.get("version", ""), p.get("direction", "")


def _batches_text(added: int, at_end: st.RetryProgress) -> str:
    return (
        f"{added} more batch(es) of the batched step {at_end.get('version')} "
        f"({at_end.get('direction')}), {at_end.get('batchesDone')} batch(es) and "
        f"{at_end.get('rowsDone')} row(s) done in all"
    )


def _no_progress_text(at_end: st.RetryProgress | None) -> str:
    if at_end is None:
        return ""
    return (
        f", this one without advancing the batched step {at_end.get('version')} "
        f"({at_end.get('direction')}) past {at_end.get('batchesDone')} batch(es)"
    )


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def retry_requested(
    annotations: Mapping[str, str], jobs: Sequence[JobFacts], answered: str = ""
) -> bool:
    """Whether a person asked for a retry now (annotation ``schemaop.io/retry-requested``)
    that no Job of the plan has answered yet (nor the last one, ``answered``, whose Job
    may be gone: status.retry keeps its value): each value skips one backoff, and the
    Job started then carries it (:func:`schemaop.kube.builders.build_job`)."""
    value = _request(annotations)
    return bool(value) and value != answered and not any(j.retry_requested == value for j in jobs)


def _request(annotations: Mapping[str, str]) -> str:
    """The retry request as the Job started now carries it (build_job)."""
    return retry_request({"metadata": {"annotations": annotations}})


def _live_progress(facts: Facts) -> BatchProgress | None:
    """The progress read, unless its row is unfinished yet no run can be at that step:
    its version is not a batched migration of the set (deleted, renumbered), or is
    already where the step would take it (applied for up, reverted for down). Such a
    row is history, not a step in progress: it must not stop a Job when paused, nor
    name what a running Job does."""
    progress = facts.batch_progress
    if progress is None or progress.completed:
        return progress
    try:
        migration = to_migrations(facts.migrations).get(Version(progress.version))
    except (InvalidMigrationSet, InvalidVersion):
        return None
    if migration is None and _recorded_batched_down(facts, progress):
        return progress  # its migration gone, reverted from its record batch by batch
    if migration is None or migration.batched is None:
        return None
    if facts.db_state is not None:
        applied = any(a.version == migration.version for a in facts.db_state.applied)
        if applied == (progress.direction == "up"):
            return None
    return progress


def _plan_has_batched_step(status: Mapping[str, Any], plan_hash12: str) -> bool:
    """Whether status.plan is the plan of ``plan_hash12`` and has a batched step."""
    plan = status.get("plan") or {}
    return (
        bool(plan_hash12)
        and str(plan.get("hash", "")).startswith(plan_hash12)
        and any(step.get("batched") is True for step in plan.get("steps") or [])
    )


def ended_batched_jobs(jobs: Sequence[JobFacts], status: Mapping[str, Any]) -> frozenset[str]:
    """The finished (Complete or Failed) Jobs, by UID, whose plan has a batched step:
    status.plan says so (the plan shown while the Job ran), or the Job's summary has a
    batched step (status.plan is cleared once Ready; an operator started anew).

    After each of them ended the operator reads the progress table once more
    (reconcile.Reconciler._progress_due): its last batched step may have begun and
    completed between two looks, after the row shown had completed, or without any
    row shown yet; that read shows where it ended in status.dataMigration."""
    return frozenset(
        job.uid or job.name
        for job in jobs
        if not job.active
        and (
            _plan_has_batched_step(status, job.plan_hash12)
            or any(
                step.batches is not None
                for step in (job.summary.steps if job.summary is not None else None) or ()
            )
        )
    )


def wants_progress_baseline(decision: Decision, read: bool) -> bool:
    """Whether ``decision`` starts the first attempt of a plan with a batched step while
    the progress table was not read (``read``). Where the step stood as that attempt
    started (status.retry.progress, ``{}``: no batched step in progress) would be
    unknown, and the attempt, stopped by its deadline after committing batches, would
    count as a stop without progress (_progress_before); later attempts compare with
    the end of the one before. The operator reads the table then and decides again."""
    if decision.create_job_for is None or read:
        return False
    the_plan, attempt = decision.create_job_for
    return attempt == 1 and any(step.runs_batched for step in the_plan.steps)


def _recorded_batched_down(facts: Facts, progress: BatchProgress) -> bool:
    """Whether ``progress`` is of a down that runs from its record: the version still
    applied, its history row recording a batched down (see docs/engine.md). When the
    history was not read (spec.paused reads only the progress table), the operator's
    own plan says so: status.plan names that step, recorded and batched."""
    if progress.direction != "down":
        return False
    if facts.db_state is None:
        steps = ((facts.status or {}).get("plan") or {}).get("steps") or []
        return any(
            step.get("version") == progress.version
            and step.get("direction") == "down"
            and step.get("source") == "recorded"
            and step.get("batched") is True
            for step in steps
        )
    applied = facts.db_state.applied_version(Version(progress.version))
    record = applied.down if applied is not None else None
    return record is not None and record.batched_json is not None


def progress_shown(status: SchemaVersionStatus) -> None:
    """No change: marks a decision that shows its progress read (Decision.shows_progress)."""


def _data_migration_changes(facts: Facts) -> list[StatusChange]:
    """status.dataMigration from the progress read: set, cleared when the read found no
    row (a rollback removed it), unchanged when not read."""
    if facts.batch_progress is not None:
        return [
            st.set_data_migration(st.data_migration_status(facts.batch_progress)),
            progress_shown,
        ]
    if facts.batch_progress_read:
        return [st.clear_data_migration, progress_shown]
    return []


def _paused(facts: Facts, drift_interval: float) -> Decision:
    """spec.paused: nothing is planned or run. A Job running a batched step is
    stopped (deleted: the engine ends it after the current batch) and the step shows
    as paused; a Job running anything else finishes (a step is never cut short)."""
    changes = _data_migration_changes(facts)
    progress = facts.batch_progress
    in_progress = progress is not None and not progress.completed
    if in_progress:
        changes.append(st.set_data_migration_paused(True))
    running = [j for j in facts.jobs if j.active]
    if not running:
        message = None
        if in_progress and progress is not None:
            message = (
                f"spec.paused is true: the batched step {progress.version} "
                f"({progress.direction}) is paused at {progress.rows_done} rows; "
                "set spec.paused to false to continue from there."
            )
        return Decision(cond.paused(message), changes, requeue_after=drift_interval)
    job = max(running, key=lambda j: j.attempt)
    if in_progress and progress is not None:
        # Deleted on purpose: it is no attempt that ended (status.retry.started goes).
        changes.append(st.retry_not_started)
        return Decision(
            cond.paused(
                f"spec.paused is true: stopping Job {job.name} after its current batch "
                f"(batched step {progress.version}, {progress.rows_done} rows done); set "
                "spec.paused to false to continue from there."
            ),
            changes,
            delete_job=job.name,
            requeue_after=BATCHED_JOB_RESYNC,
        )
    # A Job still runs (not, or not yet, a batched step): it finishes; look again soon,
    # in case it reaches a batched step.
    return Decision(
        cond.paused(
            f"spec.paused is true: Job {job.name} finishes what it runs (only a batched step "
            "stops between batches); nothing new is planned or run."
        ),
        changes,
        requeue_after=BATCHED_JOB_RESYNC,
    )


def _stopped_in_a_row(jobs: Sequence[JobFacts]) -> int:
    """How many of the newest ``jobs`` (sorted by attempt) failed in a row from outside:
    without a summary (the process never got to write one: :func:`ended_silently`), or
    stopped by the Job controller when their ``activeDeadlineSeconds`` passed."""
    count = 0
    for job in reversed(jobs):
        if not (job.failed and (ended_silently(job.summary) or job.deadline_exceeded)):
            break
        count += 1
    return count


def after_job_created(decision: Decision, job_name: str, started_at: str) -> Decision:
    """``decision`` once its Job exists: status.lastJob names it, Running."""
    assert decision.create_job_for is not None
    the_plan = decision.create_job_for[0]
    job: LastJob = {
        "name": job_name,
        "planHash": the_plan.short_hash,
        "result": "Running",
        "startedAt": started_at,
    }
    return dataclasses.replace(decision, changes=(*decision.changes, st.set_last_job(job)))


def after_job_refused(decision: Decision, error: str) -> Decision:
    """``decision`` once the API server refused its Job (or a plan ConfigMap) as built
    from the spec, for a value the CRD cannot check: Stalled until the spec changes."""
    return dataclasses.replace(
        decision,
        changes=(*decision.changes, st.retry_not_started),
        conditions=cond.stalled(
            Reason.INVALID_SPEC,
            f"The API server refused the migration Job built from this spec: {error}. "
            "Fix spec.job; nothing runs until then.",
        ),
        requeue_after=max(decision.requeue_after, REFUSED_JOB_RESYNC),
    )


def with_migration_lint(decision: Decision, lint: Mapping[str, MigrationLint]) -> Decision:
    """``decision`` with each SchemaMigration's lint findings (by object name) added
    to the status it writes for that SchemaMigration."""
    merged: dict[str, SchemaMigrationStatus] = {}
    for name, fields in decision.migration_status.items():
        merged[name] = {**fields, "lint": lint[name]} if name in lint else fields
    return dataclasses.replace(decision, migration_status=merged)


def _describe_plan(p: Plan) -> str:
    frm = p.from_version.text if p.from_version else "0"
    to = p.to_version.text if p.to_version else "0"
    text = (
        f"Migrating {p.direction} from {frm} to {to}: {len(p.steps)} step(s), plan {p.short_hash}"
    )
    if p.recorded_downs:
        text += "; " + recorded_down_note([s.version.text for s in p.recorded_downs])
    return text


def _recorded_in_last_run(jobs: Sequence[JobFacts]) -> list[str]:
    """Versions the last finished Job reverted with their recorded down SQL (its summary)."""
    done = [j for j in jobs if not j.active and j.summary is not None]
    if not done:
        return []
    job = max(done, key=lambda j: (j.finished_at or j.started_at or "", j.attempt))
    assert job.summary is not None
    return [
        s.version
        for s in job.summary.steps or ()
        if s.source == "recorded" and s.status == "applied"
    ]
