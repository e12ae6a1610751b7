"""The engine on a real PostgreSQL: apply, history, errors, checksums, fingerprint, snapshots."""

from __future__ import annotations

import gzip
import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

import psycopg
import pytest

from devenv.pg import Postgres
from schemaop import engine, planner
from schemaop.engine import repair
from schemaop.model import DatabaseState, Migration, MigrationSet, Plan, RunOptions, Version
from schemaop.model.conditions import Reason


def mig(
    version: str, up: str, down: str | None = None, tx: bool = True, desc: str = ""
) -> Migration:
    return Migration(Version(version), desc or f"m{version}", up, down, tx)


BASE = [
    mig("1", "CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL);", "DROP TABLE users;"),
    mig(
        "2",
        "ALTER TABLE users ADD email text;\nCREATE TYPE mood AS ENUM ('ok', 'meh');\n"
        "CREATE VIEW user_names AS SELECT id, name FROM users;",
        "DROP VIEW user_names;\nDROP TYPE mood;\nALTER TABLE users DROP email;",
    ),
    mig(
        "3",
        "CREATE FUNCTION greet(n text) RETURNS text LANGUAGE plpgsql AS $$\n"
        "BEGIN RETURN 'hi ' || n; END; $$;\n"
        "CREATE SEQUENCE tickets START 5;\n"
        "INSERT INTO users VALUES (1, 'ann', 'ann@example.com');",
        "DROP SEQUENCE tickets;\nDROP FUNCTION greet(text);\nDELETE FROM users WHERE id = 1;",
    ),
    mig(
        "4",
        "-- schemaop:transactional false\nCREATE INDEX CONCURRENTLY users_email ON users (email);",
        "DROP INDEX CONCURRENTLY users_email;",
        tx=False,
    ),
]


def factory(dsn: str) -> Callable[[], engine.Conn]:
    return lambda: engine.connect(dsn)


def make_plan(
    dsn: str,
    migrations: Iterable[Migration],
    target: str = "latest",
    **options: object,
) -> Plan:
    opts = RunOptions(**options)  # type: ignore[arg-type]
    with engine.connect(dsn) as conn:
        state = engine.read_state(conn, opts.history_schema)
    return planner.plan(MigrationSet(migrations), state, target, options=opts)


def migrate(dsn: str, migrations: Iterable[Migration], target: str = "latest", **options: object):
    migrations = list(migrations)
    return engine.run_plan(factory(dsn), make_plan(dsn, migrations, target, **options))


