"""The planner: (desired migration set, database history, target) -> plan or refusal.

Pure: no I/O, no psycopg, no kopf. The same function serves the operator (which
reads the history read-only, plans, gates and hands the plan to a Job) and the
CLI (``schemaop migrate --dir``). The runner re-checks the plan under its lock
(:mod:`schemaop.engine.runner`), so a plan made from stale state cannot run.

Rules, in the order they are checked (the first that fails refuses):

1. a dirty database (a non-transactional step failed or was interrupted) refuses:
   ``DatabaseDirty``; ``schemaop repair`` resolves it;
2. every applied migration must be in the set with the same checksum:
   ``ChecksumMismatch`` names the version; an applied version absent from the set
   refuses with ``MissingMigration`` unless ``allow_missing``, or unless the plan
   reverts it with its recorded down (rule 4);
3. the target must be ``latest``, a version in the set, or ``0`` (nothing
   applied): ``UnknownTarget``;
4. down: every applied version above the target is reverted, newest first, and
   each needs a down step: ``DownMigrationMissing`` lists those without. The set
   is the truth for a down step while the migration is in it. When it is not
   (its SchemaMigration deleted by a Helm rollback or a GitOps prune, its file
   removed), the down step recorded in the history when it was applied is used
   (a step with ``source`` ``recorded``), for an explicit target only: a target
   of ``latest`` never reverts a version because its definition disappeared.
   A record whose checksum does not match its text refuses
   (``ChecksumMismatch``), and so does one that disagrees with the migration in
   the set (the migration's checksum equals the applied one, so the history was
   edited); rows written before schemaop recorded downs have none;
5. up: every unapplied version up to the target is applied, oldest first; one
   older than the newest applied version would run out of order and refuses
   (``InvalidMigrationSet``) unless ``out_of_order``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from schemaop.model.conditions import Reason
from schemaop.model.history import AppliedMigration, DatabaseState
from schemaop.model.migration import InvalidMigrationSet, Migration, MigrationSet
from schemaop.model.plan import Plan, PlanStep, RunOptions
from schemaop.model.version import LATEST, InvalidVersion, Version

__all__ = ["PlanRefused", "plan", "resolve_target"]

# Target meaning "no migration applied" (roll everything back).
ZERO = Version("0")


class PlanRefused(Exception):
    """No plan: ``reason`` says why (a condition reason), ``message`` what to do."""

    def __init__(self, reason: Reason, message: str, versions: Iterable[Version] = ()) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.versions = tuple(versions)

    def to_dict(self) -> dict[str, object]:
        return {
            "reason": self.reason.value,
            "message": self.message,
            "versions": [v.text for v in self.versions],
        }


def resolve_target(migrations: MigrationSet, target: Version | str) -> Version | None:
    """The version a target names; None for "nothing applied"."""
    if isinstance(target, str):
        if target == LATEST:
            return migrations.latest
        try:
            target = Version(target)
        except InvalidVersion as exc:
            raise PlanRefused(Reason.UNKNOWN_TARGET, str(exc)) from exc
    if migrations.get(target) is not None:
        return target
    if target == ZERO:
        return None
    known = ", ".join(m.version.text for m in migrations) or "none"
    raise PlanRefused(
        Reason.UNKNOWN_TARGET,
        f"target version {target} is not in the migration set (versions: {_clip(known)}); "
        "use 'latest', one of those versions, or 0 to revert everything",
        [target],
    )


def plan(
    migrations: MigrationSet | Iterable[Migration],
    history: DatabaseState,
    target: Version | str = LATEST,
    allow_missing: bool = False,
    *,
    options: RunOptions | None = None,
    out_of_order: bool = False,
) -> Plan:
    """Compute the plan that brings the database from its history to ``target``.

    Raises :class:`PlanRefused` with a reason of
    :data:`schemaop.model.conditions.REFUSALS`; never does I/O.
    """
    if not isinstance(migrations, MigrationSet):
        try:
            migrations = MigrationSet(migrations)
        except InvalidMigrationSet as exc:
            raise PlanRefused(Reason.INVALID_MIGRATION_SET, str(exc)) from exc
    options = options or RunOptions()
    if allow_missing and not options.allow_missing:
        options = dataclasses.replace(options, allow_missing=True)
    # Each checksum once: hashing thousands of migrations is a visible part of start-up.
    checksums = {m.version: m.checksum for m in migrations}

    if history.dirty_step is not None:
        d = history.dirty_step
        raise PlanRefused(
            Reason.DATABASE_DIRTY,
            f"the database is dirty: non-transactional {d.direction} step {d.version} "
            f"({d.description}) did not finish ({d.statements_done} statement(s) done). "
            "Fix the cause, then run 'schemaop repair --retry --dir DIR' to run its remaining "
            f"statements, or 'schemaop repair --mark-applied {d.version}' if you completed "
            "it by hand",
            [d.version],
        )

    mismatched = [
        a.version
        for a in history.applied
        if a.version in checksums and checksums[a.version] != a.checksum
    ]
    if mismatched:
        names = ", ".join(v.text for v in mismatched)
        raise PlanRefused(
            Reason.CHECKSUM_MISMATCH,
            f"applied migration(s) {_clip(names)} changed since they were applied (checksum "
            "differs); an applied migration must never be edited: restore its text and add "
            "a new migration instead",
            mismatched,
        )
    recorded = _recorded_downs(migrations, history, target)
    missing = [
        a.version
        for a in history.applied
        if migrations.get(a.version) is None and a.version not in recorded
    ]
    if missing and not options.allow_missing:
        names = ", ".join(v.text for v in missing)
        raise PlanRefused(
            Reason.MISSING_MIGRATION,
            f"version(s) {_clip(names)} are applied in the database but not in the migration "
            "set; add them back, or allow missing migrations explicitly"
            + _no_record_hint(history, missing, target),
            missing,
        )

    goal = resolve_target(migrations, target)
    target_text = target if isinstance(target, str) else target.text
    applied = {a.version for a in history.applied}
    current = history.current_version

    steps: list[PlanStep] = []
    # Down: everything applied above the goal, newest first.
    to_revert = sorted((v for v in applied if goal is None or v > goal), reverse=True)
    _check_records(migrations, history, to_revert)
    no_down = [v for v in to_revert if not _reversible(v, migrations, recorded)]
    if no_down:
        names = ", ".join(v.text for v in no_down)
        raise PlanRefused(
            Reason.DOWN_MIGRATION_MISSING,
            f"cannot go down to {goal or 0}: migration(s) {_clip(names)} have no down step; "
            "an applied migration cannot gain one (its checksum covers up and down), so choose "
            "a higher target, or undo the change with a new forward migration",
            no_down,
        )
    for v in to_revert:
        if v in recorded:
            steps.append(_recorded_step(recorded[v]))
            continue
        m = migrations.get(v)
        assert m is not None and m.down is not None
        steps.append(_step(m, "down", checksums[m.version]))

    remaining = applied - set(to_revert)
    top = max(remaining) if remaining else None
    pending = [
        m
        for m in migrations
        if m.version not in applied and (goal is not None and m.version <= goal)
    ]
    late = [m.version for m in pending if top is not None and m.version < top]
    if late and not out_of_order:
        names = ", ".join(v.text for v in late)
        raise PlanRefused(
            Reason.INVALID_MIGRATION_SET,
            f"migration(s) {_clip(names)} are not applied but are older than the applied "
            f"version {top}; they would run out of order. Give them versions above {top}",
            late,
        )
    steps.extend(_step(m, "up", checksums[m.version]) for m in pending)

    final = remaining | {m.version for m in pending}
    return Plan(
        from_version=current,
        to_version=max(final) if final else None,
        target=target_text,
        steps=tuple(steps),
        options=options,
        verify={
            **{m.version.text: checksums[m.version] for m in migrations},
            # What the runner checks under its lock: the version reverted from its
            # record is applied with the checksum the history has for it.
            **{v.text: a.checksum for v, a in recorded.items()},
        },
    )


def _reversible(
    v: Version, migrations: MigrationSet, recorded: dict[Version, AppliedMigration]
) -> bool:
    """Whether ``v`` has a down step: its migration's, or the one recorded for it."""
    if v in recorded:
        down = recorded[v].down
        return down is not None and down.reversible
    m = migrations.get(v)
    return m is not None and m.reversible


