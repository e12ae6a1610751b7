"""The planner and the plan model: refusals, ordering, hashing, the plan file format."""

from __future__ import annotations

import dataclasses
import json

import pytest

from schemaop import planner
from schemaop.model import (
    AppliedMigration,
    DatabaseState,
    InvalidPlan,
    Migration,
    MigrationSet,
    Plan,
    RunOptions,
    Version,
)
from schemaop.model.conditions import REFUSALS, Reason


def m(v: str, down: str | None = "SELECT 'down';", tx: bool = True) -> Migration:
    return Migration(Version(v), f"m{v}", f"SELECT {v!r};", down, tx)


def state(*migrations: Migration) -> DatabaseState:
    return DatabaseState(
        applied=tuple(AppliedMigration(x.version, x.description, x.checksum) for x in migrations),
        history_exists=True,
    )


SET = MigrationSet([m("1"), m("2"), m("3")])


def test_refusal_reasons_are_exactly_the_agreed_names() -> None:
    assert {r.value for r in REFUSALS} == {
        "ChecksumMismatch",
        "DownMigrationMissing",
        "MissingMigration",
        "DatabaseDirty",
        "InvalidMigrationSet",
        "UnknownTarget",
    }


def test_up_plan_from_empty() -> None:
    p = planner.plan(SET, DatabaseState())
    assert [(s.direction, s.version.text) for s in p.steps] == [
        ("up", "1"),
        ("up", "2"),
        ("up", "3"),
    ]
    assert p.from_version is None and p.to_version == Version("3") and p.target == "latest"
    assert p.verify == {x.version.text: x.checksum for x in SET}


def test_target_as_version_object() -> None:
    p = planner.plan(SET, DatabaseState(), Version("2"))
    assert p.to_version == Version("2") and p.target == "2" and len(p.steps) == 2


def test_down_plan_in_reverse_order_and_mixed_plan() -> None:
    p = planner.plan(SET, state(*SET), "1")
    assert [(s.direction, s.version.text) for s in p.steps] == [("down", "3"), ("down", "2")]
    assert p.direction == "down"
    assert p.steps[0].sql == "SELECT 'down';"


def test_invalid_target_text_is_unknown_target() -> None:
    with pytest.raises(planner.PlanRefused) as exc:
        planner.plan(SET, DatabaseState(), "v2")
    assert exc.value.reason is Reason.UNKNOWN_TARGET


def test_out_of_order_allowed_explicitly() -> None:
    p = planner.plan(SET, state(SET[0], SET[2]), out_of_order=True)
    assert [s.version.text for s in p.steps] == ["2"]


def test_empty_set_latest_is_nothing() -> None:
    p = planner.plan(MigrationSet([]), DatabaseState())
    assert p.empty and p.to_version is None


def test_options_are_carried_and_hashed() -> None:
    a = planner.plan(SET, DatabaseState(), options=RunOptions(lock_timeout_ms=1000))
    b = planner.plan(SET, DatabaseState(), options=RunOptions(lock_timeout_ms=2000))
    assert a.options.lock_timeout_ms == 1000
    assert a.hash != b.hash


def test_allow_missing_sets_the_run_option() -> None:
    extra = m("0.5")
    p = planner.plan(SET, state(extra), allow_missing=True)
    assert p.options.allow_missing
    assert [s.version.text for s in p.steps] == ["1", "2", "3"]


def test_hash_is_deterministic_and_short_hash_is_12_hex() -> None:
    a = planner.plan(SET, DatabaseState())
    b = planner.plan(MigrationSet(reversed(list(SET))), DatabaseState())
    assert a.hash == b.hash and len(a.hash) == 64
    assert a.short_hash == a.hash[:12] and all(c in "0123456789abcdef" for c in a.short_hash)


def test_plan_file_round_trip_and_tamper_detection() -> None:
    p = planner.plan(SET, DatabaseState(), options=RunOptions(snapshot="Schema"))
    text = p.to_json()
    assert Plan.from_json(text) == p
    assert Plan.from_json(p.to_json(indent=2)) == p
    data = json.loads(text)
    assert data["kind"] == "Plan" and data["hash"] == p.hash
    data["steps"][0]["sql"] = "DROP TABLE users;"
    with pytest.raises(InvalidPlan, match="hash mismatch"):
        Plan.from_dict(data)


def test_plan_holds_no_connection_details() -> None:
    text = planner.plan(SET, DatabaseState()).to_json()
    for word in ("password", "host", "dsn", "url", "postgresql://"):
        assert word not in text.lower()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(steps="x"),
        lambda d: d["steps"][0].update(direction="sideways"),
        lambda d: d["steps"][0].update(version="v1"),
        lambda d: d["options"].update(retries=0),
        lambda d: d["options"].update(snapshot="Full", snapshotDir=None),
        lambda d: d["options"].update(schemas=["schemaop"]),
        lambda d: d.update(kind="Pod"),
        lambda d: d.update(verify=[1]),
    ],
)
def test_bad_plan_files_are_refused(mutate: object) -> None:
    data = planner.plan(SET, DatabaseState()).to_dict()
    data.pop("hash")
    mutate(data)  # type: ignore[operator]
    with pytest.raises(InvalidPlan):
        Plan.from_dict(data)


def test_not_json() -> None:
    with pytest.raises(InvalidPlan, match="not valid JSON"):
        Plan.from_json("{nope")


def test_archives_metadata_round_trips() -> None:
    p = planner.plan(SET, DatabaseState())
    step = dataclasses.replace(p.steps[0], archives=({"table": "public.t", "archive": "a.t_1"},))
    p2 = dataclasses.replace(p, steps=(step, *p.steps[1:]))
    assert Plan.from_json(p2.to_json()).steps[0].archives == step.archives
    assert p2.hash != p.hash


