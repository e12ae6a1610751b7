"""Per-statement figures in the run summary and the run record (issue 12, Runs)."""

from __future__ import annotations

import dataclasses
import json

from schemaop import redaction
from schemaop.engine.batchcursor import Tag
from schemaop.engine.errors import LockTimeout, MigrationFailed
from schemaop.engine.runner import RunResult, StepResult
from schemaop.engine.runstats import Waits, batch_statements
from schemaop.kube.builders import RUN_STATEMENTS, run_summary_fields, summary_from_log
from schemaop.model.run import (
    MAX_STATEMENTS,
    NOTICE_TEXT,
    STATEMENT_TEXT,
    Notice,
    Position,
    RunSummary,
    StatementSummary,
    StepSummary,
    bounded_statements,
    statement_text,
)


def _statement(i: int, **kw: object) -> StatementSummary:
    return StatementSummary(index=i, statement=f"UPDATE t{i} SET a = 1", line=i, **kw)  # type: ignore[arg-type]


def _step(statements: list[StatementSummary], status: str = "applied") -> StepSummary:
    kept, omitted = bounded_statements(statements)
    return StepSummary(
        "2",
        "two",
        "up",
        True,
        status=status,
        duration_ms=9,
        attempts=2,
        statements=kept,
        statements_omitted=omitted,
        retries=1,
        lock_waits=1,
        lock_wait_ms=250,
        notices=(Notice("NOTICE", "hello"),),
        notices_batch=2,
    )


def test_statements_round_trip_through_json() -> None:
    step = _step(
        [
            _statement(1, command="UPDATE 3", rows=3, notices=(Notice("WARNING", "w", "01000"),)),
            _statement(
                2,
                status="failed",
                retries=2,
                lock_waits=2,
                lock_wait_ms=400,
                error={"sqlstate": "55P03", "message": "lock timeout"},
            ),
        ]
    )
    summary = RunSummary(ok=False, plan_hash="h", steps=(step,))
    read = RunSummary.from_json(summary.to_json())
    assert read == summary
    data = json.loads(summary.to_json())["steps"][0]
    assert (data["retries"], data["lockWaits"], data["lockWaitMs"], data["noticesBatch"]) == (
        1,
        1,
        250,
        2,
    )
    assert data["statements"][0] == {
        "index": 1,
        "statement": "UPDATE t1 SET a = 1",
        "line": 1,
        "command": "UPDATE 3",
        "rows": 3,
        "status": "ok",
        "notices": [{"severity": "WARNING", "message": "w", "sqlstate": "01000"}],
    }
    assert data["statements"][1]["status"] == "failed"
    assert data["statements"][1]["error"] == {"sqlstate": "55P03", "message": "lock timeout"}
    # No duration is made up for a statement of a transactional step.
    assert "durationMs" not in data["statements"][0]


def test_a_summary_without_statements_reads_as_before() -> None:
    old = {"ok": True, "steps": [{"version": "1", "status": "applied"}]}
    step = RunSummary.from_dict(old).steps[0]  # type: ignore[index]
    assert step.statements is None and step.notices == () and step.retries == 0
    assert "statements" not in step.to_dict() and "retries" not in step.to_dict()


def test_statements_are_bounded_per_step_keeping_the_failed_one() -> None:
    many = [_statement(i) for i in range(1, 300)] + [_statement(300, status="failed")]
    kept, omitted = bounded_statements(many)
    assert len(kept) == MAX_STATEMENTS and omitted == 100
    assert kept[-1].status == "failed" and kept[0].index == 1
    # What was read back is bounded too.
    data = {"version": "1", "statements": [s.to_dict() for s in many]}
    assert len(StepSummary.from_dict(data).statements or ()) == MAX_STATEMENTS


def test_statement_text_is_its_first_line_clipped() -> None:
    assert statement_text("\n  CREATE TABLE t (\n  a int\n)") == "CREATE TABLE t (..."
    long = "SELECT " + "x" * 500
    assert len(statement_text(long)) == STATEMENT_TEXT
    assert statement_text("DROP TABLE t") == "DROP TABLE t"


def test_notices_are_clipped_and_scrubbed() -> None:
    redaction.remember("hunter2-secret-value")
    notice = Notice.of("NOTICE", "password is hunter2-secret-value " + "y" * 2000)
    assert "hunter2" not in notice.message
    assert len(notice.message) <= NOTICE_TEXT
    assert "hunter2" not in statement_text("ALTER ROLE r PASSWORD 'hunter2-secret-value'")


def test_the_termination_message_never_carries_statements() -> None:
    step = _step([_statement(i, command="UPDATE 1", rows=1) for i in range(1, 150)])
    summary = RunSummary(ok=True, plan_hash="h" * 64, steps=(step,) * 5)
    message = summary.termination_message()
    assert len(message.encode()) < 4096
    assert "statements" not in message
    assert "statements" in summary.to_json()


def test_the_engine_reports_statements_with_the_retries_merged() -> None:
    sql = "UPDATE a SET x = 1;\nUPDATE b SET y = 2;\nSELECT 1"
    err = LockTimeout("canceling statement due to lock timeout", sqlstate="55P03")
    waits = Waits()
    waits.add(err, 1, 120)  # the second statement waited, then the step ran again
    tags = [Tag("UPDATE 4", 4), Tag("UPDATE 0", 0), Tag("SELECT 1", 1)]
    sr = StepResult("2", "two", "up", True, status="applied", attempts=2)
    sr.statements = batch_statements(sql, tags)
    sr.waits = waits
    step = sr.summary()
    assert (step.retries, step.lock_waits, step.lock_wait_ms) == (1, 1, 120)
    assert step.statements is not None
    assert [(s.index, s.line, s.rows, s.retries) for s in step.statements] == [
        (1, 1, 4, 0),
        (2, 2, 0, 1),
        (3, 3, 1, 0),
    ]
    assert step.statements[1].lock_wait_ms == 120