def _recorded_downs(
    migrations: MigrationSet, history: DatabaseState, target: Version | str
) -> dict[Version, AppliedMigration]:
    """Applied versions, absent from the set, that a rollback to an explicit ``target``
    reverts with the down step recorded at apply time (rule 4); an unknown target
    gives none (it is refused with its own reason next)."""
    if isinstance(target, str) and target == LATEST:
        return {}
    try:
        goal = resolve_target(migrations, target)
    except PlanRefused:
        return {}
    return {
        a.version: a
        for a in history.applied
        if (goal is None or a.version > goal)
        and migrations.get(a.version) is None
        and a.down is not None
    }


def _check_records(
    migrations: MigrationSet, history: DatabaseState, to_revert: Iterable[Version]
) -> None:
    """Refuse when a recorded down of a version the plan reverts was edited: its
    checksum does not match its text, or it disagrees with the migration in the set."""
    by_version = {a.version: a for a in history.applied}
    bad: list[Version] = []
    for v in to_revert:
        a = by_version.get(v)
        record = a.down if a is not None else None
        if record is None:
            continue
        m = migrations.get(v)
        if not record.intact or (m is not None and m.down_checksum != record.checksum):
            bad.append(v)
    if bad:
        names = ", ".join(v.text for v in bad)
        raise PlanRefused(
            Reason.CHECKSUM_MISMATCH,
            f"the down SQL recorded in the history when migration(s) {_clip(names)} were "
            "applied does not match its checksum or its migration: the history table was "
            "edited. Nothing runs; restore the history row (or the migration's definition) "
            "and look at who changed it",
            bad,
        )


