"""The shape of the status schemaop writes, documented as TypedDicts (pure).

The authoritative schema is ``schemas/`` (the CRDs are generated from it); these
types say the same in Python for the code that builds status (``decide``, the
reconciler) and for readers. ``tests/unit/test_status_shape.py`` keeps the keys
here and the properties in ``schemas/`` identical. All keys are camelCase, as in
every Kubernetes status; none is ever a secret.
"""

from __future__ import annotations

from typing import Literal, TypedDict


class Condition(TypedDict, total=False):
    """kstatus-shaped; see :mod:`schemaop.model.conditions` for types and reasons."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str
    lastTransitionTime: str
    observedGeneration: int


class PlanStepStatus(TypedDict, total=False):
    version: str
    direction: Literal["up", "down"]
    description: str
    transactional: bool
    checksum: str


class PlanLint(TypedDict, total=False):
    errors: int
    warnings: int
    findings: list[dict[str, object]]


class PlanStatus(TypedDict, total=False):
    """The plan the operator decided on; ``hash`` is what a person approves."""

    hash: str
    fromVersion: str
    toVersion: str
    direction: Literal["up", "down", "none"]
    steps: list[PlanStepStatus]
    truncatedSteps: int
    approved: bool
    lint: PlanLint


class HistoryStatus(TypedDict, total=False):
    """One row of the database's history table (the newest 20 are kept in status)."""

    version: str
    direction: str
    status: str
    description: str
    appliedAt: str
    durationSeconds: float
    planHash: str


class RollbackPoint(TypedDict, total=False):
    kind: str  # Schema, Full or Archive
    ref: str
    version: str
    fingerprint: str
    takenAt: str


class LastJob(TypedDict, total=False):
    name: str
    planHash: str
    result: Literal["Running", "Succeeded", "Failed"]
    startedAt: str
    finishedAt: str
    message: str


class Failure(TypedDict, total=False):
    """The last failure, for a person to act on (SQLSTATE, statement, line)."""

    version: str
    sqlstate: str
    message: str
    statement: str
    position: int
    line: int
    attempts: int
    retryAt: str


class SchemaVersionStatus(TypedDict, total=False):
    observedGeneration: int
    currentVersion: str
    targetVersion: str
    pending: int
    dirty: bool
    schemaHash: str
    plan: PlanStatus
    history: list[HistoryStatus]
    rollbackPoints: list[RollbackPoint]
    lastJob: LastJob
    failure: Failure
    conditions: list[Condition]


class MigrationLint(TypedDict, total=False):
    errors: int
    warnings: int
    findings: list[dict[str, object]]


class SchemaMigrationStatus(TypedDict, total=False):
    observedGeneration: int
    checksum: str
    applied: bool
    appliedAt: str
    lint: MigrationLint
    conditions: list[Condition]
