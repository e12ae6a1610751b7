"""The engine's CLI on a real PostgreSQL: migrate, plan, status, rollback, repair, job run."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from cli_support import schemaop

from devenv.pg import Postgres
from devenv.util import free_port


@pytest.fixture
def migdir(tmp_path: Path) -> Path:
    d = tmp_path / "migrations"
    d.mkdir()
    (d / "V1__create_users.sql").write_text("CREATE TABLE users (id int PRIMARY KEY);\n")
    (d / "U1__create_users.sql").write_text("DROP TABLE users;\n")
    (d / "V2__add_name.sql").write_text("ALTER TABLE users ADD name text;\n")
    (d / "U2__add_name.sql").write_text("ALTER TABLE users DROP name;\n")
    (d / "V3__index.sql").write_text(
        "-- schemaop:transactional false\nCREATE INDEX CONCURRENTLY users_name ON users (name);\n"
    )
    (d / "U3__index.sql").write_text("DROP INDEX users_name;\n")
    return d


def test_plan_migrate_status_rollback(database: str, migdir: Path, tmp_path: Path) -> None:
    out = schemaop("plan", "--dir", str(migdir), "--database-url", database)
    assert out.returncode == 0, out.stderr
    assert "3 step(s)" in out.stdout and "[non-transactional]" in out.stdout
    with psycopg.connect(database) as conn:  # plan changed nothing
        assert conn.execute("SELECT to_regnamespace('schemaop')").fetchone() == (None,)

    out = schemaop("migrate", "--dir", str(migdir), "--to", "2", "--database-url", database)
    assert out.returncode == 0, out.stderr
    assert "applied 2 step(s)" in out.stdout

    out = schemaop(
        "status", "--dir", str(migdir), "--output", "json", env={"DATABASE_URL": database}
    )
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert status["currentVersion"] == "2" and status["applied"] == 2
    assert [p["version"] for p in status["pending"]] == ["3"]
    assert status["drifted"] is False and status["dirty"] is False

    out = schemaop("migrate", "--dir", str(migdir), "--output", "json", "--database-url", database)
    result = json.loads(out.stdout)
    assert out.returncode == 0 and result["ok"] and result["currentVersion"] == "3"
    assert [(s["version"], s["status"]) for s in result["steps"]] == [("3", "applied")]

    out = schemaop("rollback", "--dir", str(migdir), "--to", "0", "--database-url", database)
    assert out.returncode == 0, out.stderr
    out = schemaop("status", "--database-url", database)
    assert "version:     none" in out.stdout

    out = schemaop("rollback", "--dir", str(migdir), "--to", "3", "--database-url", database)
    assert out.returncode == 3 and "above the current version" in out.stderr


def test_plan_file_round_trip_through_job_run(database: str, migdir: Path, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    out = schemaop("plan", "--dir", str(migdir), "--empty", "--file", str(plan_file))
    assert out.returncode == 0, out.stderr
    term = tmp_path / "termination-log"
    out = schemaop(
        "job",
        "run",
        "--plan",
        str(plan_file),
        "--termination-log",
        str(term),
        env={"DATABASE_URL": database},
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(term.read_text())
    assert summary["ok"] and summary["currentVersion"] == "3"
    assert summary["planHash"] == json.loads(plan_file.read_text())["hash"]
    assert json.loads(out.stdout)["applied"] == 3

    # Job run again: nothing left to do, still success.
    out = schemaop("job", "run", "--plan", str(plan_file), "--termination-log", str(term),
                   env={"DATABASE_URL": database})  # fmt: skip
    assert out.returncode == 0 and json.loads(term.read_text())["applied"] == 0


def test_job_run_failure_summary(database: str, tmp_path: Path) -> None:
    d = tmp_path / "bad"
    d.mkdir()
    (d / "V1__ok.sql").write_text("CREATE TABLE t (a int);")
    (d / "V2__bad.sql").write_text("INSERT INTO t VALUES (1);\nINSERT INTO t VALUES ('x');")
    plan_file = tmp_path / "plan.json"
    assert schemaop("plan", "--dir", str(d), "--empty", "--file", str(plan_file)).returncode == 0
    term = tmp_path / "term"
    out = schemaop("job", "run", "--plan", str(plan_file), "--termination-log", str(term),
                   env={"DATABASE_URL": database})  # fmt: skip
    assert out.returncode == 1
    summary = json.loads(term.read_text())
    assert len(term.read_bytes()) < 4096
    err = summary["error"]
    assert (err["sqlstate"], err["version"], err["reason"]) == ("22P02", "2", "MigrationFailed")
    assert err["statement"] == "INSERT INTO t VALUES ('x')"
    assert err["position"]["line"] == 2
    assert "22P02" in out.stderr and "line 2" in out.stderr


def test_job_run_with_a_tampered_plan_file(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text('{"kind": "Plan", "steps": [], "hash": "0000"}')
    term = tmp_path / "term"
    out = schemaop("job", "run", "--plan", str(plan), "--termination-log", str(term))
    assert out.returncode == 2 and "hash mismatch" in out.stderr
    assert json.loads(term.read_text())["error"]["kind"] == "InvalidPlan"


def test_wrong_password_is_a_clear_error_and_never_printed(
    postgres: Postgres, database: str, migdir: Path
) -> None:
    role = f"app_{uuid.uuid4().hex[:8]}"
    postgres.psql(f"CREATE ROLE {role} LOGIN PASSWORD 'right-horse-battery'")
    try:
        dbname = database.rsplit("/", 1)[1]
        secret = "Wr0ng-Sekrit-Pa55"
        url = postgres.dsn(dbname, role, secret)
        for extra in ([], ["--output", "json"]):
            out = schemaop("migrate", "--dir", str(migdir), "--database-url", url, *extra)
            assert out.returncode == 1
            assert "password authentication failed" in out.stderr + out.stdout
            assert secret not in out.stdout + out.stderr
            assert "Traceback" not in out.stderr
        libpq = {"PGHOST": postgres.host, "PGPORT": str(postgres.port), "PGDATABASE": dbname}
        out = schemaop("status", env={**libpq, "PGUSER": role, "PGPASSWORD": secret})
        assert out.returncode == 1 and secret not in out.stdout + out.stderr
        assert "password authentication failed" in out.stderr
        # The right password through libpq's environment works.
        out = schemaop("status", env={**libpq, "PGUSER": role, "PGPASSWORD": "right-horse-battery"})
        assert out.returncode == 0, out.stderr
    finally:
        postgres.psql(f"DROP OWNED BY {role} CASCADE", dbname=database.rsplit("/", 1)[1])
        postgres.psql(f"DROP ROLE {role}")


def test_unreachable_database(migdir: Path) -> None:
    url = f"postgresql://someone:pw-not-shown@127.0.0.1:{free_port()}/nowhere"
    out = schemaop("migrate", "--dir", str(migdir), "--database-url", url, "--output", "json")
    assert out.returncode == 1
    err = json.loads(out.stdout)["error"]
    assert err["kind"] == "ConnectionFailed" and err["retryable"] is True
    assert "pw-not-shown" not in out.stdout + out.stderr and "Traceback" not in out.stderr


def test_bad_input_exits_2_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "oops.sql").write_text("SELECT 1;")
    out = schemaop("migrate", "--dir", str(tmp_path))
    assert out.returncode == 2 and "not a migration file name" in out.stderr
    out = schemaop("migrate", "--plan", str(tmp_path / "missing.json"))
    assert out.returncode == 2 and "cannot read plan file" in out.stderr
    assert "Traceback" not in out.stderr


def test_repair_from_the_command_line(database: str, tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    (d / "V1__t.sql").write_text("CREATE TABLE t (a int);")
    (d / "V2__idx.sql").write_text(
        "-- schemaop:transactional false\nCREATE INDEX CONCURRENTLY t_a ON t (a);\n"
        "CREATE INDEX CONCURRENTLY u_a ON u (a);"
    )
    out = schemaop("migrate", "--dir", str(d), "--database-url", database)
    assert out.returncode == 1 and "42P01" in out.stderr
    out = schemaop("migrate", "--dir", str(d), "--database-url", database)
    assert out.returncode == 3 and "dirty" in out.stderr and "repair" in out.stderr
    out = schemaop("status", "--database-url", database)
    assert "dirty:       YES" in out.stdout
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("CREATE TABLE u (a int)")
    out = schemaop("repair", "--retry", "--dir", str(d), "--database-url", database)
    assert out.returncode == 0, out.stderr
    out = schemaop("migrate", "--dir", str(d), "--database-url", database)
    assert out.returncode == 0 and "nothing to do" in out.stdout


def test_migrate_startup_imports_nothing_heavy(database: str, migdir: Path) -> None:
    (migdir / "V3__index.sql").unlink()
    (migdir / "U3__index.sql").unlink()
    code = (
        "import sys; from schemaop.cli import main;"
        f"rc = main(['migrate', '--dir', {str(migdir)!r}, '--database-url', {database!r}, '-q']);"
        "heavy = [m for m in ('kopf', 'kubernetes', 'aiohttp', 'pglast') if m in sys.modules];"
        "print('RC=%d HEAVY=%s' % (rc, ','.join(heavy)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "RC=0 HEAVY=\n" in out.stdout
