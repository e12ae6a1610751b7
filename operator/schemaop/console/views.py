"""What the console's API answers, shaped from Kubernetes objects (pure: dicts in, dicts out).

No I/O: :mod:`schemaop.console.app` reads the objects (with the person's own
credentials) and hands them here. The plan preview uses the operator's own code
path: the SchemaMigrations read into a migration set as the operator reads them
(:func:`schemaop.decide.to_migrations`), the planner (:mod:`schemaop.planner`)
and the destructive-change policy (:func:`schemaop.engine.droprewrite.plan_hook`);
what the database has applied is taken from status (each SchemaMigration's
``status.applied`` and the SchemaVersion's ``status.history``), never from the
database.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from schemaop import redaction
from schemaop.decide.spec import InvalidSpec, run_options, to_migrations
from schemaop.engine.droprewrite import plan_hook
from schemaop.lint.core import lint_set
from schemaop.lint.findings import Finding
from schemaop.model.history import AppliedMigration, DatabaseState, RecordedDown
from schemaop.model.migration import InvalidMigrationSet, Migration, MigrationSet, down_checksum
from schemaop.model.plan import InvalidPlan, PlanStep
from schemaop.model.version import InvalidVersion, Version
from schemaop.planner import PlanRefused, plan

__all__ = [
    "LAST_APPLIED",
    "event_summary",
    "migration_lint",
    "own_migrations",
    "preview",
    "recorded_note",
    "run_summary",
    "strip",
]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# The SQL of a down step recorded in the database's history is not in Kubernetes: the
# preview names it instead of showing it.
RECORDED_SQL = "-- the down SQL recorded in the database's history when this version was applied"


def recorded_note(version: str) -> str:
    """What a preview says of a down step whose SchemaMigration is gone."""
    return (
        f"The SchemaMigration of version {version} is gone. The operator will run the down "
        f"SQL the database's history recorded when {version} was applied, checked against "
        "its checksum; it is not shown here because the console reads no database (the "
        "plan's ConfigMap and the run record show what ran). If nothing was recorded (a "
        "version applied before schemaop recorded down steps), the plan stops before "
        "anything runs (Stalled, MissingMigration)."
    )


def strip(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an object without ``metadata.managedFields`` and the last-applied
    annotation (which repeats the whole spec as the person last applied it)."""
    out = copy.deepcopy(dict(obj))
    meta = out.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            annotations.pop(LAST_APPLIED, None)
            if not annotations:
                meta.pop("annotations")
    return out


