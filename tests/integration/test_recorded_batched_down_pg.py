"""A batched down recorded at apply time, on a real PostgreSQL: a rollback past its
deleted migration runs it batch by batch from the record (stop between batches,
resume), an old history table gains the settings column in place, and a record
edited since refuses."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from schemaop import engine, migrations_dir, planner
from schemaop.engine import history as hist
from schemaop.model import Plan, RunOptions
from schemaop.model.conditions import Reason
from schemaop.model.migration import Batched

UP = "UPDATE items SET n = n + 1 WHERE id BETWEEN :lo_id AND :hi_id"
DOWN = "UPDATE items SET n = n - 1 WHERE id BETWEEN :lo_id AND :hi_id"
SETTINGS = "table=items key=id initial=20 min=20 max=20"
ROWS = 300


def q(dsn: str, text: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(text, params)
        return cur.fetchall() if cur.description else []


def write_dir(root: Path) -> Path:
    """V1 plain, V2 batched with a batched down."""
    root.mkdir(exist_ok=True)
    (root / "V1__base.sql").write_text("SELECT 1;")
    (root / "U1__base.sql").write_text("SELECT 1;")
    (root / "V2__backfill.sql").write_text(f"-- schemaop:batched {SETTINGS}\n{UP};\n")
    (root / "U2__backfill.sql").write_text(f"-- schemaop:batched\n{DOWN};\n")
    return root


def setup(dsn: str, tmp_path: Path) -> Path:
    q(dsn, "CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)")
    q(dsn, f"INSERT INTO items (id) SELECT g FROM generate_series(1, {ROWS}) g")
    return write_dir(tmp_path / "m")


def plan_for(dsn: str, root: Path, target: str) -> Plan:
    with engine.connect(dsn) as conn:
        state = engine.read_state(conn, "schemaop")
    return planner.plan(migrations_dir.load(root), state, target, options=RunOptions())


def run(
    dsn: str,
    plan: Plan,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> engine.RunResult:
    return engine.run_plan(lambda: engine.connect(dsn), plan, on_progress, stop=stop)


def history(dsn: str) -> list[tuple[Any, ...]]:
    return q(
        dsn,
        "SELECT direction, status FROM schemaop.schema_history WHERE version = '2' ORDER BY id",
    )


def progress(dsn: str, direction: str) -> dict[str, Any] | None:
    rows = q(
        dsn,
        "SELECT to_jsonb(b) FROM schemaop.schemaop_batches b"
        " WHERE version = '2' AND direction = %s",
        (direction,),
    )
    return rows[0][0] if rows else None


def remove_v2(root: Path) -> None:
    (root / "V2__backfill.sql").unlink()
    (root / "U2__backfill.sql").unlink()


def test_a_rollback_past_a_deleted_batched_migration_runs_its_down_batch_by_batch(
    database: str, tmp_path: Path
) -> None:
    root = setup(database, tmp_path)
    (m2,) = [m for m in migrations_dir.load(root) if m.version.text == "2"]
    assert m2.batched is not None and m2.batched.down
    assert run(database, plan_for(database, root, "latest")).ok
    assert q(database, "SELECT min(n), max(n) FROM items") == [(1, 1)]
    # The history row records the down, its settings and a checksum covering both.
    recorded = q(
        database,
        "SELECT down_sql, down_checksum, down_batched FROM schemaop.schema_history"
        " WHERE version = '2' AND direction = 'up'",
    )
    assert recorded == [(m2.down, m2.down_checksum, m2.batched.to_dict())]

    # The migration is gone (file removed, SchemaMigration deleted).
    remove_v2(root)
    plan = plan_for(database, root, "1")
    (step,) = plan.steps
    assert step.source == "recorded" and step.runs_batched and step.batched == m2.batched

    # Stopped between batches (SIGTERM does this through ``stop``): nothing recorded
    # as reverted, the down's progress kept.
    done: list[dict[str, Any]] = []

    def batches(event: dict[str, Any]) -> None:
        if event["event"] == "batch-done":
            done.append(event)

    stopped = run(database, plan, batches, stop=lambda: len(done) >= 3)
    assert isinstance(stopped.error, engine.Stopped), stopped.error
    assert [(s.version, s.source) for s in stopped.steps] == [("2", "recorded")]
    assert history(database) == [("up", "applied")]
    row = progress(database, "down")
    assert row is not None and row["batches_done"] == 3 and row["completed_at"] is None
    assert q(database, "SELECT count(*) FROM items WHERE n = 0") == [(60,)]

    # Planned again from the history alone: resumes after the third batch.
    events: list[dict[str, Any]] = []
    result = run(database, plan_for(database, root, "1"), events.append)
    assert result.ok, result.error
    assert result.to_dict()["steps"][0]["source"] == "recorded"
    assert "batch-resume" in {e["event"] for e in events}
    assert q(database, "SELECT min(n), max(n) FROM items") == [(0, 0)]  # each row once
    assert history(database) == [("up", "applied"), ("down", "applied")]
    assert progress(database, "up") is None  # reverted: its up progress is gone
    row = progress(database, "down")
    assert row is not None and row["rows_done"] == ROWS and row["batches_done"] == ROWS // 20
    with engine.connect(database) as conn:
        assert [a.version.text for a in engine.read_state(conn, "schemaop").applied] == ["1"]


def test_an_old_history_table_gains_the_settings_column_in_place(
    database: str, tmp_path: Path
) -> None:
    root = setup(database, tmp_path)
    v2 = root / "V2__backfill.sql", root / "U2__backfill.sql"
    texts = [p.read_text() for p in v2]
    remove_v2(root)
    assert run(database, plan_for(database, root, "latest")).ok
    # The table as an older schemaop left it: without the batched settings column.
    q(database, "ALTER TABLE schemaop.schema_history DROP COLUMN down_batched")
    with engine.connect(database) as conn:
        # The operator's read-only read: works, changes nothing.
        assert [a.version.text for a in engine.read_state(conn, "schemaop").applied] == ["1"]
        assert "down_batched" not in hist.history_columns(conn, "schemaop")

    for path, text in zip(v2, texts, strict=True):
        path.write_text(text)
    assert run(database, plan_for(database, root, "latest")).ok  # upgrades under its lock
    columns = q(
        database,
        "SELECT count(*) FROM pg_catalog.pg_attribute"
        " WHERE attrelid = 'schemaop.schema_history'::regclass AND attname = 'down_batched'"
        " AND NOT attisdropped",
    )
    assert columns == [(1,)]
    with engine.connect(database) as conn:
        assert hist.ensure_history(conn, "schemaop") is False  # nothing more to add
    remove_v2(root)
    result = run(database, plan_for(database, root, "1"))
    assert result.ok, result.error
    assert [(s.version, s.source) for s in result.steps] == [("2", "recorded")]
    assert q(database, "SELECT max(n) FROM items") == [(0,)]
    assert history(database) == [("up", "applied"), ("down", "applied")]


def test_a_tampered_batched_record_refuses(database: str, tmp_path: Path) -> None:
    root = setup(database, tmp_path)
    assert run(database, plan_for(database, root, "latest")).ok
    present = migrations_dir.load(root)
    gone = tmp_path / "gone"
    gone.mkdir()
    (gone / "V1__base.sql").write_text("SELECT 1;")
    (gone / "U1__base.sql").write_text("SELECT 1;")
    # A bigger batch written into the record, its checksum left: refused, with the
    # migration gone and with it present.
    q(
        database,
        "UPDATE schemaop.schema_history SET down_batched ="
        " jsonb_set(down_batched, '{maxBatchSize}', '1000')"
        " WHERE version = '2' AND direction = 'up'",
    )
    for where in (gone, root):
        with pytest.raises(planner.PlanRefused) as exc:
            plan_for(database, where, "1")
        assert exc.value.reason is Reason.CHECKSUM_MISMATCH
    # Settings removed, so it would run as one statement: refused.
    q(
        database,
        "UPDATE schemaop.schema_history SET down_batched = NULL"
        " WHERE version = '2' AND direction = 'up'",
    )
    with pytest.raises(planner.PlanRefused) as exc:
        plan_for(database, gone, "1")
    assert exc.value.reason is Reason.CHECKSUM_MISMATCH

    # Restored: plans. Then edited consistently (settings and checksum) after the
    # plan was made: the runner's check under its lock refuses, nothing runs.
    (m2,) = [m for m in present if m.version.text == "2"]
    assert m2.batched is not None
    q(
        database,
        "UPDATE schemaop.schema_history SET down_batched = %s::jsonb"
        " WHERE version = '2' AND direction = 'up'",
        (m2.batched.canonical(),),
    )
    plan = plan_for(database, gone, "1")
    bigger = dataclasses.replace(m2, batched=Batched("items", ("id",), max_size=1000, down=True))
    assert bigger.batched is not None
    q(
        database,
        "UPDATE schemaop.schema_history SET down_batched = %s::jsonb, down_checksum = %s"
        " WHERE version = '2' AND direction = 'up'",
        (json.dumps(bigger.batched.to_dict()), bigger.down_checksum),
    )
    result = run(database, plan)
    assert result.error is not None and result.error.reason is Reason.CHECKSUM_MISMATCH
    assert history(database) == [("up", "applied")]
    assert q(database, "SELECT min(n), max(n) FROM items") == [(1, 1)]


def test_sigterm_stops_a_recorded_batched_down_between_batches(
    database: str, tmp_path: Path
) -> None:
    q(database, "CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)")
    q(database, "INSERT INTO items (id) SELECT g FROM generate_series(1, 3000) g")
    root = tmp_path / "m"
    root.mkdir()
    (root / "V1__base.sql").write_text("SELECT 1;")
    (root / "U1__base.sql").write_text("SELECT 1;")
    slow = "table=items key=id initial=10 min=10 max=10 pause=20ms"
    (root / "V2__backfill.sql").write_text(f"-- schemaop:batched {slow}\n{UP};\n")
    (root / "U2__backfill.sql").write_text(f"-- schemaop:batched\n{DOWN};\n")
    assert run(database, plan_for(database, root, "latest")).ok
    remove_v2(root)
    cli = [sys.executable, "-m", "schemaop", "rollback", "--dir", str(root), "--to", "1"]
    proc = subprocess.Popen(
        [*cli, "--database-url", database, "--output", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            row = progress(database, "down")
            if row is not None and row["batches_done"] >= 3:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 4, err
    summary = json.loads(out)
    assert summary["error"]["kind"] == "Stopped"
    assert summary["steps"][0]["source"] == "recorded"
    assert summary["steps"][0]["status"] == "pending"
    row = progress(database, "down")
    assert row is not None and row["completed_at"] is None
    done = row["rows_done"]
    assert done == 10 * row["batches_done"] < 3000
    assert q(database, "SELECT count(*) FROM items WHERE n = 0") == [(done,)]
    assert history(database) == [("up", "applied")]

    # Run again: resumes from its position and finishes; each row reverted once.
    out2 = subprocess.run(
        [*cli, "--database-url", database, "--output", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out2.returncode == 0, out2.stderr
    assert q(database, "SELECT min(n), max(n) FROM items") == [(0, 0)]
    assert history(database) == [("up", "applied"), ("down", "applied")]
    assert progress(database, "up") is None
