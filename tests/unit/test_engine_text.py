"""Engine pieces that need no database: statement splitting, positions, errors, redaction."""

from __future__ import annotations

import argparse
import json
import os

import pytest

from schemaop.commands import _support as clisupport
from schemaop.engine import redact
from schemaop.engine.connect import describe, remember_secret
from schemaop.engine.errors import (
    AuthenticationFailed,
    ConnectionFailed,
    LockTimeout,
    MigrationFailed,
    Position,
    SerializationFailure,
    StatementTimeout,
    error_class,
)
from schemaop.engine.lock import DEFAULT_LOCK_KEY, lock_key
from schemaop.engine.runner import RunResult, StepResult
from schemaop.engine.sqltext import line_column, split, statement_at


def test_split_respects_dollar_quotes_and_comments() -> None:
    text = (
        "-- leading comment; with a semicolon\n"
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;\n"
        "/* block; comment */ SELECT 'a;b';\n"
        "SELECT 2"
    )
    parts = [s.text for s in split(text)]
    assert len(parts) == 3
    assert parts[0].startswith("CREATE FUNCTION") and parts[0].endswith("END $$")
    assert parts[1].endswith("SELECT 'a;b'") and parts[2] == "SELECT 2"


def test_split_falls_back_to_the_scanner_on_syntax_errors() -> None:
    assert [s.text for s in split("SELEC 1; SELECT 2")] == ["SELEC 1", "SELECT 2"]


def test_line_column_and_statement_at() -> None:
    text = "SELECT 1;\nSELECT é,\n  nope;"
    offset = text.index("nope")
    assert line_column(text, offset) == (3, 3)
    st = statement_at(text, offset)
    assert st is not None and st.index == 1 and st.text.startswith("SELECT é")


@pytest.mark.parametrize(
    ("sqlstate", "cls", "retryable"),
    [
        ("55P03", LockTimeout, True),
        ("40001", SerializationFailure, True),
        ("40P01", SerializationFailure, True),
        ("57014", StatementTimeout, False),
        ("08006", ConnectionFailed, True),
        ("28P01", AuthenticationFailed, False),
        ("42601", MigrationFailed, False),
        (None, ConnectionFailed, True),
    ],
)
def test_sqlstate_classes(sqlstate: str | None, cls: type, retryable: bool) -> None:
    assert error_class(sqlstate) is cls
    assert cls.retryable is retryable


def test_redaction() -> None:
    assert "hunter2" not in redact("postgresql://app:hunter2@db:5432/x failed")
    assert "s3cr3t" not in redact("host=db password=s3cr3t dbname=x")
    assert "s3 cr'et" not in redact("host=db password='s3 cr\\'et' dbname=x")
    remember_secret("correct-horse")
    assert redact("oops correct-horse leaked") == "oops *** leaked"
    assert describe("postgresql://app:pw@db:6432/shop") == "app@db:6432/shop"


def test_lock_key_is_documented_and_per_schema() -> None:
    assert lock_key("schemaop") == DEFAULT_LOCK_KEY
    assert lock_key("other") != DEFAULT_LOCK_KEY
    assert -(2**63) <= DEFAULT_LOCK_KEY < 2**63


def test_termination_message_fits_kubernetes_limit() -> None:
    result = RunResult(plan_hash="a" * 64, from_version=None, to_version="999", target="latest")
    result.steps = [
        StepResult(str(i), "x" * 200, "up", True, status="applied") for i in range(1, 1000)
    ]
    result.steps[-1].status = "failed"
    result.error = MigrationFailed(
        "m" * 5000,
        sqlstate="42601",
        statement="SELECT " + "y" * 10000,
        position=Position(10, 1, 10),
        version="999",
    )
    text = result.termination_message()
    assert len(text.encode()) < 4096
    data = json.loads(text)
    assert data["error"]["sqlstate"] == "42601" and data["error"]["version"] == "999"
    assert data["error"]["position"] == {"offset": 10, "line": 1, "column": 10}