def own_migrations(
    schemaversion: str, objects: Iterable[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The SchemaMigrations that name ``schemaversion`` (as the operator groups them)."""
    return [
        m
        for m in objects
        if ((m.get("spec") or {}).get("schemaVersionRef") or {}).get("name") == schemaversion
    ]


def _finding(f: Finding) -> dict[str, Any]:
    out: dict[str, Any] = {
        "code": f.code,
        "severity": f.severity.value,
        "message": f.message,
        "line": f.line,
        "column": f.column,
        "direction": "down" if f.part == "down" else "up",
    }
    if f.hint:
        out["hint"] = f.hint
    if f.suppressed:
        out["suppressed"] = True
    return out


def _migration(obj: Mapping[str, Any]) -> Migration | None:
    try:
        return to_migrations([obj])[0]
    except (InvalidMigrationSet, IndexError):
        return None


def migration_lint(objects: Sequence[Mapping[str, Any]]) -> list[list[dict[str, Any]]]:
    """Each SchemaMigration's lint findings (with their lines), in the order given.

    Linted as a set in version order, as the operator lints them (a table made by an
    earlier migration is known to a later one); a migration that is not valid on its
    own (a bad version) has no findings."""
    parsed = [_migration(o) for o in objects]
    valid = sorted(
        ((i, m) for i, m in enumerate(parsed) if m is not None), key=lambda im: im[1].version
    )
    out: list[list[dict[str, Any]]] = [[] for _ in objects]
    try:
        results = lint_set([m for _, m in valid])
    except Exception:
        return out
    for (i, _), result in zip(valid, results, strict=True):
        out[i] = [_finding(f) for f in result.findings]
    return out


def run_summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """The list form of a SchemaMigrationRun (what the runs table shows)."""
    spec = record.get("spec") or {}
    trigger = spec.get("trigger") or {}
    return {
        "name": (record.get("metadata") or {}).get("name"),
        "job": (spec.get("job") or {}).get("name"),
        "planHash": spec.get("planHash"),
        "attempt": spec.get("attempt"),
        "trigger": trigger.get("kind") if isinstance(trigger, Mapping) else trigger,
        "startTime": spec.get("startTime"),
        "completionTime": spec.get("completionTime"),
        "duration": spec.get("duration"),
        "outcome": spec.get("outcome"),
        "outcomeReason": spec.get("outcomeReason"),
        "fromVersion": spec.get("fromVersion"),
        "toVersion": spec.get("toVersion"),
    }


def runs_newest_first(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    summaries = [run_summary(r) for r in records]
    return sorted(
        summaries,
        key=lambda s: (str(s.get("startTime") or s.get("completionTime") or ""), s["name"] or ""),
        reverse=True,
    )


def event_summary(event: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": event.get("type"),
        "reason": event.get("reason"),
        "message": redaction.scrub(str(event.get("message") or "")),
        "count": event.get("count") or 1,
        "lastTimestamp": event.get("lastTimestamp")
        or event.get("eventTime")
        or (event.get("metadata") or {}).get("creationTimestamp"),
    }


# --- the plan preview -------------------------------------------------------------------


def applied_from_status(
    status: Mapping[str, Any], objects: Sequence[Mapping[str, Any]], migrations: MigrationSet
) -> DatabaseState:
    """What the database has applied, as far as Kubernetes knows it: the versions whose
    SchemaMigration says ``status.applied``, and those whose newest row in
    ``status.history`` is an applied ``up`` (a SchemaMigration deleted since: its down
    step is the one recorded in the history, :data:`RECORDED_SQL`)."""
    applied: dict[Version, AppliedMigration] = {}
    for obj in objects:
        if not (obj.get("status") or {}).get("applied"):
            continue
        m = _migration(obj)
        if m is not None and migrations.get(m.version) is not None:
            applied[m.version] = AppliedMigration(m.version, m.description, m.checksum)
    newest: dict[Version, Mapping[str, Any]] = {}
    for row in status.get("history") or []:  # newest first
        try:
            version = Version(str(row.get("version", "")))
        except InvalidVersion:
            continue
        if row.get("status") == "applied":
            newest.setdefault(version, row)
    for version, row in newest.items():
        if version in applied or migrations.get(version) is not None:
            continue
        if row.get("direction") == "up":
            applied[version] = AppliedMigration(
                version,
                str(row.get("description", "")),
                "",
                plan_hash=row.get("planHash"),
                down=RecordedDown(RECORDED_SQL, down_checksum(RECORDED_SQL, True)),
            )
    return DatabaseState(applied=tuple(sorted(applied.values(), key=lambda a: a.version)))


def _destructive(step: PlanStep, original: PlanStep | None, policy: str) -> list[str]:
    """What the destructive-change policy does in this step, in words."""
    out: list[str] = []
    for a in step.archives:
        what = f"{a.get('object', 'table')} {a.get('table', '')}"
        if a.get("column"):
            what += f".{a['column']}"
        if a.get("kind") == "archive":
            out.append(f"{what}: its data is copied to {a.get('archive', 'an archive')} first")
        else:
            out.append(f"{what}: renamed to a tombstone ({a.get('tombstone', '')}), not dropped")
    if step.direction == "down" and original is not None and step.sql != original.sql:
        out.append(
            f"restores the data the {policy} policy kept when version {step.version.text} "
            "was applied"
        )
    return out


def preview(
    schemaversion: Mapping[str, Any], objects: Sequence[Mapping[str, Any]], target: str
) -> dict[str, Any]:
    """The plan that setting ``spec.targetVersion`` to ``target`` would run (see the module
    docstring); ``refused`` says why there would be none."""
    meta = schemaversion.get("metadata") or {}
    spec = schemaversion.get("spec") or {}
    status = schemaversion.get("status") or {}
    current = str(status.get("currentVersion") or "")
    out: dict[str, Any] = {
        "target": target,
        "from": current,
        "direction": "none",
        "steps": [],
        "refused": None,
    }
    own = own_migrations(str(meta.get("name", "")), objects)
    try:
        migrations = to_migrations(own)
    except InvalidMigrationSet as exc:
        out["refused"] = str(exc)
        return out
    if status.get("dirty"):
        out["refused"] = (
            "the database is dirty (a non-transactional step did not finish): "
            "see the SchemaVersion's conditions; schemaop repair resolves it"
        )
        return out
    try:
        options = run_options(spec)
        state = applied_from_status(status, own, migrations)
        planned = plan(migrations, state, target, options=options)
    except PlanRefused as refusal:
        out["refused"] = refusal.message
        return out
    except (InvalidSpec, InvalidPlan) as exc:
        out["refused"] = str(exc)
        return out
    policy = str(spec.get("destructive", "Block"))
    try:
        rewritten, blocking, _ = plan_hook(planned, migrations, policy)
    except Exception:
        rewritten, blocking = planned, []
    if blocking:
        listing = "; ".join(
            f"{b.get('version', '?')}: {b.get('code', '')} {b.get('message', '')} "
            f"(line {b.get('line')})"
            for b in blocking[:5]
        )
        out["refused"] = (
            f"the destructive-change policy {policy} refuses this plan: {listing}. "
            "Set spec.destructive to Backup, Rename or Allow, or add "
            "'-- schemaop:allow CODE reason' above the statement"
        )
    originals = {(s.version, s.direction): s for s in planned.steps}
    directions = {s.direction for s in rewritten.steps}
    out["direction"] = "none" if not directions else ("down" if directions == {"down"} else "up")
    for step in rewritten.steps:
        recorded = step.source == "recorded"
        out["steps"].append(
            {
                "version": step.version.text,
                "direction": step.direction,
                "description": step.description,
                "sql": None if recorded and step.sql == RECORDED_SQL else step.sql,
                "note": recorded_note(step.version.text) if recorded else None,
                "source": "recorded" if recorded else "object",
                "transactional": step.transactional,
                "destructive": _destructive(
                    step, originals.get((step.version, step.direction)), policy
                ),
            }
        )
    return out
