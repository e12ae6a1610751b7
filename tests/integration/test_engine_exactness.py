"""Exactly once, or refused, on a real PostgreSQL: steps run as written, in the runner's session.

Each test here failed before the fix it covers (issue 10, items 2, 3 and 7):
text that libpq or the simple-query protocol would cut or merge, a step's
session settings reaching the next step, a migration releasing the runner's
lock or dropping its history.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cli_support import schemaop

from devenv.pg import Postgres
from schemaop import engine
from schemaop.engine import runner
from schemaop.model import Plan, PlanStep, RunOptions, Version


def step(version: str, text: str, tx: bool = True) -> PlanStep:
    return PlanStep(Version(version), f"m{version}", "up", text, tx, checksum=f"sum{version}")


def plan_of(*steps: PlanStep, **options: object) -> Plan:
    """A plan straight from steps: what a plan file made elsewhere can hold (no set checks)."""
    return Plan(None, steps[-1].version, "latest", steps, RunOptions(**options))  # type: ignore[arg-type]


def run(dsn: str, *steps: PlanStep, **options: object) -> engine.RunResult:
    return engine.run_plan(lambda: engine.connect(dsn), plan_of(*steps, **options))


def query(dsn: str, text: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(text)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def history(dsn: str) -> list[tuple[object, ...]]:
    return query(dsn, "SELECT version, status FROM schemaop.schema_history ORDER BY id")


def exists(dsn: str, name: str) -> bool:
    return query(dsn, f"SELECT to_regclass('{name}') IS NOT NULL")[0][0] is True


def lock_is_free(dsn: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", (engine.lock_key(),)).fetchone()
        return bool(got and got[0])


@pytest.fixture
def role(postgres: object, database: str) -> Iterator[str]:
    """A role without any right on schemaop's history (cluster-wide: unique name)."""
    name = f"r_{uuid.uuid4().hex[:10]}"
    query(database, f'CREATE ROLE "{name}"')
    yield name
    query(database, f'DROP OWNED BY "{name}"; DROP ROLE "{name}"')


# --- item 2: text that cannot run as written --------------------------------------


NOT_AS_WRITTEN = {
    "nul": "CREATE TABLE b (x int);\0DROP TABLE a;",
    "comment": "CREATE TABLE b (x int);\n/* the rest of this step",
    "string": "INSERT INTO a VALUES (1); SELECT 'unclosed",
    "dollar": "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $f$ SELECT 1",
    # pg_dump's data section: only psql can send what follows.
    "copy": "COPY a FROM STDIN;\n5\n\\.\n",
}


@pytest.mark.parametrize("tx", [True, False], ids=["transactional", "non-transactional"])
@pytest.mark.parametrize("kind", sorted(NOT_AS_WRITTEN))
def test_a_step_that_cannot_run_as_written_is_refused_before_anything_runs(
    database: str, kind: str, tx: bool
) -> None:
    result = run(
        database,
        step("1", "CREATE TABLE a (x int);"),
        step("2", NOT_AS_WRITTEN[kind], tx),
        step("3", "CREATE TABLE c (x int); /* a comment that ends */"),
    )
    assert isinstance(result.error, engine.Refused), result.to_dict()
    assert result.error.reason == "InvalidMigrationSet" and result.error.version == "2"
    assert result.applied_count == 0
    # Nothing ran: not even the history schema was created.
    assert query(database, "SELECT to_regnamespace('schemaop') IS NULL") == [(True,)]
    assert not exists(database, "a")