def rows(dsn: str, query: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def lock_is_free(dsn: str, schema: str = "schemaop") -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", (engine.lock_key(schema),)).fetchone()
        return bool(got and got[0])


def test_read_state_of_a_fresh_database_creates_nothing(database: str) -> None:
    with engine.connect(database) as conn:
        conn.execute("SET default_transaction_read_only = on")
        state = engine.read_state(conn)
    assert not state.history_exists and state.applied == () and state.current_version is None
    assert rows(database, "SELECT 1 FROM pg_namespace WHERE nspname = 'schemaop'") == []


def test_apply_records_history_fingerprint_and_notifies(database: str) -> None:
    with psycopg.connect(database, autocommit=True) as listener:
        listener.execute("LISTEN schemaop_schema_changed")
        result = migrate(database, BASE)
        notes = list(listener.notifies(timeout=2, stop_after=1))
    assert result.ok, result.error
    assert [s.status for s in result.steps] == ["applied"] * 4
    assert result.current_version == "4"
    assert json.loads(notes[0].payload) == {"version": "4", "fingerprint": result.fingerprint}

    with engine.connect(database) as conn:
        state = engine.read_state(conn)
        live = engine.fingerprint(conn, ["public"])
        app = conn.execute("SHOW application_name").fetchone()
    assert [a.version.text for a in state.applied] == ["1", "2", "3", "4"]
    assert state.last_fingerprint == live == result.fingerprint
    assert [a.checksum for a in state.applied] == [m.checksum for m in BASE]
    assert app == ("schemaop-runner",)
    history = rows(
        database,
        "SELECT version, direction, status, transactional, plan_hash, duration_ms >= 0,"
        " fingerprint IS NOT NULL FROM schemaop.schema_history ORDER BY id",
    )
    plan_hash = result.plan_hash
    assert history == [
        ("1", "up", "applied", True, plan_hash, True, False),
        ("2", "up", "applied", True, plan_hash, True, False),
        ("3", "up", "applied", True, plan_hash, True, False),
        ("4", "up", "applied", False, plan_hash, True, True),
    ]
    assert lock_is_free(database)
    # A second run has nothing to do and changes nothing.
    again = migrate(database, BASE)
    assert again.ok and again.applied_count == 0


def test_invalid_sql_reports_sqlstate_and_position_and_changes_nothing(database: str) -> None:
    assert migrate(database, BASE[:1]).ok
    bad = mig("2", "CREATE TABLE extra (id int);\nALTER TABLE users\n  ADD COLUMN age intt;")
    result = migrate(database, [BASE[0], bad])
    err = result.error
    assert isinstance(err, engine.MigrationFailed)
    assert err.sqlstate == "42704" and err.version == "2"
    assert err.position is not None and (err.position.line, err.position.column) == (3, 18)
    assert err.statement == "ALTER TABLE users\n  ADD COLUMN age intt"
    assert not err.retryable and err.reason == "MigrationFailed"
    # Nothing of step 2 is left; the failure is recorded outside its transaction.
    assert rows(database, "SELECT to_regclass('public.extra')") == [(None,)]
    failed = rows(
        database,
        "SELECT status, error->>'sqlstate', error->'position'->>'line'"
        " FROM schemaop.schema_history WHERE version = '2'",
    )
    assert failed == [("failed", "42704", "3")]
    assert lock_is_free(database)


def test_syntax_error_position(database: str) -> None:
    result = migrate(database, [mig("1", "SELECT 1;\n\nSELEC 2;")])
    assert result.error is not None and result.error.sqlstate == "42601"
    assert result.error.position is not None and result.error.position.line == 3
    assert result.error.statement == "SELEC 2"


def test_runtime_error_without_position_names_the_statement(database: str) -> None:
    result = migrate(database, [mig("1", "CREATE TABLE t (a int);\nSELECT 1 / 0;\nSELECT 2;")])
    assert result.error is not None and result.error.sqlstate == "22012"
    assert result.error.statement == "SELECT 1 / 0"
    assert result.error.position is not None and result.error.position.line == 2


def test_changed_checksum_refuses_before_running(database: str) -> None:
    assert migrate(database, BASE[:2]).ok
    edited = [BASE[0], mig("2", BASE[1].up + "\n-- edited", BASE[1].down), BASE[2]]
    with pytest.raises(planner.PlanRefused) as exc:
        make_plan(database, edited)
    assert exc.value.reason is Reason.CHECKSUM_MISMATCH
    assert exc.value.versions == (Version("2"),)

    # A stale plan (made before someone else applied an edited migration) is refused
    # by the runner under its lock, and nothing runs.
    stale = make_plan(database, BASE)
    with engine.connect(database) as conn:
        conn.execute("UPDATE schemaop.schema_history SET checksum = 'x' WHERE version = '2'")
    result = engine.run_plan(factory(database), stale)
    assert isinstance(result.error, engine.Refused)
    assert result.error.reason == "ChecksumMismatch" and result.error.version == "2"
    assert rows(database, "SELECT to_regproc('public.greet')") == [(None,)]


def test_missing_migration_refuses_unless_allowed(database: str) -> None:
    assert migrate(database, BASE[:2]).ok
    with pytest.raises(planner.PlanRefused) as exc:
        make_plan(database, [BASE[1], BASE[2]])
    assert exc.value.reason is Reason.MISSING_MIGRATION
    opts = RunOptions(allow_missing=True)
    with engine.connect(database) as conn:
        state = engine.read_state(conn)
    plan = planner.plan(MigrationSet([BASE[1], BASE[2]]), state, options=opts)
    assert engine.run_plan(factory(database), plan).ok


def test_down_to_a_version_and_up_again_gives_the_same_fingerprint(database: str) -> None:
    up = migrate(database, BASE)
    assert up.ok
    down = migrate(database, BASE, "1")
    assert down.ok, down.error
    assert [(s.direction, s.version) for s in down.steps] == [
        ("down", "4"),
        ("down", "3"),
        ("down", "2"),
    ]
    assert down.current_version == "1" and down.fingerprint != up.fingerprint
    again = migrate(database, BASE)
    assert again.ok and again.fingerprint == up.fingerprint
    with engine.connect(database) as conn:
        assert engine.fingerprint(conn, ["public"]) == up.fingerprint


def test_down_missing_refuses_before_anything_runs(database: str) -> None:
    migs = [*BASE[:3], mig("4", "CREATE TABLE t4 (a int);")]
    assert migrate(database, migs).ok
    with pytest.raises(planner.PlanRefused) as exc:
        make_plan(database, migs, "1")
    assert exc.value.reason is Reason.DOWN_MIGRATION_MISSING


def test_fingerprint_sees_every_kind_of_change(database: str) -> None:
    assert migrate(database, BASE).ok
    changes = [
        "ALTER TABLE users ALTER name DROP NOT NULL",
        "ALTER TABLE users ALTER name SET DEFAULT 'x'",
        "ALTER TYPE mood ADD VALUE 'great'",
        "CREATE OR REPLACE FUNCTION greet(n text) RETURNS text LANGUAGE sql AS $$ SELECT n $$",
        "ALTER TABLE users ADD CONSTRAINT name_len CHECK (length(name) < 100)",
        "CREATE INDEX users_name ON users (name)",
        "CREATE OR REPLACE VIEW user_names AS SELECT id, name, 1 AS one FROM users",
        "ALTER SEQUENCE tickets INCREMENT 2",
        "CREATE TRIGGER t BEFORE UPDATE ON users FOR EACH ROW"
        " EXECUTE FUNCTION suppress_redundant_updates_trigger()",
        "CREATE DOMAIN posint AS int CHECK (VALUE > 0)",
        "ALTER TABLE users RENAME COLUMN email TO mail",
    ]
    with engine.connect(database) as conn:
        seen = {engine.fingerprint(conn, ["public"])}
        for change in changes:
            conn.execute(change)
            fp = engine.fingerprint(conn, ["public"])
            assert fp not in seen, change
            seen.add(fp)
        # Data changes and sequence values are not schema changes.
        conn.execute("INSERT INTO users VALUES (2, 'bo')")
        conn.execute("SELECT nextval('tickets')")
        assert engine.fingerprint(conn, ["public"]) == fp


def _restore(postgres: Postgres, dbname: str, sql_text: bytes) -> None:
    subprocess.run(
        [postgres.bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", postgres.dsn(dbname)],
        input=sql_text,
        check=True,
        capture_output=True,
    )


def test_schema_snapshot_restored_gives_the_same_fingerprint(
    database: str, postgres: Postgres
) -> None:
    first = migrate(database, BASE[:3])
    assert first.ok
    before = first.fingerprint
    result = migrate(database, BASE, snapshot="Schema")
    assert result.ok, result.error
    (ref,) = result.snapshots
    assert ref["kind"] == "Schema" and ref["version"] == "3"
    assert ref["fingerprint"] == before != result.fingerprint
    content = rows(database, "SELECT content FROM schemaop.snapshots WHERE id = %s", (ref["id"],))
    dump = gzip.decompress(bytes(content[0][0]))  # type: ignore[arg-type]
    fresh = f"t_{uuid.uuid4().hex[:12]}"
    postgres.psql(f'CREATE DATABASE "{fresh}"')
    try:
        postgres.psql("DROP SCHEMA public", dbname=fresh)
        _restore(postgres, fresh, dump)
        with engine.connect(postgres.dsn(fresh)) as conn:
            assert engine.fingerprint(conn, ["public"]) == before
    finally:
        postgres.psql(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')


def test_full_snapshot_writes_a_dump_file(database: str, tmp_path: Path) -> None:
    result = migrate(database, BASE[:2], snapshot="Full", snapshot_dir=str(tmp_path / "snaps"))
    assert result.ok, result.error
    (ref,) = result.snapshots
    path = Path(ref["location"])
    assert path.parent == tmp_path / "snaps" and path.stat().st_size > 0
    assert path.read_bytes()[:5] == b"PGDMP"


def test_failing_non_transactional_step_leaves_dirty_and_repair_retry_resumes(
    database: str,
) -> None:
    assert migrate(database, BASE[:1]).ok
    nontx = mig(
        "2",
        "-- schemaop:transactional false\n"
        "CREATE INDEX CONCURRENTLY users_name ON users (name);\n"
        "CREATE INDEX CONCURRENTLY other_a ON other (a);",
        tx=False,
    )
    migs = [BASE[0], nontx]
    result = migrate(database, migs)
    assert isinstance(result.error, engine.MigrationFailed)
    assert result.error.sqlstate == "42P01"
    assert result.error.statement == "CREATE INDEX CONCURRENTLY other_a ON other (a)"
    assert result.error.position is not None and result.error.position.line == 3

    with engine.connect(database) as conn:
        state = engine.read_state(conn)
    assert state.dirty and state.dirty_step is not None
    assert state.dirty_step.statements_done == 1
    with pytest.raises(planner.PlanRefused) as exc:
        make_plan(database, migs)
    assert exc.value.reason is Reason.DATABASE_DIRTY
    # The runner refuses too, even with a plan made before the failure.
    stale = engine.run_plan(factory(database), make_plan_unchecked(database, migs))
    assert isinstance(stale.error, engine.Refused) and stale.error.reason == "DatabaseDirty"

    # Fix the cause, then resume: the first statement is not replayed (it would fail).
    with engine.connect(database) as conn:
        conn.execute("CREATE TABLE other (a int)")
    fixed = repair.retry(factory(database), RunOptions(), MigrationSet(migs))
    assert fixed.ok, fixed.error
    with engine.connect(database) as conn:
        state = engine.read_state(conn)
    assert not state.dirty and state.current_version == Version("2")
    statuses = rows(
        database,
        "SELECT status, statements_done FROM schemaop.schema_history"
        " WHERE version = '2' ORDER BY id",
    )
    assert statuses == [("repaired", 1), ("applied", 2)]


def make_plan_unchecked(dsn: str, migrations: list[Migration]) -> Plan:
    """A plan as if made from a clean history (what a stale operator might hold)."""
    return planner.plan(MigrationSet(migrations), DatabaseState())


def test_repair_mark_applied(database: str) -> None:
    nontx = mig("1", "-- schemaop:transactional false\nVACUUM nope;", tx=False)
    result = migrate(database, [nontx])
    assert result.error is not None and result.error.sqlstate == "42P01"
    with pytest.raises(engine.Refused, match="not 2"):
        repair.mark_applied(factory(database), RunOptions(), "2")
    entry = repair.mark_applied(factory(database), RunOptions(), "1")
    assert entry["status"] == "applied" and entry["currentVersion"] == "1"
    with engine.connect(database) as conn:
        state = engine.read_state(conn)
    assert not state.dirty and state.current_version == Version("1")
    assert state.last_fingerprint == entry["fingerprint"]
    with pytest.raises(engine.Refused, match="not dirty"):
        repair.mark_applied(factory(database), RunOptions(), "1")


def test_statement_timeout(database: str) -> None:
    result = migrate(database, [mig("1", "SELECT pg_sleep(2);")], statement_timeout_ms=100)
    assert isinstance(result.error, engine.StatementTimeout)
    assert result.error.sqlstate == "57014" and not result.error.retryable


def test_lock_busy_names_the_holder(database: str) -> None:
    with psycopg.connect(database, autocommit=True, application_name="someone-else") as other:
        other.execute("SELECT pg_advisory_lock(%s)", (engine.DEFAULT_LOCK_KEY,))
        pid = other.info.backend_pid
        t0 = time.monotonic()
        result = migrate(database, BASE[:1], lock_wait_ms=300)
        waited = time.monotonic() - t0
    assert isinstance(result.error, engine.LockBusy) and result.error.retryable
    assert "someone-else" in result.error.message and f"pid={pid}" in result.error.message
    assert 0.3 <= waited < 3
    # Nothing is touched before the lock is held.
    assert rows(database, "SELECT 1 FROM pg_namespace WHERE nspname = 'schemaop'") == []
    assert migrate(database, BASE[:1]).ok


def test_history_schema_is_configurable(database: str) -> None:
    result = migrate(database, BASE[:1], history_schema="My History")
    assert result.ok, result.error
    assert rows(database, 'SELECT count(*) FROM "My History".schema_history') == [(1,)]
    with engine.connect(database) as conn:
        assert engine.read_state(conn, "My History").current_version == Version("1")
        assert not engine.read_state(conn).history_exists


@pytest.mark.parametrize(
    ("bad_sql", "sqlstate", "line", "statement"),
    [
        ("SELECT 1;\nSELEC 2;", "42601", 2, "SELEC 2"),  # parse error: the server runs nothing
        ("SELECT 1;\nSELECT nope FROM t1;", "42703", 2, "SELECT nope FROM t1"),  # analysis
        ("INSERT INTO t1 VALUES (1);\nINSERT INTO t1 VALUES (1);", "23505", 2,
         "INSERT INTO t1 VALUES (1)"),  # run time, no position
    ],
)  # fmt: skip
def test_failure_in_the_middle_of_a_batch(
    database: str, bad_sql: str, sqlstate: str, line: int, statement: str
) -> None:
    migs = [mig(str(i), f"CREATE TABLE t{i} (a int PRIMARY KEY);") for i in range(1, 4)]
    migs += [mig("4", bad_sql), mig("5", "CREATE TABLE t5 (a int);")]
    result = migrate(database, migs)
    assert [s.status for s in result.steps] == ["applied"] * 3 + ["failed", "pending"]
    err = result.error
    assert err is not None and err.version == "4" and err.sqlstate == sqlstate
    assert err.statement == statement
    assert err.position is not None and err.position.line == line
    assert result.current_version == "3"
    history = rows(database, "SELECT version, status FROM schemaop.schema_history ORDER BY id")
    assert history == [("1", "applied"), ("2", "applied"), ("3", "applied"), ("4", "failed")]
    # The failure row carries the fingerprint of what the run left.
    with engine.connect(database) as conn:
        state = engine.read_state(conn)
        assert state.last_fingerprint == engine.fingerprint(conn, ["public"])
    assert rows(database, "SELECT to_regclass('public.t5')") == [(None,)]


def test_transactional_migration_with_its_own_commit_is_refused(database: str) -> None:
    result = migrate(database, [mig("1", "SELECT 1;"), mig("2", "BEGIN;\nSELECT 2;\nCOMMIT;")])
    assert isinstance(result.error, engine.Refused)
    assert result.error.reason == "InvalidMigrationSet" and result.error.version == "2"
    assert result.applied_count == 0


def test_counting_cursor_sees_every_result(database: str) -> None:
    # The batch cursor overrides a psycopg private method (engine/batchcursor.py):
    # on a real server it must see the results before a failing statement.
    from schemaop.engine.batchcursor import CountingCursor

    with psycopg.connect(database, autocommit=True) as conn:
        cur = CountingCursor(conn)
        query = (
            "BEGIN; SELECT 'step' AS schemaop_step, '5', 'fp', 1, '1', 'up'; COMMIT;"
            " BEGIN; SELECT nope; COMMIT;"
        )
        with pytest.raises(psycopg.errors.UndefinedColumn):
            cur.execute(query.encode())
        assert cur.ok_results == 4, f"psycopg {psycopg.__version__} hid the results"
        assert [(m.duration, m.version, m.direction) for m in cur.marks] == [("5", "1", "up")]
        assert cur.commits == [2]


def test_batch_failure_without_result_details_falls_back_to_the_history(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Should psycopg stop handing every result to the cursor, the runner still
    # finds out from the history which steps of a batch committed.
    from schemaop.engine import runner

    monkeypatch.setattr(runner.CountingCursor, "_check_results", psycopg.Cursor._check_results)
    migs = [mig(str(i), f"CREATE TABLE t{i} (a int);") for i in range(1, 4)]
    migs += [mig("4", "SELECT 1;\nSELECT nope FROM t1;"), mig("5", "CREATE TABLE t5 (a int);")]
    result = migrate(database, migs)
    assert [s.status for s in result.steps] == ["applied"] * 3 + ["failed", "pending"]
    assert result.error is not None and result.error.version == "4"
    assert result.error.sqlstate == "42703" and result.error.statement == "SELECT nope FROM t1"
    again = migrate(database, [*migs[:3], mig("4", "SELECT 1;"), migs[4]])
    assert again.ok and again.applied_count == 2
