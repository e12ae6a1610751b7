"""The plan checked against the history, without a database (engine/verify.py, issue 14)."""

from __future__ import annotations

import pytest

from schemaop import planner
from schemaop.engine.errors import Refused
from schemaop.engine.verify import check_history, steps_to_run
from schemaop.model import DatabaseState, Migration, MigrationSet, Plan, Version
from schemaop.model.conditions import Reason
from schemaop.model.history import HistoryEntry, derive_state

MIGS = MigrationSet(
    [Migration(Version(v), f"m{v}", f"CREATE TABLE t{v} (a int);", None, True) for v in "123"]
)


def entry(
    id_: int, version: str, checksum: str, status: str = "applied", direction: str = "up"
) -> HistoryEntry:
    return HistoryEntry(
        id=id_,
        version=Version(version),
        description=f"m{version}",
        direction=direction,  # type: ignore[arg-type]
        checksum=checksum,
        status=status,  # type: ignore[arg-type]
        applied_at=None,
        duration_ms=None,
        applied_by="runner",
        plan_hash=None,
        fingerprint=None,
        error=None,
        transactional=status != "pending",
    )


def full_plan() -> Plan:
    return planner.plan(MIGS, DatabaseState(), "latest")


def test_steps_another_runner_did_are_not_to_do() -> None:
    plan = full_plan()
    state = derive_state([entry(1, "1", plan.verify["1"])], recent=0)
    check_history(plan, state, resume_dirty=False)
    assert [(i, s.version.text, todo) for i, s, todo in steps_to_run(plan, state)] == [
        (0, "1", False),
        (1, "2", True),
        (2, "3", True),
    ]


def test_an_edited_applied_migration_is_refused() -> None:
    plan = full_plan()
    state = derive_state([entry(1, "2", "other")], recent=0)
    with pytest.raises(Refused) as info:
        check_history(plan, state, resume_dirty=False)
    assert info.value.reason == Reason.CHECKSUM_MISMATCH and info.value.version == "2"
    seen: list[int] = []
    with pytest.raises(Refused):
        for index, _, _ in steps_to_run(plan, state):
            seen.append(index)
    assert seen == [0]  # the steps before the edited one were reported first


def test_an_unknown_applied_version_is_refused() -> None:
    plan = full_plan()
    state = derive_state([entry(1, "9", "x")], recent=0)
    with pytest.raises(Refused) as info:
        check_history(plan, state, resume_dirty=False)
    assert info.value.reason == Reason.MISSING_MIGRATION and info.value.version == "9"


def test_a_dirty_database_is_refused_unless_resuming_its_step() -> None:
    plan = full_plan()
    state = derive_state([entry(1, "1", plan.verify["1"], status="pending")], recent=0)
    with pytest.raises(Refused) as info:
        check_history(plan, state, resume_dirty=False)
    assert info.value.reason == Reason.DATABASE_DIRTY
    resume = check_history(plan, state, resume_dirty=True)
    assert resume is not None and resume.version == Version("1")