@pytest.mark.parametrize("kind", ["nul", "comment"])
def test_a_step_without_its_history_row_is_never_reported_applied(
    database: str, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the fact too: with the text check off, the batch's answer gives it away."""
    monkeypatch.setattr(runner, "text_problem", lambda _text: None)
    result = run(
        database,
        step("1", "CREATE TABLE a (x int);"),
        step("2", NOT_AS_WRITTEN[kind]),
        # Alone, a line comment; after step 2's open comment, the end of that comment.
        step("3", "CREATE TABLE c (x int); -- */"),
    )
    assert not result.ok
    assert isinstance(result.error, engine.EngineError) and result.error.version == "2"
    assert result.error.kind == "NotRecorded", result.error
    statuses = [s.status for s in result.steps]
    assert statuses[0] == "applied" and statuses[1] == "failed"
    assert ("2", "applied") not in history(database)


# --- item 3: each step starts from the runner's own session -------------------------


def test_a_pg_dump_style_search_path_does_not_reach_the_next_step(database: str) -> None:
    result = run(
        database,
        step(
            "1",
            "SELECT pg_catalog.set_config('search_path', '', false);\n"
            "CREATE TABLE public.a (x int);",
        ),
        step("2", "CREATE TABLE b (x int);"),
    )
    assert result.ok, result.error
    assert exists(database, "public.b")
    assert history(database) == [("1", "applied"), ("2", "applied")]


@pytest.mark.parametrize("tx", [True, False], ids=["transactional", "non-transactional"])
def test_transaction_defaults_set_by_a_step_do_not_reach_the_next_step(
    database: str, tx: bool
) -> None:
    result = run(
        database,
        step(
            "1",
            "SET default_transaction_read_only = on;\n"
            "SET default_transaction_isolation = 'serializable';",
            tx,
        ),
        step("2", "CREATE TABLE b AS SELECT current_setting('transaction_isolation') AS iso;"),
    )
    assert result.ok, result.error
    assert query(database, "SELECT iso FROM b") == [("read committed",)]


@pytest.mark.parametrize("tx", [True, False], ids=["transactional", "non-transactional"])
@pytest.mark.parametrize("how", ["SET ROLE", "SET SESSION AUTHORIZATION"])
def test_a_role_set_by_a_step_does_not_write_history_or_reach_the_next_step(
    database: str, role: str, how: str, tx: bool
) -> None:
    query(database, f'GRANT CREATE ON SCHEMA public TO "{role}"')
    result = run(
        database,
        step("1", f'{how} "{role}";\nCREATE TABLE by_role (x int);', tx),
        step("2", "CREATE TABLE by_runner (x int);"),
    )
    assert result.ok, result.error
    owners = dict(
        query(
            database,
            "SELECT relname, pg_get_userbyid(relowner) FROM pg_class"
            " WHERE relname IN ('by_role', 'by_runner')",
        )
    )
    assert owners == {"by_role": role, "by_runner": "postgres"}
    assert query(database, "SELECT DISTINCT applied_by FROM schemaop.schema_history") == [
        ("postgres",)
    ]
    assert lock_is_free(database)


def test_reset_all_goes_back_to_the_runners_settings(database: str) -> None:
    seen = (
        "SELECT current_setting('lock_timeout') AS lt, current_setting('application_name') AS app"
    )
    result = run(
        database,
        step("1", f"SET lock_timeout = '7s';\nRESET ALL;\nCREATE TABLE s1 AS {seen};", tx=False),
        step("2", "SET SESSION lock_timeout = 0;"),
        step("3", f"CREATE TABLE s3 AS {seen};"),
        lock_timeout_ms=2500,
    )
    assert result.ok, result.error
    for table in ("s1", "s3"):
        ((lt, app),) = query(database, f"SELECT lt, app FROM {table}")
        assert lt == "2500ms" and str(app).startswith("schemaop-runner"), table


def test_text_reaches_a_latin1_database_as_written(postgres: Postgres) -> None:
    """UTF-8 migration text used to be read as LATIN1 ('é' stored as 'Ã©'), and a step's
    own SET client_encoding reached the steps after it."""
    name = f"l_{uuid.uuid4().hex[:10]}"
    postgres.psql(
        f"CREATE DATABASE {name} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
    )
    dsn = postgres.dsn(name)
    try:
        result = run(
            dsn,
            step("1", "CREATE TABLE t (a text);\nINSERT INTO t VALUES ('é');"),
            step("2", "SET client_encoding = 'LATIN1';\nINSERT INTO t VALUES ('ü');"),
            step("3", "INSERT INTO t VALUES ('ß');", tx=False),
            step("4", "INSERT INTO t VALUES ('ø');"),
        )
        assert result.ok, result.error
        assert query(dsn, "SELECT a FROM t ORDER BY a") == [("ß",), ("é",), ("ø",), ("ü",)]
    finally:
        postgres.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_a_steps_standard_conforming_strings_does_not_change_how_the_next_is_read(
    database: str,
) -> None:
    """Read with it off, step 3's string would swallow what follows it (a merged step)."""
    result = run(
        database,
        step("1", "CREATE TABLE t (a text);"),
        step("2", "SET standard_conforming_strings = off;"),
        step("3", "INSERT INTO t VALUES ('a\\');", tx=False),
        step("4", "INSERT INTO t VALUES ('b\\');"),
        step("5", "INSERT INTO t VALUES ('c');"),
    )
    assert result.ok, result.error
    assert query(database, "SELECT a FROM t ORDER BY a") == [("a\\",), ("b\\",), ("c",)]
    assert history(database) == [(str(v), "applied") for v in range(1, 6)]


def test_reset_all_in_a_transactional_step_is_refused(database: str) -> None:
    result = run(database, step("1", "SELECT 1;"), step("2", "RESET ALL;\nSELECT 2;"))
    assert isinstance(result.error, engine.Refused) and result.error.version == "2"
    assert result.error.statement == "RESET ALL" and "lock_timeout" in result.error.message
    assert result.applied_count == 0


def test_a_transactional_step_that_releases_the_lock_is_rolled_back(database: str) -> None:
    result = run(
        database,
        step("1", "CREATE TABLE a (x int);"),
        step("2", "CREATE TABLE b (x int);\nSELECT pg_advisory_unlock_all();"),
        step("3", "CREATE TABLE c (x int);"),
    )
    assert result.error is not None and result.error.kind == "LockLost", result.error
    assert result.error.version == "2"
    assert [s.status for s in result.steps] == ["applied", "failed", "pending"]
    assert exists(database, "a") and not exists(database, "b") and not exists(database, "c")
    assert ("2", "applied") not in history(database)


@pytest.mark.parametrize(
    "release", ["DISCARD ALL", "SELECT pg_advisory_unlock_all()", "DEALLOCATE ALL"]
)
def test_a_non_transactional_step_that_releases_the_lock_gets_it_back(
    database: str, release: str
) -> None:
    result = run(
        database,
        step("1", "CREATE TABLE a (x int);"),
        step("2", f"{release};\nCREATE TABLE b (x int);", tx=False),
        step(
            "3",
            "CREATE TABLE c AS SELECT current_setting('lock_timeout') AS lt, EXISTS ("
            "SELECT FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            ") AS locked;",
        ),
        step("4", "CREATE TABLE d (x int);"),
    )
    assert result.ok, result.error
    assert history(database) == [(v, "applied") for v in ("1", "2", "3", "4")]
    assert query(database, "SELECT lt, locked FROM c") == [("2s", True)]
    assert lock_is_free(database)


