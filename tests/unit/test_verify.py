"""The plan checked against the history, without a database (engine/verify.py, issue 14)."""

from __future__ import annotations

import dataclasses

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


def test_the_history_carries_the_down_recorded_by_the_latest_up_row() -> None:
    from schemaop.model.migration import down_checksum

    rows = [
        dataclasses.replace(
            entry(1, "1", "c1"), down_sql="DROP x;", down_checksum=down_checksum("DROP x;")
        ),
        entry(2, "1", "c1", direction="down"),
        entry(3, "1", "c1"),  # applied again by an older schemaop: nothing recorded
        dataclasses.replace(entry(4, "2", "c2"), down_checksum=down_checksum(None)),
    ]
    state = derive_state(rows, recent=0)
    assert state.applied[0].down is None
    two = state.applied[1].down
    assert two is not None and two.intact and not two.reversible and two.sql is None


def test_a_recorded_down_step_must_be_the_one_recorded_now() -> None:
    from schemaop.model.history import RecordedDown
    from schemaop.model.migration import down_checksum

    one = Migration(Version("1"), "m1", "CREATE TABLE t1 (a int);", "DROP TABLE t1;")
    gone = Migration(Version("2"), "m2", "CREATE TABLE t2 (a int);", "DROP TABLE t2;")
    row1 = dataclasses.replace(
        entry(1, "1", one.checksum), down_sql=one.down, down_checksum=one.down_checksum
    )
    row2 = dataclasses.replace(
        entry(2, "2", gone.checksum), down_sql=gone.down, down_checksum=gone.down_checksum
    )
    state = derive_state([row1, row2], recent=0)
    assert state.applied[1].down == RecordedDown("DROP TABLE t2;", gone.down_checksum, True)
    plan = planner.plan([one], state, "1")
    assert [s.source for s in plan.steps] == ["recorded"]
    check_history(plan, state, resume_dirty=False)
    # Edited since the plan was made (the text and a checksum that matches it).
    edited = dataclasses.replace(
        row2, down_sql="DROP TABLE t1;", down_checksum=down_checksum("DROP TABLE t1;")
    )
    with pytest.raises(Refused) as info:
        check_history(plan, derive_state([row1, edited], recent=0), resume_dirty=False)
    assert info.value.reason == Reason.CHECKSUM_MISMATCH and info.value.version == "2"
    # Edited text without its checksum.
    broken = dataclasses.replace(row2, down_sql="DROP TABLE t1;")
    with pytest.raises(Refused):
        check_history(plan, derive_state([row1, broken], recent=0), resume_dirty=False)