def test_refusal_to_dict() -> None:
    with pytest.raises(planner.PlanRefused) as exc:
        planner.plan(MigrationSet([m("1", down=None)]), state(m("1", down=None)), "0")
    assert exc.value.to_dict()["reason"] == "DownMigrationMissing"
    assert exc.value.to_dict()["versions"] == ["1"]


# --- rollback with the down SQL recorded at apply time (issue 15, part 2) ----------


def recorded(*migrations: Migration, tamper: str | None = None) -> DatabaseState:
    """Applied, each with its down step recorded as the runner records it."""
    from schemaop.model.history import RecordedDown

    applied = []
    for x in migrations:
        down = RecordedDown(x.down, x.down_checksum, x.transactional)
        if tamper == x.version.text:
            down = dataclasses.replace(down, sql="DROP TABLE everything;")
        applied.append(AppliedMigration(x.version, x.description, x.checksum, down=down))
    return DatabaseState(applied=tuple(applied), history_exists=True)


def test_up_steps_carry_the_down_step_to_record() -> None:
    p = planner.plan([m("1"), m("2", down=None)], DatabaseState())
    one, two = p.steps
    assert one.down == "SELECT 'down';" and one.down_checksum == m("1").down_checksum
    assert two.down is None and two.down_checksum == m("2", down=None).down_checksum
    assert Plan.from_json(p.to_json()) == p
    assert json.loads(p.to_json())["steps"][0]["downChecksum"] == one.down_checksum


def test_a_plan_without_recorded_fields_keeps_its_json() -> None:
    # Down steps and plans made by an older schemaop carry neither field: same hash.
    step = planner.plan(SET, state(*SET), "2").steps[0]
    assert set(step.to_dict()) == {
        "version", "description", "direction", "sql", "transactional", "checksum", "archives"
    }  # fmt: skip


def test_rollback_uses_the_recorded_down_when_the_migration_is_gone() -> None:
    gone = m("3", down="DROP TABLE t3;", tx=False)
    p = planner.plan([m("1"), m("2")], recorded(m("1"), m("2"), gone), "1")
    assert [(s.version.text, s.source) for s in p.steps] == [("3", "recorded"), ("2", "migration")]
    step = p.steps[0]
    assert step.sql == "DROP TABLE t3;" and step.transactional is False
    assert step.checksum == gone.checksum and step.description == "m3"
    # The runner's check under the lock knows the reverted version and its checksum.
    assert p.verify["3"] == gone.checksum and not p.options.allow_missing
    assert [s.version for s in p.recorded_downs] == [Version("3")]
    assert Plan.from_json(p.to_json()) == p
    assert json.loads(p.to_json())["steps"][0]["source"] == "recorded"


def test_latest_never_reverts_a_version_whose_definition_disappeared() -> None:
    with pytest.raises(planner.PlanRefused) as exc:
        planner.plan([m("1"), m("2")], recorded(m("1"), m("2"), m("3")), "latest")
    assert exc.value.reason is Reason.MISSING_MIGRATION
    assert "explicit lower target" in exc.value.message


def test_a_row_without_a_recorded_down_is_still_missing() -> None:
    with pytest.raises(planner.PlanRefused) as exc:
        planner.plan([m("1"), m("2")], state(m("1"), m("2"), m("3")), "1")
    assert exc.value.reason is Reason.MISSING_MIGRATION and exc.value.versions == (Version("3"),)


def test_a_recorded_migration_without_down_cannot_be_reverted() -> None:
    with pytest.raises(planner.PlanRefused) as exc:
        planner.plan([m("1")], recorded(m("1"), m("2", down=None)), "1")
    assert exc.value.reason is Reason.DOWN_MIGRATION_MISSING


def test_a_tampered_recorded_down_is_refused() -> None:
    with pytest.raises(planner.PlanRefused) as exc:
        planner.plan([m("1")], recorded(m("1"), m("2"), tamper="2"), "1")
    assert exc.value.reason is Reason.CHECKSUM_MISMATCH and exc.value.versions == (Version("2"),)
    assert "recorded in the history" in exc.value.message


def test_the_migration_wins_when_present_and_must_agree_with_the_record() -> None:
    # Present and agreeing: the set's down step, as before.
    p = planner.plan(SET, recorded(*SET), "2")
    assert [(s.version.text, s.source) for s in p.steps] == [("3", "migration")]
    # The history says another down for the same applied checksum: the record was edited.
    edited = recorded(*SET)
    a3 = edited.applied[2]
    assert a3.down is not None
    other = dataclasses.replace(a3.down, sql="SELECT 'other';")
    other = dataclasses.replace(other, checksum=m("9", down="SELECT 'other';").down_checksum)
    assert other.intact
    edited = dataclasses.replace(
        edited, applied=(*edited.applied[:2], dataclasses.replace(a3, down=other))
    )
    with pytest.raises(planner.PlanRefused) as exc:
        planner.plan(SET, edited, "2")
    assert exc.value.reason is Reason.CHECKSUM_MISMATCH


def test_an_applied_migration_that_changed_is_still_a_checksum_mismatch() -> None:
    # A record never excuses an edited migration that is present.
    changed = Migration(Version("3"), "m3", "SELECT 'edited';", "SELECT 'down';")
    with pytest.raises(planner.PlanRefused) as exc:
        planner.plan([m("1"), m("2"), changed], recorded(*SET), "1")
    assert exc.value.reason is Reason.CHECKSUM_MISMATCH