# --- item 7: the history itself ------------------------------------------------------


def test_a_non_transactional_step_that_drops_the_history_leaves_it_restored_and_dirty(
    database: str,
) -> None:
    first = step("1", "CREATE TABLE a (x int);")
    result = run(
        database,
        first,
        step("2", "DROP SCHEMA schemaop CASCADE;\nCREATE TABLE b (x int);", tx=False),
    )
    assert result.error is not None and result.error.kind == "HistoryLost", result.error
    assert "wrote it back" in result.error.message
    with engine.connect(database) as conn:
        state = engine.read_state(conn)
    assert [a.version.text for a in state.applied] == ["1"]
    assert state.dirty and state.dirty_step is not None
    assert state.dirty_step.version.text == "2"
    # The next run does not apply V1 again: it refuses until a person looks.
    again = run(database, first, step("2", "CREATE TABLE b2 (x int);", tx=False))
    assert isinstance(again.error, engine.Refused) and again.error.reason == "DatabaseDirty"
    # And the history goes on with new ids after the restored ones.
    ids = [r[0] for r in query(database, "SELECT id FROM schemaop.schema_history ORDER BY id")]
    assert ids == sorted(set(ids))


def test_a_transactional_step_that_drops_the_history_is_rolled_back(database: str) -> None:
    result = run(
        database,
        step("1", "CREATE TABLE a (x int);"),
        step("2", "DROP SCHEMA schemaop CASCADE;\nCREATE TABLE b (x int);"),
    )
    assert result.error is not None and result.error.version == "2"
    assert result.error.kind == "HistoryLost" and "rolled back" in result.error.message
    assert [s.status for s in result.steps] == ["applied", "failed"]
    assert not exists(database, "b")
    assert history(database) == [("1", "applied"), ("2", "failed")]


