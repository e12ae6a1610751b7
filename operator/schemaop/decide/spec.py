"""A SchemaVersion's spec and its SchemaMigrations, read and bounds-checked (pure).

The CRD refuses most bad values at admission; an object admitted before a CRD
upgrade can still carry one, so :func:`spec_problems` names every value the
operator cannot use, and :func:`decide` stalls on them with a reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from schemaop.model.duration import FIELDS, LOCK_TIMEOUT, STATEMENT_TIMEOUT, InvalidDuration
from schemaop.model.migration import InvalidMigrationSet, Migration, MigrationSet
from schemaop.model.plan import InvalidPlan, RunOptions
from schemaop.model.version import InvalidVersion, Version

# Bounds of integer spec fields, as in schemas/schemaversion.json (a unit test compares).
LOCK_RETRIES = (1, 100)
ACTIVE_DEADLINE_SECONDS = (1, 2_592_000)
TTL_SECONDS_AFTER_FINISHED = (0, 2_147_483_647)
BACKOFF_LIMIT = (0, 20)


class InvalidSpec(ValueError):
    """A spec value the operator cannot use (the CRD normally refuses it at admission)."""


def to_migrations(objects: Sequence[Mapping[str, Any]]) -> MigrationSet:
    """SchemaMigration objects -> a validated set (raises InvalidMigrationSet)."""
    items = []
    for obj in objects:
        name = obj["metadata"]["name"]
        try:
            items.append(Migration.from_spec(obj.get("spec") or {}, f"SchemaMigration {name}"))
        except ValueError as exc:
            raise InvalidMigrationSet(f"SchemaMigration {name}: {exc}") from exc
    return MigrationSet(items)


def version_of(obj: Mapping[str, Any]) -> Version | None:
    """A SchemaMigration's version, or None when it is not a valid one."""
    try:
        return Version(str((obj.get("spec") or {}).get("version", "")))
    except InvalidVersion:
        return None


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
        _int_in(job, "backoffLimit", BACKOFF_LIMIT, "spec.job.backoffLimit"),
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