@pytest.mark.parametrize(
    ("text", "ms"), [("2s", 2000), ("500ms", 500), ("1.5s", 1500), ("250", 250), ("1m", 60000)]
)
def test_durations(text: str, ms: int) -> None:
    assert clisupport.duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "s", "2h", "1.5.0s", "-1s", "2 s s", "1e3"])
def test_durations_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"use e\.g\. 500ms, 2s or 1m"):
        clisupport.duration_ms(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 30 * 86400), (" 12h ", 43200), ("2w", 14 * 86400), ("90m", 5400), ("0s", 0)],
)
def test_ages(text: str, seconds: int) -> None:
    """``purge --older-than``: whole numbers with a unit, the same parser as durations."""
    assert clisupport.age(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["30", "1.5d", "2ms", "3y", "d", ""])
def test_ages_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="use a number and a unit"):
        clisupport.age(text)


def test_transaction_control_is_found_only_at_top_level() -> None:
    from schemaop.engine.sqltext import transaction_control

    assert transaction_control("CREATE TABLE t (a int);") is None
    body = "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;"
    assert transaction_control(body) is None
    st = transaction_control("BEGIN;\nCREATE TABLE t (a int);\nCOMMIT;")
    assert st is not None and st.text == "BEGIN"
    st = transaction_control("CREATE TABLE t (a int);\ncommit;")
    assert st is not None and st.text == "commit"


def test_progress_lines_are_throttled_but_retries_always_shown() -> None:
    import io

    stream = io.StringIO()
    progress = clisupport.Progress(stream)
    progress.last = -1e9  # as if the last line was long ago
    start = {"index": 0, "total": 2, "version": "1", "direction": "up", "description": "x"}
    progress({"event": "step-start", **start})
    progress({"event": "step-start", **start, "index": 1})  # within the second: dropped
    progress({"event": "retry", "version": "1", "sqlstate": "55P03", "attempt": 1, "delayMs": 150})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("[1/2] up 1 x")
    assert "55P03" in lines[1] and "try 2" in lines[1]
    quiet = io.StringIO()
    clisupport.Progress(quiet, quiet=True)({"event": "retry", **start})
    assert quiet.getvalue() == ""


def test_job_termination_log_default(tmp_path: object) -> None:
    from schemaop.commands import job

    assert job._termination_path("/x/y") == "/x/y"
    expected = job.DEFAULT_TERMINATION_LOG if os.access("/dev/termination-log", os.W_OK) else None
    assert job._termination_path(None) == expected


# --- text that cannot reach PostgreSQL as written (model.migration.text_problem) ---

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from schemaop.model import InvalidMigrationSet, Migration, MigrationSet, Version  # noqa: E402
from schemaop.model.migration import text_problem  # noqa: E402


@pytest.mark.parametrize(
    "text",
    [
        "SELECT 1;",
        "SELECT 1 -- a comment at the very end",
        "SELECT 'it''s'; SELECT E'a\\'b'; SELECT 'a\\';",
        "/* outer /* inner */ still outer */ SELECT 1;",
        'SELECT "a""b" FROM t;',
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $f$ SELECT $$x$$; $f$;",
        "SELECT a$b$ FROM t; PREPARE p AS SELECT $1;",
        "SELECT U&'d\\0061t\\+000061' , U&\"x\";",
    ],
)
def test_text_that_runs_as_written(text: str) -> None:
    assert text_problem(text) is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("SELECT 1;\0 SELECT 2;", "contains a NUL character at line 1, column 10"),
        ("SELECT '\ud800';", "not valid Unicode at line 1, column 9"),
        ("SELECT 1;\n/* no end", "ends inside a /* comment opened at line 2, column 1"),
        ("/* a /* b */ SELECT 1;", "ends inside a /* comment opened at line 1, column 1"),
        ("SELECT 'a''", "ends inside a quoted string"),
        ("SELECT 'a\\';", None),  # standard_conforming_strings: a backslash is a character
        ("SELECT E'a\\';", "ends inside an E'...' string"),
        ('SELECT "a', "ends inside a quoted identifier"),
        ("DO $x$ BEGIN END $y$", "ends inside a $x$-quoted body opened at line 1, column 4"),
        ("SELECT 1;\nCOPY t FROM STDIN;\n1\n\\.", "COPY ... FROM STDIN at line 2, column 1"),
        ("COPY (SELECT 1) TO STDOUT;", "COPY ... TO STDOUT"),
        ("COPY t FROM '/srv/t.csv'; SELECT 'copy';", None),
    ],
)
def test_text_that_cannot_run_as_written(text: str, problem: str | None) -> None:
    found = text_problem(text)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


