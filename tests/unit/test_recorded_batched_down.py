"""A batched down recorded at apply time: its checksum, its settings' round trip, and the
planner's recorded step that runs batch by batch (the engine side is in
tests/integration/test_recorded_batched_down_pg.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from schemaop import planner
from schemaop.engine import history as hist
from schemaop.model import AppliedMigration, DatabaseState, Plan, Version
from schemaop.model.conditions import Reason
from schemaop.model.history import HistoryEntry, RecordedDown, derive_state
from schemaop.model.migration import Batched, Migration, down_checksum

pytestmark = pytest.mark.unit

UP = "UPDATE public.orders SET c = 1 WHERE id BETWEEN :lo_id AND :hi_id"
DOWN = "UPDATE public.orders SET c = NULL WHERE id BETWEEN :lo_id AND :hi_id"


def mig(v: str = "4", down: bool = True, **settings: int) -> Migration:
    settings.setdefault("initial_size", 20)
    b = Batched("public.orders", ("id",), down=down, **settings)
    return Migration(Version(v), "backfill", UP, DOWN, batched=b, source=f"m{v}")


def test_a_down_that_is_not_batched_keeps_its_checksum() -> None:
    # Computed by schemaop before batched downs were recorded: rows written since
    # must still verify.
    assert down_checksum("DROP TABLE t;", True) == (
        "d3e384a1425bd7e5c4d60874cdc737edb473581cd0d18f3a2653c7971bf0fe9f"
    )
    assert down_checksum("UPDATE t SET a = 1", False) == (
        "386876c818a727ffd1374080a8215506dd92a3d209d3cf03d4239964de503c21"
    )
    assert down_checksum(None) == (
        "e79941d044e480d1f58d9592354db321dc17194267c49a28e1750bfb868381eb"
    )
    # A batched migration whose down is plain: the same as the plain down's.
    plain_down = mig(down=False)
    assert plain_down.down_batched is None
    assert plain_down.down_checksum == down_checksum(DOWN, True)


def test_the_batched_settings_change_the_down_checksum() -> None:
    base = mig()
    assert base.down_batched == base.batched
    assert base.down_checksum == down_checksum(DOWN, True, base.batched)
    assert base.down_checksum != down_checksum(DOWN, True)
    others = {
        mig(max_size=100).down_checksum,
        mig(pause_ms=5).down_checksum,
        mig(max_attempts=2).down_checksum,
        mig(target_ms=20).down_checksum,
        base.down_checksum,
    }
    assert len(others) == 5
    assert base.batched is not None
    moved = dataclasses.replace(base, batched=dataclasses.replace(base.batched, table="other"))
    assert moved.down_checksum != base.down_checksum


def test_one_canonical_form_of_the_settings() -> None:
    b = mig().batched
    assert b is not None
    # The plan file's form (to_dict), compact, keys sorted.
    assert json.loads(b.canonical()) == b.to_dict()
    assert b.canonical() == json.dumps(b.to_dict(), sort_keys=True, separators=(",", ":"))
    assert Batched.from_dict(json.loads(b.canonical())) == b


def test_the_up_step_records_the_batched_down_with_its_settings() -> None:
    m = mig(max_size=300, pause_ms=7)
    (step,) = planner.plan([m], DatabaseState()).steps
    assert step.down == DOWN and step.down_checksum == m.down_checksum
    down_sql, down_sum, settings = hist.recorded_down(step)
    assert (down_sql, down_sum) == (DOWN, m.down_checksum)
    assert settings is not None and Batched.from_dict(json.loads(settings)) == m.batched
    # A plain down of a batched migration records no settings.
    (plain,) = planner.plan([mig(down=False)], DatabaseState()).steps
    assert hist.recorded_down(plain)[2] is None
    assert Plan.from_json(planner.plan([m], DatabaseState()).to_json()).steps[0] == step


def row(m: Migration, settings: str | None) -> HistoryEntry:
    return HistoryEntry(
        id=1, version=m.version, description=m.description, direction="up",
        checksum=m.checksum, status="applied", applied_at=dt.datetime.now(dt.UTC),
        duration_ms=1, applied_by="u", plan_hash=None, fingerprint=None, error=None,
        down_sql=m.down, down_checksum=m.down_checksum, down_batched=settings,
    )  # fmt: skip


def test_the_settings_round_trip_through_the_history_row() -> None:
    m = mig(initial_size=20, min_size=10, max_size=40, pause_ms=3, max_attempts=7)
    (step,) = planner.plan([m], DatabaseState()).steps
    settings = hist.recorded_down(step)[2]
    # As jsonb comes back from psycopg (decoded), and as text.
    for value in (json.loads(settings or ""), settings):
        values = {c: getattr(row(m, None), c) for c in hist.COLUMNS}
        values.update(version=m.version.text, down_batched=value)
        entry = hist._entry(tuple(values[c] for c in hist.COLUMNS))
        record = entry.recorded_down
        assert record is not None and record.intact and record.batched == m.batched


def test_a_rollback_past_a_gone_batched_migration_runs_its_recorded_batched_down() -> None:
    one = Migration(Version("1"), "t", "CREATE TABLE t();", "DROP TABLE t;")
    gone = mig("2", max_size=64)
    state = derive_state(
        [
            dataclasses.replace(row(one, None), id=1),
            dataclasses.replace(
                row(gone, gone.batched.canonical() if gone.batched else None), id=2
            ),
        ]
    )
    p = planner.plan([one], state, "1")
    (step,) = p.steps
    assert (step.version.text, step.direction, step.source) == ("2", "down", "recorded")
    assert step.sql == DOWN and step.batched == gone.batched and step.runs_batched
    assert Plan.from_json(p.to_json()) == p
    # The migration present: its own step, and the record agrees with it.
    p = planner.plan([one, gone], state, "1")
    assert p.steps[0].source == "migration" and p.steps[0].batched == gone.batched


def applied(m: Migration, record: RecordedDown) -> DatabaseState:
    return DatabaseState(
        applied=(AppliedMigration(m.version, m.description, m.checksum, down=record),),
        history_exists=True,
    )


def test_a_tampered_batched_record_refuses() -> None:
    m = mig()
    assert m.batched is not None
    good = RecordedDown(DOWN, m.down_checksum, True, m.batched.canonical())
    assert good.intact
    tampered = [
        # Other settings (a bigger batch), the same checksum.
        dataclasses.replace(good, batched_json=mig(max_size=900).batched.canonical()),  # type: ignore[union-attr]
        # The settings removed: it would run as one statement.
        dataclasses.replace(good, batched_json=None),
        dataclasses.replace(good, batched_json="{not json"),
        dataclasses.replace(good, batched_json='{"table": "t"}'),
        dataclasses.replace(
            good, batched_json=dataclasses.replace(m.batched, down=False).canonical()
        ),
    ]
    for record in tampered:
        assert not record.intact
        for migrations in ([], [m]):  # gone, and present
            with pytest.raises(planner.PlanRefused) as exc:
                planner.plan(migrations, applied(m, record), "0")
            assert exc.value.reason is Reason.CHECKSUM_MISMATCH, record
    # Intact but disagreeing with the migration present (another batch size): refused.
    other = mig(max_size=900)
    assert other.batched is not None
    disagree = RecordedDown(DOWN, other.down_checksum, True, other.batched.canonical())
    assert disagree.intact
    with pytest.raises(planner.PlanRefused) as exc:
        planner.plan([m], applied(m, disagree), "0")
    assert exc.value.reason is Reason.CHECKSUM_MISMATCH


def test_the_operator_steers_a_recorded_batched_down_in_progress() -> None:
    # SchemaMigration 2 deleted; its batched down runs from the record in a Job.
    from schemaop.decide import Facts, JobFacts, decide
    from schemaop.model.batchprogress import BatchProgress
    from schemaop.model.conditions import ConditionType

    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    gone = mig("2")
    assert gone.batched is not None
    record = RecordedDown(DOWN, gone.down_checksum, True, gone.batched.canonical())
    one = {"metadata": {"name": "m1", "generation": 1}, "spec": {"version": "1", "up": "x"}}
    state = DatabaseState(
        applied=(
            AppliedMigration(Version("1"), "", Migration.from_spec(one["spec"], "m1").checksum),
            AppliedMigration(gone.version, gone.description, gone.checksum, down=record),
        ),
        history_exists=True,
    )
    progress = BatchProgress.from_row(
        {
            "version": "2", "direction": "down", "plan_hash": "ab" * 32, "rows_done": 40,
            "batches_done": 2, "rows_total_estimate": 300, "batch_size": 20,
            "rows_per_second": 100.0, "throttle_reason": None, "failed_attempts": 0,
            "last_error": None, "started_at": now, "updated_at": now, "completed_at": None,
        }
    )  # fmt: skip
    job = JobFacts(
        name="db-abababababab-1", plan_hash12="ab" * 6, attempt=1, active=True,
        succeeded=False, failed=False, started_at="2026-12-01T00:00:00Z", uid="uid-1",
    )  # fmt: skip

    def facts(spec: dict[str, object]) -> Facts:
        return Facts(
            name="db", namespace="ns", generation=3, spec={"connection": {}, **spec},
            annotations={}, migrations=[one], now=now, db_state=state, jobs=[job],
            batch_progress=progress, batch_progress_read=True,
        )  # fmt: skip

    # No Job yet: the operator plans the recorded batched down, status says so.
    d = decide(dataclasses.replace(facts({"targetVersion": "1"}), jobs=[], batch_progress=None))
    assert d.create_job_for is not None
    plan = d.create_job_for[0]
    assert [(s.version.text, s.source, s.runs_batched) for s in plan.steps] == [
        ("2", "recorded", True)
    ]
    assert plan.steps[0].batched == gone.batched
    assert Plan.from_json(plan.to_json()) == plan  # as the Job reads it
    shown = d.status["plan"]["steps"][0]
    assert shown["source"] == "recorded" and shown.get("batched") is True
    planned = d.status
    # Its Job running: the progress is shown.
    d = decide(facts({"targetVersion": "1"}))
    message = next(c.message for c in d.conditions if c.type == ConditionType.RECONCILING)
    assert "batched step 2 (down)" in message
    assert d.status["dataMigration"]["direction"] == "down"
    # Paused: its Job is stopped after the current batch, as its migration's own would be.
    # The operator does not read the history while paused (db_state None): its own plan,
    # in status, says the step is a recorded batched down.
    running = {**planned, **d.status}
    paused = dataclasses.replace(
        facts({"targetVersion": "1", "paused": True}), db_state=None, status=running
    )
    d = decide(paused)
    assert d.delete_job == job.name
    assert d.status["dataMigration"]["direction"] == "down"
    assert decide(facts({"targetVersion": "1", "paused": True})).delete_job == job.name
    # A plan whose step is not that (a plain recorded down) does not make it one.
    plain = {**running, "plan": {**running["plan"], "steps": [
        {k: v for k, v in running["plan"]["steps"][0].items() if k != "batched"}
    ]}}  # fmt: skip
    assert decide(dataclasses.replace(paused, status=plain)).delete_job is None
    # A plain recorded down leaves no row in progress to steer.
    state = dataclasses.replace(
        state,
        applied=(
            state.applied[0],
            dataclasses.replace(state.applied[1], down=RecordedDown(DOWN, down_checksum(DOWN))),
        ),
    )
    assert decide(facts({"targetVersion": "1", "paused": True})).delete_job is None
