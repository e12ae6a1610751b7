"""Per-statement figures of a run on a real PostgreSQL (issue 12, Runs): rows per
statement, notices, lock-timeout retries and the failing statement."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from schemaop import engine, planner
from schemaop.model import DatabaseState, Migration, MigrationSet, RunOptions, Version
from schemaop.model.run import RunSummary, StatementSummary


def mig(version: str, up: str, tx: bool = True) -> Migration:
    return Migration(Version(version), f"m{version}", up, None, tx)


def _run(database: str, migrations: list[Migration], **kw: object) -> engine.RunResult:
    options = kw.pop("options", RunOptions())
    plan = planner.plan(MigrationSet(migrations), DatabaseState(), options=options)  # type: ignore[arg-type]
    return engine.run_plan(lambda: engine.connect(database), plan, **kw)  # type: ignore[arg-type]


def _figures(s: StatementSummary) -> tuple[object, ...]:
    return (s.index, s.line, s.command, s.rows, s.status)


def test_transactional_and_non_transactional_steps_report_rows_and_notices(
    database: str,
) -> None:
    res = _run(
        database,
        [
            mig(
                "1",
                "CREATE TABLE t (id int);\n"
                "INSERT INTO t SELECT g FROM generate_series(1, 5) g;\n"
                "UPDATE t SET id = id + 10 WHERE id <= 2;\n"
                "DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$;",
            ),
            mig(
                "2",
                "-- schemaop:transactional false\n"
                "DELETE FROM t WHERE id > 10;\n"
                "DO $$ BEGIN RAISE NOTICE 'from the second step'; END $$;\n"
                "DROP TABLE IF EXISTS nothing_here;",
                tx=False,
            ),
        ],
    )
    assert res.ok, res.error
    tx, nontx = (s.summary() for s in res.steps)
    assert tx.statements is not None and nontx.statements is not None
    assert [_figures(s) for s in tx.statements] == [
        (1, 1, "CREATE TABLE", None, "ok"),
        (2, 2, "INSERT 0 5", 5, "ok"),
        (3, 3, "UPDATE 2", 2, "ok"),
        (4, 4, "DO", None, "ok"),
    ]
    # One query: no made-up duration per statement; the step has its own.
    assert all(s.duration_ms is None for s in tx.statements)
    assert [n.message for n in tx.notices] == ["hello 42"]
    assert tx.notices[0].severity == "NOTICE"
    # Statement by statement: each has its duration and its own notices.
    assert [_figures(s) for s in nontx.statements] == [
        (1, 2, "DELETE 2", 2, "ok"),
        (2, 3, "DO", None, "ok"),
        (3, 4, "DROP TABLE", None, "ok"),
    ]
    assert all(s.duration_ms is not None and s.duration_ms >= 0 for s in nontx.statements)
    assert [n.message for n in nontx.statements[1].notices] == ["from the second step"]
    assert "does not exist, skipping" in nontx.statements[2].notices[0].message
    assert nontx.notices == ()
    # What the Job prints is what the operator reads back.
    assert RunSummary.from_json(res.to_json()) == res.summary()


def test_notices_of_steps_sent_in_one_query_go_on_the_first_with_a_count(
    database: str,
) -> None:
    res = _run(
        database,
        [
            mig("1", "DO $$ BEGIN RAISE NOTICE 'one'; END $$;"),
            mig("2", "DO $$ BEGIN RAISE WARNING 'two'; END $$;"),
        ],
    )
    assert res.ok, res.error
    first, second = (s.summary() for s in res.steps)
    assert [(n.severity, n.message) for n in first.notices] == [
        ("NOTICE", "one"),
        ("WARNING", "two"),
    ]
    assert first.notices_batch == 2 and second.notices == ()
    assert json.loads(res.to_json())["steps"][0]["noticesBatch"] == 2


def _with_blocker(database: str, tx: bool) -> engine.RunResult:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int); INSERT INTO orders VALUES (1)")
    blocker = psycopg.connect(database)
    blocker.execute("SELECT * FROM orders").fetchall()  # ACCESS SHARE until commit
    sleeps: list[float] = []

    def sleep(delay: float) -> None:  # the runner's backoff: let go of the lock then
        sleeps.append(delay)
        blocker.commit()

    sql = "SELECT 1;\nALTER TABLE orders ADD COLUMN note text;"
    if not tx:
        sql = "-- schemaop:transactional false\n" + sql
    try:
        return _run(
            database,
            [mig("1", sql, tx=tx)],
            options=RunOptions(lock_timeout_ms=200, retries=5),
            sleep=sleep,
        )
    finally:
        blocker.close()


def test_a_lock_timeout_retry_is_counted_on_the_step_and_its_statement(database: str) -> None:
    res = _with_blocker(database, tx=True)
    assert res.ok, res.error
    step = res.steps[0].summary()
    assert (step.attempts, step.retries, step.lock_waits) == (2, 1, 1)
    assert step.lock_wait_ms >= 150  # lock_timeout 200ms, measured from the client
    assert step.statements is not None
    alter = step.statements[1]
    assert (alter.command, alter.retries, alter.lock_waits) == ("ALTER TABLE", 1, 1)
    assert alter.lock_wait_ms == step.lock_wait_ms
    assert step.statements[0].retries == 0


def test_a_lock_timeout_retry_of_a_non_transactional_statement(database: str) -> None:
    res = _with_blocker(database, tx=False)
    assert res.ok, res.error
    step = res.steps[0].summary()
    assert (step.retries, step.lock_waits) == (1, 1)
    assert step.statements is not None
    alter = step.statements[1]
    assert (alter.index, alter.command, alter.retries, alter.lock_waits) == (2, "ALTER TABLE", 1, 1)
    assert alter.lock_wait_ms >= 150
    assert step.statements[0].retries == 0


def test_the_failing_statement_has_its_sqlstate_and_position(database: str) -> None:
    res = _run(
        database,
        [
            mig("1", "CREATE TABLE t (id int);"),
            mig("2", "INSERT INTO t VALUES (1), (2);\nSELECT nope FROM t;\nSELECT 3;"),
        ],
    )
    assert res.error is not None and res.error.sqlstate == "42703"
    applied, failed = (s.summary() for s in res.steps)
    assert applied.statements is not None and applied.statements[0].command == "CREATE TABLE"
    assert failed.status == "failed" and failed.statements is not None
    assert [_figures(s) for s in failed.statements] == [
        (1, 1, "INSERT 0 2", 2, "ok"),
        (2, 2, None, None, "failed"),
    ]
    error = failed.statements[1].error
    assert error is not None
    assert error["sqlstate"] == "42703" and "nope" in error["message"]
    assert error["position"]["line"] == 2
    assert failed.statements[1].statement == "SELECT nope FROM t"


def test_a_syntax_error_names_its_statement_though_nothing_ran(database: str) -> None:
    res = _run(database, [mig("1", "SELECT 1;\nSELECT 2;\nSELEC 3;")])
    assert res.error is not None and res.error.sqlstate == "42601"
    step = res.steps[0].summary()
    assert step.statements is not None
    assert [(s.index, s.status) for s in step.statements] == [(3, "failed")]


def test_a_failing_non_transactional_statement(database: str) -> None:
    res = _run(
        database,
        [mig("1", "-- schemaop:transactional false\nSELECT 1;\nSELECT 1/0;", tx=False)],
    )
    assert res.error is not None and res.error.sqlstate == "22012"
    step = res.steps[0].summary()
    assert step.statements is not None
    assert [(s.index, s.status, s.rows) for s in step.statements] == [
        (1, "ok", 1),
        (2, "failed", None),
    ]
    assert step.statements[1].error is not None
    assert step.statements[1].error["sqlstate"] == "22012"
    assert step.statements[1].duration_ms is not None


def test_figures_that_cannot_be_had_never_fail_the_run(database: str, monkeypatch: Any) -> None:
    """Per-statement figures are an observation: text the splitter refuses leaves the
    step without them, and the run reports its own outcome (here the server's error)."""
    from schemaop.engine import sqltext

    def refuse(_: str) -> list[Any]:
        raise ValueError("unparseable")

    monkeypatch.setattr(sqltext, "split", refuse)
    res = _run(database, [mig("1", "SELECT 1;\nSELECT 1/0;")])
    assert res.error is not None and res.error.sqlstate == "22012"
    assert res.steps[0].summary().statements is None