def _no_record_hint(history: DatabaseState, missing: Iterable[Version], target: object) -> str:
    """Why the recorded down of a missing version is not used, when one exists."""
    recorded = {a.version for a in history.applied if a.down is not None}
    if not any(v in recorded for v in missing):
        return ""
    if isinstance(target, str) and target == LATEST:
        return (
            "; to roll them back with the down SQL recorded when they were applied, set an "
            "explicit lower target version (latest never reverts a version whose definition "
            "disappeared)"
        )
    return ""


def _recorded_step(a: AppliedMigration) -> PlanStep:
    assert a.down is not None and a.down.sql is not None
    return PlanStep(
        version=a.version,
        description=a.description,
        direction="down",
        sql=a.down.sql,
        transactional=a.down.transactional,
        checksum=a.checksum,
        source="recorded",
        # A batched down recorded with its settings runs batch by batch, as its
        # migration's own would (the record is intact: _check_records).
        batched=a.down.batched,
    )


def _step(m: Migration, direction: str, checksum: str) -> PlanStep:
    if direction == "up":
        # The down step travels with the up step, to be recorded in its history row
        # (a batched down with its settings, which ``batched`` carries).
        return PlanStep(
            version=m.version,
            description=m.description,
            direction="up",
            sql=m.up,
            transactional=m.transactional,
            checksum=checksum,
            down=m.down if m.reversible else None,
            down_checksum=m.down_checksum,
            batched=m.batched,
        )
    return PlanStep(
        version=m.version,
        description=m.description,
        direction="down",
        sql=m.down or "",
        transactional=m.transactional,
        checksum=checksum,
        batched=m.batched,
    )


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
