"""What the database says has been applied: the planner's view of its history.

Pure: no I/O. :func:`schemaop.engine.read_state` fills these from the history
table (``<history schema>.schema_history``, documented in docs/engine.md); the
planner and the operator read them. A database with no history table yet is an
empty :class:`DatabaseState` (``history_exists`` false).

The history table is an append-only log; the applied set is derived from it:
for each version, its latest ``applied`` row decides (``up`` -> applied, ``down``
-> not applied). A row left in status ``pending`` is a non-transactional step
that failed or was interrupted: the database is dirty until ``repair``.

Each ``up`` row also records the migration's down step as it was when applied
(:class:`RecordedDown`): a rollback uses it when the migration itself is gone
(its SchemaMigration deleted, its file removed); see :mod:`schemaop.planner`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any, Literal

from schemaop.model.migration import Batched, down_checksum
from schemaop.model.version import Version

HistoryStatus = Literal["applied", "failed", "pending", "repaired"]


@dataclasses.dataclass(frozen=True)
class RecordedDown:
    """The down step recorded with an ``up`` row at apply time.

    ``sql`` None: the migration had no down step. ``checksum`` is what the
    history says (:func:`schemaop.model.migration.down_checksum` of the text, the
    flag and the batched settings when written); :attr:`intact` recomputes it, so
    a record edited since is told apart. ``batched_json``: the settings of a down
    that runs batch by batch (:meth:`~schemaop.model.migration.Batched.canonical`),
    None for a plain down.
    """

    sql: str | None
    checksum: str
    transactional: bool = True
    batched_json: str | None = None

    @property
    def batched(self) -> Batched | None:
        """The recorded batched settings; ValueError when they are not valid settings."""
        if self.batched_json is None:
            return None
        try:
            data = json.loads(self.batched_json)
        except ValueError as exc:
            raise ValueError(f"recorded batched settings are not JSON: {exc}") from exc
        batched = Batched.from_dict(data)
        if not batched.down:
            raise ValueError("recorded batched settings are not those of a batched down")
        return batched

    @property
    def intact(self) -> bool:
        try:
            batched = self.batched
        except ValueError:
            return False
        return down_checksum(self.sql, self.transactional, batched) == self.checksum

    @property
    def reversible(self) -> bool:
        return self.sql is not None and bool(self.sql.strip())


@dataclasses.dataclass(frozen=True)
class AppliedMigration:
    """A migration currently applied to the database (its latest successful ``up``)."""

    version: Version
    description: str
    checksum: str
    applied_at: dt.datetime | None = None
    plan_hash: str | None = None
    # The down step recorded when it was applied; None on rows written before
    # schemaop recorded them.
    down: RecordedDown | None = None


@dataclasses.dataclass(frozen=True)
class HistoryEntry:
    """One row of the history table, as status and the CLI show it."""

    id: int
    version: Version
    description: str
    direction: Literal["up", "down"]
    checksum: str
    status: HistoryStatus
    applied_at: dt.datetime | None
    duration_ms: int | None
    applied_by: str
    plan_hash: str | None
    fingerprint: str | None
    error: dict[str, Any] | None
    transactional: bool = True
    statements_done: int = 0
    # ``up`` rows: the migration's down SQL and its checksum when applied (both None
    # on rows written before schemaop recorded them, and on ``down`` rows), and the
    # settings of a batched down as JSON text (None for a plain down).
    down_sql: str | None = None
    down_checksum: str | None = None
    down_batched: str | None = None

    @property
    def recorded_down(self) -> RecordedDown | None:
        """The down step this row recorded, or None (none recorded)."""
        if self.direction != "up" or self.down_checksum is None:
            return None
        return RecordedDown(
            self.down_sql, self.down_checksum, self.transactional, self.down_batched
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version.text,
            "description": self.description,
            "direction": self.direction,
            "checksum": self.checksum,
            "status": self.status,
            "appliedAt": self.applied_at.isoformat() if self.applied_at else None,
            "durationMs": self.duration_ms,
            "appliedBy": self.applied_by,
            "planHash": self.plan_hash,
            "fingerprint": self.fingerprint,
            "error": self.error,
            "transactional": self.transactional,
            "statementsDone": self.statements_done,
            "downRecorded": self.recorded_down is not None,
        }


@dataclasses.dataclass(frozen=True)
class DatabaseState:
    """The database's applied migrations, dirtiness and last recorded fingerprint."""

    # Currently applied migrations, ordered by version.
    applied: tuple[AppliedMigration, ...] = ()
    # The pending row of a failed or interrupted non-transactional step, if any.
    dirty_step: HistoryEntry | None = None
    # Fingerprint recorded after the last change (None before the first run).
    last_fingerprint: str | None = None
    # Most recent history rows, newest first (bounded by read_state's limit).
    recent: tuple[HistoryEntry, ...] = ()
    history_exists: bool = False

    @property
    def current_version(self) -> Version | None:
        return self.applied[-1].version if self.applied else None

    @property
    def dirty(self) -> bool:
        return self.dirty_step is not None

    def applied_version(self, version: Version) -> AppliedMigration | None:
        for a in self.applied:
            if a.version == version:
                return a
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "currentVersion": self.current_version.text if self.current_version else None,
            "applied": [
                {
                    "version": a.version.text,
                    "description": a.description,
                    "checksum": a.checksum,
                    "appliedAt": a.applied_at.isoformat() if a.applied_at else None,
                }
                for a in self.applied
            ],
            "dirty": self.dirty,
            "dirtyStep": self.dirty_step.to_dict() if self.dirty_step else None,
            "lastFingerprint": self.last_fingerprint,
            "historyExists": self.history_exists,
        }


def derive_state(
    rows: list[HistoryEntry], *, history_exists: bool = True, recent: int = 20
) -> DatabaseState:
    """Fold history rows (any order) into a :class:`DatabaseState`."""
    ordered = sorted(rows, key=lambda r: r.id)
    applied: dict[Version, AppliedMigration] = {}
    dirty: HistoryEntry | None = None
    fingerprint: str | None = None
    for row in ordered:
        if row.status == "applied":
            if row.direction == "up":
                applied[row.version] = AppliedMigration(
                    row.version,
                    row.description,
                    row.checksum,
                    row.applied_at,
                    row.plan_hash,
                    row.recorded_down,
                )
            else:
                applied.pop(row.version, None)
        if row.status == "pending":
            dirty = row
        if row.fingerprint:
            fingerprint = row.fingerprint
    return DatabaseState(
        applied=tuple(applied[v] for v in sorted(applied)),
        dirty_step=dirty,
        last_fingerprint=fingerprint,
        recent=tuple(reversed(ordered[-recent:])) if recent > 0 else (),
        history_exists=history_exists,
    )