_PIECES = ["'", '"', "$", "/", "*", "-", "\n", "\r", "\\", "e", "E", "a", "U", "&", "b", "x"]
_PIECES += ["1", " ", "_", ";", "é", "$a$", "$$", "/*", "*/", "--", "E'", "U&'", 'U&"']


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=16).map("".join))
def test_text_problem_agrees_with_postgresqls_scanner(text: str) -> None:
    """The check and PostgreSQL's own lexer (pglast) agree on unterminated tokens."""
    from pglast.parser import ParseError, scan

    try:
        scan(text)
    except ParseError as exc:
        if "unterminated" in str(exc):
            assert text_problem(text) is not None, str(exc)
        return
    assert text_problem(text) is None


def test_a_migration_set_refuses_text_that_cannot_run_as_written() -> None:
    good = Migration(Version("1"), "a", "SELECT 1;", source="SchemaMigration shop-1")
    bad = Migration(Version("2"), "b", "SELECT 2;\0", source="SchemaMigration shop-2")
    with pytest.raises(InvalidMigrationSet, match="SchemaMigration shop-2: up SQL contains a NUL"):
        MigrationSet([good, bad])
    bad_down = Migration(Version("2"), "b", "SELECT 2;", "SELECT '", source="SchemaMigration x")
    with pytest.raises(InvalidMigrationSet, match="SchemaMigration x: down SQL ends inside"):
        MigrationSet([good, bad_down])
    with pytest.raises(InvalidMigrationSet, match="description contains a NUL"):
        MigrationSet([Migration(Version("3"), "c\0", "SELECT 3;")])


def test_a_schema_migration_with_a_nul_stalls_the_schema_version() -> None:
    """The operator reaches the same check through decide: a Stalled refusal, no Job."""
    from schemaop import decide

    objs = [
        {
            "metadata": {"name": "shop-1"},
            "spec": {"version": "1", "up": "CREATE TABLE t (a int);\u0000DROP TABLE t;"},
        }
    ]
    with pytest.raises(InvalidMigrationSet, match="SchemaMigration shop-1: up SQL contains a NUL"):
        decide.to_migrations(objs)
    import datetime as dt

    from schemaop.model import DatabaseState

    facts = decide.Facts(
        name="shop",
        namespace="ns",
        generation=1,
        spec={"connection": {}},
        annotations={},
        migrations=objs,
        now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        db_state=DatabaseState(),
    )
    decision = decide.decide(facts)
    ready = decision.conditions[0]
    assert (ready.status, ready.reason) == (False, "InvalidMigrationSet")
    assert "shop-1: up SQL contains a NUL" in ready.message and decision.create_job_for is None


# --- the runner's session and lock (sqltext, lock) ---------------------------------

from schemaop.engine import sqltext  # noqa: E402
from schemaop.engine.lock import stored_name  # noqa: E402
from schemaop.model import InvalidPlan, RunOptions  # noqa: E402


def test_settings_resets_finds_what_resets_the_runners_settings() -> None:
    text = (
        "SET lock_timeout = '9s';\nRESET ALL;\nSELECT 'reset';\nRESET statement_timeout;\n"
        "SET work_mem TO DEFAULT;\nDISCARD ALL;\nDISCARD PLANS;"
    )
    assert sqltext.settings_resets(text) == {
        1: frozenset(),
        3: frozenset({"statement_timeout"}),
        4: frozenset({"work_mem"}),
        5: frozenset(),
    }
    assert sqltext.settings_resets("SELECT 1; CREATE TABLE t (a int)") == {}