def test_history_schema_names_over_63_bytes_are_refused(database: str) -> None:
    long_name = "é" * 40  # 40 characters, 80 bytes: PostgreSQL would keep 62 of them
    with pytest.raises(ValueError, match="80 bytes"):
        RunOptions(history_schema=long_name)
    # The key is the one of the name PostgreSQL stores.
    (stored,) = query(database, f"SELECT '{long_name}'::name::text")[0]
    assert len(str(stored).encode()) == 62
    assert engine.lock_key(long_name) == engine.lock_key(str(stored))


# --- the CLI: one line naming the file and the reason, a non-zero exit ---------------


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("V2__b.sql", b"CREATE TABLE b (x int);\0DROP TABLE a;", "contains a NUL character"),
        ("V2__b.sql", b"CREATE TABLE b (x int);\n/* unfinished", "ends inside a /* comment"),
        ("V2__b.SQL", b"CREATE TABLE b (x int);", "extension must be .sql in lower case"),
    ],
)
def test_migrate_dir_refuses_with_one_line_naming_the_file(
    database: str, tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    (tmp_path / "V1__a.sql").write_text("CREATE TABLE a (x int);")
    (tmp_path / name).write_bytes(content)
    out = schemaop("migrate", "--dir", str(tmp_path), "--database-url", database)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and reason in lines[0], out.stderr
    assert not exists(database, "a")


def test_job_run_refuses_a_plan_step_that_cannot_run_as_written(
    database: str, tmp_path: Path
) -> None:
    plan = plan_of(step("1", "CREATE TABLE a (x int);"), step("2", "SELECT 1;\0 DROP TABLE a;"))
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan.to_json())
    term = tmp_path / "termination"
    out = schemaop(
        "job", "run", "--plan", str(plan_file), "--termination-log", str(term), "--quiet",
        env={"DATABASE_URL": database},
    )  # fmt: skip
    assert out.returncode == 3, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "migration 2" in lines[0] and "NUL" in lines[0], out.stderr
    summary = json.loads(term.read_text())
    assert summary["ok"] is False and summary["error"]["reason"] == "InvalidMigrationSet"
    assert not exists(database, "a")


def test_a_failing_non_transactional_step_under_another_role_still_records_its_error(
    database: str, role: str
) -> None:
    result = run(database, step("1", f'SET ROLE "{role}";\nSELECT * FROM missing;', tx=False))
    assert result.error is not None and result.error.sqlstate == "42P01"
    ((status, done, error, by),) = query(
        database, "SELECT status, statements_done, error, applied_by FROM schemaop.schema_history"
    )
    assert (status, done, by) == ("pending", 1, "postgres")
    assert isinstance(error, dict) and error["sqlstate"] == "42P01"


def test_migrate_dir_reads_a_file_with_a_byte_order_mark(database: str, tmp_path: Path) -> None:
    """The BOM used to reach the server (a syntax error) and hide the directive."""
    (tmp_path / "V1__a.sql").write_text("CREATE TABLE a (x int);")
    text = "-- schemaop:transactional false\nCREATE INDEX CONCURRENTLY a_x ON a (x);\n"
    (tmp_path / "V2__b.sql").write_bytes(b"\xef\xbb\xbf" + text.encode())
    out = schemaop("migrate", "--dir", str(tmp_path), "--database-url", database)
    assert out.returncode == 0, out.stderr
    assert query(database, "SELECT transactional FROM schemaop.schema_history ORDER BY id") == [
        (True,),
        (False,),
    ]
