"""Condition types, reasons, and the factories that build conditions (pure).

Conditions follow the kstatus convention that Argo CD and Flux read: ``Ready``
(the database is at its target), ``Reconciling`` (work is under way and expected
to finish), ``Stalled`` (it will not progress without help or a retry), plus
``ApprovalPending`` and ``Drifted``. Reasons are a closed set: every reason a
condition can carry is a member of :class:`Reason`, each with a default message
a person can act on. Factories take the facts and return the whole set of
conditions for one outcome, so two code paths cannot disagree on what, say,
"waiting for approval" looks like.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from typing import Any


class ConditionType(enum.StrEnum):
    READY = "Ready"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"
    APPROVAL_PENDING = "ApprovalPending"
    DRIFTED = "Drifted"


class Reason(enum.StrEnum):
    """Every reason schemaop gives (closed set): on a condition, on an engine error
    (``EngineError.reason``, a run summary's ``error.reason``), on a refusal of the
    planner or the runner (:data:`REFUSALS`) and of the lint policy."""

    APPLIED = "Applied"
    MIGRATING = "Migrating"
    PLANNING = "Planning"
    NO_MIGRATIONS = "NoMigrations"
    WAITING_FOR_APPROVAL = "WaitingForApproval"
    APPROVED = "Approved"
    NO_APPROVAL_NEEDED = "NoApprovalNeeded"
    INVALID_MIGRATION_SET = "InvalidMigrationSet"
    CHECKSUM_MISMATCH = "ChecksumMismatch"
    DOWN_MIGRATION_MISSING = "DownMigrationMissing"
    MISSING_MIGRATION = "MissingMigration"
    UNKNOWN_TARGET = "UnknownTarget"
    DATABASE_DIRTY = "DatabaseDirty"
    DESTRUCTIVE_CHANGE = "DestructiveChange"
    MIGRATION_FAILED = "MigrationFailed"
    RETRYING = "Retrying"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    DATABASE_UNREACHABLE = "DatabaseUnreachable"
    AUTHENTICATION_FAILED = "AuthenticationFailed"
    INVALID_CONNECTION_SECRET = "InvalidConnectionSecret"  # noqa: S105 - a reason
    SECRET_NOT_FOUND = "SecretNotFound"  # noqa: S105 - a reason, not a password
    SECRET_NOT_LABELLED = "SecretNotLabelled"  # noqa: S105 - a reason, not a password
    INVALID_SPEC = "InvalidSpec"
    JOB_POLICY_DENIED = "JobPolicyDenied"
    PAUSED = "Paused"
    CONNECTION_POOLED = "ConnectionPooled"
    HOST_NOT_ALLOWED = "HostNotAllowed"
    # Engine errors that do not name a condition reason of their own (the operator
    # shows a failed Job as MigrationFailed or Retrying; these say why).
    LOCK_BUSY = "LockBusy"
    LOCK_TIMEOUT = "LockTimeout"
    SNAPSHOT_FAILED = "SnapshotFailed"
    INVALID_PLAN = "InvalidPlan"
    DRIFTED = "Drifted"
    IN_SYNC = "InSync"


#: Default messages; factories may pass a more specific one.
MESSAGES: Mapping[Reason, str] = {
    Reason.APPLIED: "The database is at its target version.",
    Reason.MIGRATING: "A migration Job is running.",
    Reason.PLANNING: "Reading the database and planning.",
    Reason.NO_MIGRATIONS: (
        "No SchemaMigration references this SchemaVersion yet (spec.schemaVersionRef.name); "
        "waiting for them."
    ),
    Reason.WAITING_FOR_APPROVAL: (
        "approval is Manual: review status.plan, then approve with "
        "kubectl annotate schemaversion NAME schemaop.io/approved-plan=HASH"
    ),
    Reason.APPROVED: "The current plan is approved.",
    Reason.NO_APPROVAL_NEEDED: "Nothing is waiting for approval.",
    Reason.INVALID_MIGRATION_SET: "The SchemaMigrations of this database are not a valid set.",
    Reason.CHECKSUM_MISMATCH: (
        "An applied migration was changed; restore its original SQL, "
        "or roll back and add a new version."
    ),
    Reason.DOWN_MIGRATION_MISSING: "Rolling back needs down SQL that a migration does not have.",
    Reason.MISSING_MIGRATION: (
        "The database has a version applied that no SchemaMigration declares; restore it "
        "or set spec.allowMissingMigrations."
    ),
    Reason.UNKNOWN_TARGET: "spec.targetVersion names no SchemaMigration of this database.",
    Reason.DATABASE_DIRTY: (
        "A non-transactional step failed or was interrupted; fix it and run 'schemaop repair'."
    ),
    Reason.DESTRUCTIVE_CHANGE: (
        "The plan drops data and spec.destructive is Block; add '-- schemaop:allow CODE reason' "
        "to the migration or choose Backup or Rename."
    ),
    Reason.MIGRATION_FAILED: "The migration Job failed; see status.failure.",
    Reason.RETRYING: "The last attempt failed for a transient reason; retrying with backoff.",
    Reason.DEADLINE_EXCEEDED: (
        "The migration Jobs of this plan were stopped by spec.job.activeDeadlineSeconds "
        "several times in a row; raise it, then retry (annotation schemaop.io/retry-requested)."
    ),
    Reason.DATABASE_UNREACHABLE: "The database cannot be reached; retrying with backoff.",
    Reason.AUTHENTICATION_FAILED: "The database refused the credentials from the Secret.",
    Reason.INVALID_CONNECTION_SECRET: (
        "The connection string from the Secret cannot be used as written (e.g. an unencoded "
        "'@' or '/' in the password); fix the Secret."
    ),
    Reason.SECRET_NOT_FOUND: "The connection Secret or its key does not exist; create it.",
    Reason.SECRET_NOT_LABELLED: (
        "The connection Secret lacks the labels the operator requires (--secret-selector); "
        "label it."
    ),
    Reason.INVALID_SPEC: "The spec cannot be used; see the message.",
    Reason.JOB_POLICY_DENIED: (
        "The SchemaVersion asks for a Job the operator's Job policy does not allow (image, "
        "ServiceAccount, snapshot volume type or pod annotation); no Job is created. Change "
        "spec.job or spec.snapshot, or ask the operator's administrators to widen the policy "
        "(chart values jobs.policy.*)."
    ),
    Reason.CONNECTION_POOLED: (
        "The database is reached through a transaction-pooling connection pooler (PgBouncer "
        "pool_mode=transaction), where the migration's advisory lock and session settings "
        "do not hold; point the connection at PostgreSQL directly or at a session-mode pool."
    ),
    Reason.HOST_NOT_ALLOWED: (
        "The password Secret names the hosts its password may be sent to "
        "(annotation schemaop.io/allowed-hosts), and spec.connection is not one of them."
    ),
    Reason.PAUSED: "spec.paused is true: nothing is planned or run; set spec.paused to false "
    "to resume.",
    Reason.LOCK_BUSY: (
        "Another run holds schemaop's advisory lock on this database past the wait; "
        "retried with backoff."
    ),
    Reason.LOCK_TIMEOUT: (
        "A statement kept waiting for a lock (lock_timeout) through every retry: a long "
        "transaction holds a lock the migration needs; retried with backoff."
    ),
    Reason.SNAPSHOT_FAILED: (
        "The snapshot before the run failed (pg_dump missing or failing); nothing was "
        "applied; retried with backoff."
    ),
    Reason.INVALID_PLAN: "The plan file cannot be read (bad JSON, a missing field, a wrong hash).",
    Reason.DRIFTED: "The live schema differs from the one recorded after the last migration.",
    Reason.IN_SYNC: "The live schema matches the one recorded after the last migration.",
}

#: Reasons the planner and the runner refuse a plan with (before anything runs).
REFUSALS: frozenset[Reason] = frozenset(
    {
        Reason.CHECKSUM_MISMATCH,
        Reason.DOWN_MIGRATION_MISSING,
        Reason.MISSING_MIGRATION,
        Reason.DATABASE_DIRTY,
        Reason.INVALID_MIGRATION_SET,
        Reason.UNKNOWN_TARGET,
    }
)


@dataclasses.dataclass(frozen=True)
class Condition:
    type: ConditionType
    status: bool | None  # None = Unknown
    reason: Reason
    message: str

    @property
    def status_text(self) -> str:
        return "Unknown" if self.status is None else ("True" if self.status else "False")


def _message(reason: Reason, message: str | None) -> str:
    return message or MESSAGES[reason]


def ready(message: str | None = None) -> list[Condition]:
    """The database is at its target."""
    text = _message(Reason.APPLIED, message)
    return [
        Condition(ConditionType.READY, True, Reason.APPLIED, text),
        Condition(ConditionType.RECONCILING, False, Reason.APPLIED, text),
        Condition(ConditionType.STALLED, False, Reason.APPLIED, text),
        Condition(
            ConditionType.APPROVAL_PENDING,
            False,
            Reason.NO_APPROVAL_NEEDED,
            MESSAGES[Reason.NO_APPROVAL_NEEDED],
        ),
    ]


def progressing(reason: Reason, message: str | None = None) -> list[Condition]:
    """Work under way (Migrating, Planning) or a transient wait (Retrying, unreachable)."""
    text = _message(reason, message)
    return [
        Condition(ConditionType.READY, False, reason, text),
        Condition(ConditionType.RECONCILING, True, reason, text),
        Condition(ConditionType.STALLED, False, reason, text),
    ]


def stalled(reason: Reason, message: str | None = None) -> list[Condition]:
    """No progress without a person or a spec change."""
    text = _message(reason, message)
    return [
        Condition(ConditionType.READY, False, reason, text),
        Condition(ConditionType.RECONCILING, False, reason, text),
        Condition(ConditionType.STALLED, True, reason, text),
    ]


def waiting_for_approval(
    plan_hash: str,
    message: str | None = None,
    namespace: str = "",
    name: str = "NAME",
    given: str = "",
) -> list[Condition]:
    """``given``: the annotation's value; a prefix of the plan hash is named as such."""
    where = f"-n {namespace} {name}" if namespace else name
    short = (
        f"the annotation schemaop.io/approved-plan holds {given}, a prefix of the plan hash; "
        "only the full 64-digit hash approves: "
        if given and given != plan_hash and plan_hash.startswith(given.lower())
        else ""
    )
    text = message or (
        f"approval is Manual and plan {plan_hash} is not approved: {short}review status.plan, "
        "then run "
        f"kubectl annotate schemaversion {where} schemaop.io/approved-plan={plan_hash} "
        "--overwrite (or: kubectl schemaop approve)"
    )
    return [
        Condition(ConditionType.READY, False, Reason.WAITING_FOR_APPROVAL, text),
        Condition(ConditionType.RECONCILING, False, Reason.WAITING_FOR_APPROVAL, text),
        Condition(ConditionType.STALLED, False, Reason.WAITING_FOR_APPROVAL, text),
        Condition(ConditionType.APPROVAL_PENDING, True, Reason.WAITING_FOR_APPROVAL, text),
    ]


def paused(message: str | None = None) -> list[Condition]:
    text = _message(Reason.PAUSED, message)
    return [
        Condition(ConditionType.READY, False, Reason.PAUSED, text),
        Condition(ConditionType.RECONCILING, False, Reason.PAUSED, text),
        Condition(ConditionType.STALLED, False, Reason.PAUSED, text),
    ]


def drift(drifted: bool, message: str | None = None) -> Condition:
    reason = Reason.DRIFTED if drifted else Reason.IN_SYNC
    return Condition(ConditionType.DRIFTED, drifted, reason, _message(reason, message))


def merge(
    existing: Sequence[Mapping[str, Any]],
    updates: Sequence[Condition],
    generation: int | None,
    now: str,
) -> list[dict[str, Any]]:
    """Apply condition updates to a status' conditions list (pure).

    ``lastTransitionTime`` changes only when a condition's status changes, as the
    Kubernetes API conventions ask; every written condition carries
    ``observedGeneration``. Conditions not updated are kept as they are.
    """
    by_type = {str(c.get("type")): dict(c) for c in existing}
    for cond in updates:
        old = by_type.get(cond.type.value)
        changed = old is None or old.get("status") != cond.status_text
        entry: dict[str, Any] = {
            "type": cond.type.value,
            "status": cond.status_text,
            "reason": cond.reason.value,
            "message": cond.message[:32768],
            "lastTransitionTime": now
            if changed or old is None
            else old.get("lastTransitionTime", now),
        }
        if generation is not None:
            entry["observedGeneration"] = generation
        by_type[cond.type.value] = entry
    order = [t.value for t in ConditionType]
    return sorted(
        by_type.values(),
        key=lambda c: (order.index(c["type"]) if c["type"] in order else 99, c["type"]),
    )


def find(conditions: Sequence[Mapping[str, Any]], type_: ConditionType) -> Mapping[str, Any] | None:
    for c in conditions:
        if c.get("type") == type_.value:
            return c
    return None