@pytest.mark.parametrize(
    ("text", "statement"),
    [
        ("SELECT 1;\nRESET ALL;", "RESET ALL"),
        ("RESET lock_timeout;", "RESET lock_timeout"),
        ("SET statement_timeout TO DEFAULT;", "SET statement_timeout TO DEFAULT"),
        ("SELECT 1;\nCOMMIT;", "COMMIT"),
        ("RESET work_mem; SELECT 1;", None),
        ("DO $$ BEGIN PERFORM 1; END $$;", None),
    ],
)
def test_runner_conflict_in_a_transactional_step(text: str, statement: str | None) -> None:
    found = sqltext.runner_conflict(text)
    assert (found[0].text if found else None) == statement


def test_lock_key_is_the_key_of_the_name_postgresql_stores() -> None:
    long_name = "é" * 40  # 80 bytes; PostgreSQL keeps 62 (31 characters)
    assert stored_name(long_name) == "é" * 31
    assert lock_key(long_name) == lock_key("é" * 31)
    assert stored_name("schemaop") == "schemaop" and lock_key() == DEFAULT_LOCK_KEY


def test_schema_names_are_limited_in_bytes_not_characters() -> None:
    RunOptions(history_schema="é" * 31, schemas=("a" * 63,))
    with pytest.raises(InvalidPlan, match="64 bytes in UTF-8; PostgreSQL keeps at most 63"):
        RunOptions(history_schema="é" * 32)
    with pytest.raises(InvalidPlan, match="80 bytes"):
        RunOptions(schemas=("é" * 40,))


def test_an_over_long_history_schema_stalls_the_schema_version() -> None:
    """A bad spec is a Stalled condition (InvalidSpec), not an exception in the handler."""
    import datetime as dt

    from schemaop import decide
    from schemaop.model import DatabaseState

    facts = decide.Facts(
        name="db",
        namespace="ns",
        generation=1,
        spec={"connection": {}, "historySchema": "é" * 40},
        annotations={},
        migrations=[{"metadata": {"name": "db-1"}, "spec": {"version": "1", "up": "SELECT 1;"}}],
        now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        db_state=DatabaseState(),
    )
    decision = decide.decide(facts)
    ready = decision.conditions[0]
    assert (ready.type, ready.status, ready.reason) == ("Ready", False, "InvalidSpec")
    assert "80 bytes" in ready.message and decision.create_job_for is None


def test_a_runs_result_is_printed_one_way_by_migrate_and_repair(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """cs.failed_run: JSON on stdout with --output json; the error on stderr otherwise;
    the exit code of a failure (3 refused, 1 failed), None for a run that did not fail."""
    from schemaop.engine.errors import Refused
    from schemaop.model.conditions import Reason

    done = RunResult(plan_hash="a" * 64, from_version="1", to_version="2", target="2")
    assert clisupport.failed_run(done, "text") is None
    assert capsys.readouterr() == ("", "")
    assert clisupport.failed_run(done, "json") is None
    assert json.loads(capsys.readouterr().out)["ok"] is True

    remember_secret("pw-7c1e-not-in-any-output")
    failed = RunResult(plan_hash="a" * 64, from_version="1", to_version="2", target="2")
    failed.error = MigrationFailed(
        "relation t does not exist (pw-7c1e-not-in-any-output)", sqlstate="42P01"
    )
    assert clisupport.failed_run(failed, "text") == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: relation t does not exist")
    assert "pw-7c1e" not in err
    assert clisupport.failed_run(failed, "json") == 1
    out, err = capsys.readouterr()
    assert err == "" and json.loads(out)["error"]["sqlstate"] == "42P01"
    assert "pw-7c1e" not in out
    failed.error = Refused(Reason.CHECKSUM_MISMATCH, "version 1 changed since it was applied")
    assert clisupport.failed_run(failed, "text") == 3
