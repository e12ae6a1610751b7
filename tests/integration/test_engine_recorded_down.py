"""Rollback with the down SQL recorded at apply time, on a real PostgreSQL (issue 15, part 2).

Each applied step records its migration's down step in the history; a rollback
whose migration is gone (file removed, SchemaMigration deleted) uses it. An old
history table (before the columns existed) is upgraded under the runner's lock
and its old rows have no record; a recorded down that was edited is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from cli_support import schemaop

from schemaop import engine, planner
from schemaop.engine import history as hist
from schemaop.engine.observe import read_database
from schemaop.model import DatabaseState, Migration, MigrationSet, Plan, RunOptions, Version
from schemaop.model.conditions import Reason


def mig(version: str, up: str, down: str | None = None, tx: bool = True) -> Migration:
    return Migration(Version(version), f"m{version}", up, down, tx)


SET = [
    mig("1", "CREATE TABLE users (id int PRIMARY KEY);", "DROP TABLE users;"),
    mig("2", "ALTER TABLE users ADD name text;", "ALTER TABLE users DROP name;"),
    mig(
        "3",
        "CREATE INDEX CONCURRENTLY users_name ON users (name);",
        "DROP INDEX CONCURRENTLY users_name;",
        tx=False,
    ),
]


def state(dsn: str) -> DatabaseState:
    with engine.connect(dsn) as conn:
        return engine.read_state(conn)


def plan_for(dsn: str, migrations: list[Migration], target: str = "latest") -> Plan:
    return planner.plan(MigrationSet(migrations), state(dsn), target, options=RunOptions())


def run(dsn: str, migrations: list[Migration], target: str = "latest") -> engine.RunResult:
    result = engine.run_plan(lambda: engine.connect(dsn), plan_for(dsn, migrations, target))
    assert result.error is None, result.error
    return result


def rows(dsn: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT version, direction, status, down_sql, down_checksum"
            " FROM schemaop.schema_history ORDER BY id"
        ).fetchall()


def exists(dsn: str, regclass: str) -> bool:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (regclass,)).fetchone()
    return bool(row and row[0])


def test_each_applied_step_records_its_down_and_a_rollback_uses_it(database: str) -> None:
    run(database, SET)
    recorded = rows(database)
    assert [(r[0], r[3]) for r in recorded] == [(m.version.text, m.down) for m in SET]
    assert [r[4] for r in recorded] == [m.down_checksum for m in SET]

    # Migration 3 is gone from the set: the rollback to 2 runs its recorded down,
    # non-transactional as it was applied (DROP INDEX CONCURRENTLY cannot run in one).
    p = plan_for(database, SET[:2], "2")
    assert [(s.version.text, s.source, s.transactional) for s in p.steps] == [
        ("3", "recorded", False)
    ]
    result = engine.run_plan(lambda: engine.connect(database), p)
    assert result.error is None, result.error
    assert result.current_version == "2" and not exists(database, "users_name")
    summary = json.loads(result.to_json())
    assert summary["steps"][0]["source"] == "recorded"
    last = rows(database)[-1]
    assert last[:3] == ("3", "down", "applied") and last[3] is None and last[4] is None

    # Two gone at once, newest first; the database ends empty.
    result = run(database, [], "0")
    assert [(s.version, s.source) for s in result.steps] == [("2", "recorded"), ("1", "recorded")]
    assert result.current_version is None and not exists(database, "users")


def test_an_old_history_table_is_upgraded_and_its_rows_have_no_record(database: str) -> None:
    run(database, SET[:2])
    with psycopg.connect(database, autocommit=True) as conn:
        # The table as schemaop wrote it before it recorded downs.
        conn.execute(
            "ALTER TABLE schemaop.schema_history DROP COLUMN down_sql, DROP COLUMN down_checksum"
        )
    # The operator's read-only read of an old table: no error, no record, nothing changed.
    read, _, _ = read_database(database, "schemaop", ["public"], 5)
    assert [a.version.text for a in read.applied] == ["1", "2"]
    assert all(a.down is None for a in read.applied)
    with engine.connect(database) as conn:
        assert "down_sql" not in hist.history_columns(conn, "schemaop")

    run(database, SET)  # the runner upgrades the table under its lock, then records 3
    with engine.connect(database) as conn:
        assert {"down_sql", "down_checksum"} <= hist.history_columns(conn, "schemaop")
        assert hist.ensure_history(conn, "schemaop") is False  # nothing more to add
    assert [(r[0], r[3]) for r in rows(database)] == [
        ("1", None),
        ("2", None),
        ("3", "DROP INDEX CONCURRENTLY users_name;"),
    ]

    run(database, SET[:2], "2")  # 3 has its record
    assert not exists(database, "users_name")
    with pytest.raises(planner.PlanRefused) as exc:  # 2 was applied before recording
        plan_for(database, SET[:1], "1")
    assert exc.value.reason is Reason.MISSING_MIGRATION


def test_a_tampered_recorded_down_is_refused(database: str) -> None:
    run(database, SET[:2])
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(
            "UPDATE schemaop.schema_history SET down_sql = 'DROP TABLE users'"
            " WHERE version = '2' AND direction = 'up'"
        )
    with pytest.raises(planner.PlanRefused) as exc:
        plan_for(database, SET[:1], "1")
    assert exc.value.reason is Reason.CHECKSUM_MISMATCH
    # Present and disagreeing with its (unchanged) migration: refused too.
    with pytest.raises(planner.PlanRefused) as exc:
        plan_for(database, SET[:2], "1")
    assert exc.value.reason is Reason.CHECKSUM_MISMATCH
    assert exists(database, "users")


def test_the_runner_refuses_a_record_edited_after_the_plan(database: str) -> None:
    run(database, SET[:2])
    p = plan_for(database, SET[:1], "1")
    assert [s.source for s in p.steps] == ["recorded"]
    with psycopg.connect(database, autocommit=True) as conn:
        # Edited consistently (text and checksum): only the runner's check under the
        # lock, which compares with the plan's step, sees it.
        conn.execute(
            "UPDATE schemaop.schema_history SET down_sql = 'SELECT 1', down_checksum = %s"
            " WHERE version = '2' AND direction = 'up'",
            (mig("9", "SELECT 1", "SELECT 1").down_checksum,),
        )
    result = engine.run_plan(lambda: engine.connect(database), p)
    assert result.error is not None and result.error.reason is Reason.CHECKSUM_MISMATCH
    assert [r[1] for r in rows(database)] == ["up", "up"]  # nothing ran


# --- the CLI ----------------------------------------------------------------------


def test_cli_rollback_and_migrate_down_without_the_files(database: str, tmp_path: Path) -> None:
    d = tmp_path / "migrations"
    d.mkdir()
    for m in SET:
        flag = "" if m.transactional else "-- schemaop:transactional false\n"
        (d / f"V{m.version}__m.sql").write_text(flag + m.up + "\n")
        (d / f"U{m.version}__m.sql").write_text((m.down or "") + "\n")
    out = schemaop("migrate", "--dir", str(d), "--database-url", database)
    assert out.returncode == 0, out.stderr

    (d / "V3__m.sql").unlink()
    (d / "U3__m.sql").unlink()
    # To latest, a file gone is refused: a missing file never reverts a version by itself.
    out = schemaop("migrate", "--dir", str(d), "--database-url", database)
    assert out.returncode != 0 and "explicit lower target" in out.stderr
    assert exists(database, "users_name")

    out = schemaop("plan", "--dir", str(d), "--to", "2", "--database-url", database)
    assert out.returncode == 0, out.stderr
    assert "down 3" in out.stdout and "[down SQL recorded at apply time" in out.stdout
    out = schemaop("rollback", "--dir", str(d), "--to", "2", "--database-url", database)
    assert out.returncode == 0, out.stderr
    assert "rolling back 3 with the down SQL recorded at apply time; its file is gone" in out.stderr
    assert not exists(database, "users_name")

    (d / "V2__m.sql").unlink()
    (d / "U2__m.sql").unlink()
    out = schemaop(
        "migrate", "--dir", str(d), "--to", "1", "--output", "json", "--database-url", database
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert [(s["version"], s.get("source")) for s in result["steps"]] == [("2", "recorded")]
    assert result["currentVersion"] == "1"