def test_results_that_do_not_match_the_text_give_no_statements() -> None:
    assert batch_statements("SELECT 1; SELECT 2", [Tag("SELECT 1", 1)]) is None
    failed = MigrationFailed("column does not exist", sqlstate="42703", position=Position(12, 2, 3))
    out = batch_statements("SELECT 1;\nSELECT nope", [Tag("SELECT 1", 1)], error=failed)
    assert out is not None and [s.status for s in out] == ["ok", "failed"]
    assert out[1].error == {
        "sqlstate": "42703",
        "message": "column does not exist",
        "position": {"offset": 12, "line": 2, "column": 3},
    }


def test_the_record_keeps_statements_bounded_failed_step_first() -> None:
    ok = _step([_statement(i) for i in range(1, 201)])
    failed = _step([_statement(i) for i in range(1, 201)], status="failed")
    summary = RunSummary(ok=False, plan_hash="h", steps=(ok,) * 10 + (failed,))
    clipped: list[str] = []
    fields = run_summary_fields(summary, clipped)
    total = sum(len(s.get("statements", [])) for s in fields["steps"])
    assert total == RUN_STATEMENTS
    assert len(fields["steps"][-1]["statements"]) == 200  # the failed step kept whole
    assert fields["steps"][-2]["statementsOmitted"] == 200
    assert "summary.steps.statements" in clipped


def test_the_record_reads_the_full_summary_from_the_log_when_it_is_the_same_run() -> None:
    result = RunResult(plan_hash="p" * 64, from_version=None, to_version="2", target="latest")
    sr = StepResult("2", "two", "up", True, status="applied", attempts=1)
    sr.statements = batch_statements("SELECT 1", [Tag("SELECT 1", 1)])
    result.steps = [sr]
    result.current_version = "2"
    compact = RunSummary.from_json(result.termination_message())
    assert compact.steps is not None and compact.steps[0].statements is None
    log = "progress line\n" + result.to_json() + "\nschemaop: done\n"
    full = summary_from_log(log, compact)
    assert full is not None and full.steps is not None
    assert full.steps[0].statements is not None and full.steps[0].statements[0].rows == 1
    # Another run's line (another plan) is not taken.
    other = json.loads(result.to_json())
    other["planHash"] = "q" * 64
    assert summary_from_log(json.dumps(other), compact) is compact
    assert summary_from_log("not json {", compact) is compact
    assert summary_from_log(log, None) is None


def test_a_run_full_of_statements_and_notices_makes_a_small_valid_record() -> None:
    from schemaop.kube.builders import PodLog, build_run_record
    from schemaop.model.run import MAX_NOTICES, MAX_RUN_NOTICES
    from schemaop.schemas import validate

    noisy = tuple(Notice.of("NOTICE", "n" * 5000) for _ in range(MAX_NOTICES))
    statements = [_statement(i, command="UPDATE 1", rows=1, notices=noisy) for i in range(1, 201)]
    steps = tuple(
        dataclasses.replace(_step(statements), version=str(v), notices=noisy) for v in range(1, 201)
    )
    summary = RunSummary(ok=True, plan_hash="p" * 64, steps=steps)
    sv = {"metadata": {"name": "db", "namespace": "ns", "uid": "u"}}
    job = {
        "metadata": {"name": "db-p-1", "uid": "j" * 36, "labels": {}, "annotations": {}},
        "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]},
    }
    record = build_run_record(sv, job, summary, PodLog("pod", "line\n" * 10))
    assert validate(record) == []
    size = len(json.dumps(record).encode())
    assert size < 512 * 1024, size
    kept = record["spec"]["summary"]["steps"]
    assert sum(len(s.get("statements", [])) for s in kept) == RUN_STATEMENTS
    notices = sum(len(s.get("notices", [])) for s in kept) + sum(
        len(st.get("notices", [])) for s in kept for st in s.get("statements", [])
    )
    assert notices == MAX_RUN_NOTICES
    assert "summary.steps.statements" in record["spec"]["clipped"]
    # The Job's printed summary is bounded the same way.
    result = RunResult(plan_hash="p" * 64, from_version=None, to_version="2", target="latest")
    for v in range(1, 11):
        sr = StepResult(str(v), "d", "up", True, status="applied", attempts=1)
        sr.statements = statements
        sr.notices = list(noisy)
        result.steps.append(sr)
    assert len(result.to_json().encode()) < 512 * 1024


def test_the_quick_split_agrees_with_the_parser() -> None:
    from schemaop.engine import sqltext
    from schemaop.engine.runstats import quick_split

    texts = [
        "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);",
        "-- c\nSELECT ';';\n/* a; /* b; */ */ SELECT $$ x; $$;\nSELECT E'\\';'; SELECT \"a;b\"",
        "DO $f$ BEGIN RAISE NOTICE $$a;$$; END $f$;",
        "SELECT 1",
        ";;",
        "select 1; -- end\n",
    ]
    for text in texts:
        assert quick_split(text) == sqltext.split(text), text
    # Where it cannot follow the text, the parser decides (the server's count differs).
    atomic = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;"
    out = batch_statements(atomic, [Tag("CREATE FUNCTION", None)])
    assert out is not None and len(out) == 1 and out[0].statement.startswith("CREATE FUNCTION")
    assert quick_split("SELECT 'open") is None
