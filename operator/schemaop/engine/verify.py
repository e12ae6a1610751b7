"""The plan checked against the database's history, before anything runs. Pure.

The runner calls these under its advisory lock, on the history it just read
(:func:`schemaop.engine.runner.run_plan`, step 4): they need no connection, so
they are tested without a database (``tests/unit/test_verify.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

from schemaop.engine.errors import Refused
from schemaop.model.conditions import Reason
from schemaop.model.history import DatabaseState, HistoryEntry
from schemaop.model.migration import down_checksum
from schemaop.model.plan import Plan, PlanStep


def check_history(plan: Plan, state: DatabaseState, resume_dirty: bool) -> HistoryEntry | None:
    """Refuse a plan the history contradicts; returns the dirty step to resume, if any.

    Refused: a dirty database (unless ``resume_dirty`` and the dirty step is the
    plan's first), an applied migration whose checksum differs from the plan's
    ``verify`` map, a version applied but unknown to the plan (unless
    ``allowMissing``), a down step made from the history's record
    (``source: recorded``) that is not the down step recorded for the version
    as it is applied now.
    """
    resume: HistoryEntry | None = None
    if state.dirty_step is not None:
        d = state.dirty_step
        first = plan.steps[0] if plan.steps else None
        matches = (
            first is not None
            and first.version == d.version
            and first.direction == d.direction
            and first.checksum == d.checksum
        )
        if not (resume_dirty and matches):
            raise Refused(
                Reason.DATABASE_DIRTY,
                f"the database is dirty: non-transactional {d.direction} step {d.version} "
                f"did not finish ({d.statements_done} statement(s) done); fix the cause and "
                f"run 'schemaop repair --retry --dir DIR', or 'schemaop repair --mark-applied "
                f"{d.version}' if it was completed by hand",
                version=d.version.text,
            )
        resume = d
    if plan.verify:
        mismatched = [
            a.version.text
            for a in state.applied
            if a.version.text in plan.verify and plan.verify[a.version.text] != a.checksum
        ]
        # Versions are compared by text; "1" and "1.0" are distinct migrations.
        if mismatched:
            raise Refused(
                Reason.CHECKSUM_MISMATCH,
                f"applied migration(s) {', '.join(mismatched)} differ from the plan's (checksum "
                "mismatch); the plan is stale or an applied migration was edited",
                version=mismatched[0],
            )
        unknown = [a.version.text for a in state.applied if a.version.text not in plan.verify]
        if unknown and not plan.options.allow_missing:
            raise Refused(
                Reason.MISSING_MIGRATION,
                f"version(s) {', '.join(unknown)} are applied in the database but unknown to "
                "the plan; the plan is stale or migrations were removed",
                version=unknown[0],
            )
    for step in plan.steps:
        if step.source != "recorded":
            continue
        applied = state.applied_version(step.version)
        record = applied.down if applied is not None else None
        if applied is not None and (
            record is None
            or not record.intact
            or record.checksum != down_checksum(step.sql, step.transactional, step.down_batched)
        ):
            raise Refused(
                Reason.CHECKSUM_MISMATCH,
                f"the plan reverts {step.version} with a recorded down step that is not the "
                "one the history records for it now (edited, or the plan is stale)",
                version=step.version.text,
            )
    return resume


def steps_to_run(plan: Plan, state: DatabaseState) -> Iterator[tuple[int, PlanStep, bool]]:
    """Each step of the plan, in order, with its index and whether it is still to do.

    A step another runner already did (an ``up`` applied with the same checksum,
    a ``down`` already reverted) is not to do; an ``up`` applied with another
    checksum is refused (raised when the iteration reaches it).
    """
    applied = {a.version: a.checksum for a in state.applied}
    for index, step in enumerate(plan.steps):
        done = applied.get(step.version)
        if done is not None and step.checksum and done != step.checksum:
            raise Refused(
                Reason.CHECKSUM_MISMATCH,
                f"migration {step.version} is applied with a different checksum than the "
                "plan's step; the plan is stale or the migration was edited",
                version=step.version.text,
            )
        if (step.direction == "up") == (done is not None):
            yield index, step, False  # another runner did it already
            continue
        yield index, step, True
        # Later steps see the state this one will leave.
        if step.direction == "up":
            applied[step.version] = step.checksum
        else:
            applied.pop(step.version, None)
