"""schemaop through a real PgBouncer (issue 15, part 1), in transaction and session mode.

Every part either works through it or refuses with a message that says what to
configure: the runner (advisory lock, session settings, non-transactional steps,
the lock check between steps), the operator's reads and its check before a Job,
and the sidecar (LISTEN falls back to polling).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sidecar_support import apply_migration, sidecar, wait_until

from devenv.pg import Postgres
from devenv.pgbouncer import PgBouncer
from schemaop import engine, planner
from schemaop.engine.errors import ConnectionPooled
from schemaop.engine.observe import read_database
from schemaop.engine.pooling import SessionKind, session_kind
from schemaop.engine.readpool import ReadPool
from schemaop.model import Migration, MigrationSet, RunOptions, Version
from schemaop.model.conditions import Reason

STEPS = [
    Migration(Version("1"), "users", "CREATE TABLE users (id int PRIMARY KEY, email text);"),
    Migration(
        Version("2"),
        "index",
        "-- schemaop:transactional false\n"
        "SET lock_timeout = '3s';\n"
        "CREATE INDEX CONCURRENTLY users_email ON users (email);",
        transactional=False,
    ),
    Migration(Version("3"), "more", "ALTER TABLE users ADD name text;"),
]


def run(url: str, direct: str) -> engine.RunResult:
    opts = RunOptions(lock_wait_ms=5000)
    with engine.connect(direct) as conn:
        state = engine.read_state(conn)
    the_plan = planner.plan(MigrationSet(STEPS), state, "latest", options=opts)
    return engine.run_plan(lambda: engine.connect(url), the_plan)


def scalar(dsn: str, query: str) -> object:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(query).fetchone()
        return row[0] if row else None


def advisory_locks(dsn: str) -> int:
    return int(
        scalar(dsn, "SELECT count(*) FROM pg_catalog.pg_locks WHERE locktype = 'advisory'") or 0
    )


def test_session_kind_tells_direct_session_and_transaction_pooling_apart(
    database: str, pgbouncer: dict[str, PgBouncer]
) -> None:
    expected = {
        database: SessionKind.DIRECT,
        pgbouncer["session"].via(database): SessionKind.SESSION,
        pgbouncer["transaction"].via(database): SessionKind.TRANSACTION,
    }
    for url, kind in expected.items():
        for _ in range(3):  # the same answer every time, not by luck
            with psycopg.connect(url, autocommit=True) as conn:
                assert session_kind(conn) is kind, url


def test_runner_through_transaction_pooling_refuses_before_anything(
    database: str, pgbouncer: dict[str, PgBouncer]
) -> None:
    result = run(pgbouncer["transaction"].via(database), database)
    assert not result.ok
    assert isinstance(result.error, ConnectionPooled)
    assert result.error.reason is Reason.CONNECTION_POOLED and not result.error.retryable
    assert "direct URL" in result.error.message and "\n" not in result.error.message
    # Nothing ran, no lock stayed behind on a pooled server connection, and no
    # session setting reached one (other clients would get it).
    assert scalar(database, "SELECT to_regnamespace('schemaop') IS NULL") is True
    assert advisory_locks(database) == 0
    assert (
        scalar(
            database,
            "SELECT count(*) FROM pg_catalog.pg_stat_activity"
            " WHERE application_name LIKE 'schemaop-runner %'",
        )
        == 0
    )


def test_runner_through_session_pooling_works(
    database: str, pgbouncer: dict[str, PgBouncer]
) -> None:
    result = run(pgbouncer["session"].via(database), database)
    assert result.ok, result.to_dict()
    assert result.applied_count == 3
    assert scalar(database, "SELECT count(*) FROM schemaop.schema_history") == 3
    assert scalar(database, "SELECT to_regclass('users_email') IS NOT NULL") is True
    assert advisory_locks(database) == 0
    # Run again: nothing to do, still fine.
    again = run(pgbouncer["session"].via(database), database)
    assert again.ok and again.applied_count == 0


def test_migrate_command_through_transaction_pooling_is_one_line_exit_3(
    database: str, pgbouncer: dict[str, PgBouncer], tmp_path: Path
) -> None:
    (tmp_path / "V1__users.sql").write_text("CREATE TABLE users (id int);\n")
    out = subprocess.run(
        [sys.executable, "-m", "schemaop", "migrate", "--dir", str(tmp_path)],
        env={"DATABASE_URL": pgbouncer["transaction"].via(database), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 3, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "transaction-pooling" in lines[0], out.stderr
    assert "Traceback" not in out.stderr
    assert scalar(database, "SELECT to_regnamespace('schemaop') IS NULL") is True


@pytest.mark.parametrize(
    "command",
    [
        ["repair", "--mark-applied", "1"],
        ["purge", "--older-than", "30d"],
    ],
)
def test_other_lock_takers_refuse_too_in_one_line(
    database: str, pgbouncer: dict[str, PgBouncer], command: list[str]
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "schemaop", *command],
        env={"DATABASE_URL": pgbouncer["transaction"].via(database), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 3, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "transaction-pooling" in lines[0], out.stderr
    assert advisory_locks(database) == 0


def test_operator_reads_through_transaction_pooling_and_leave_servers_writable(
    database: str, pgbouncer: dict[str, PgBouncer]
) -> None:
    assert run(database, database).ok
    pooled = pgbouncer["transaction"].via(database)
    pool = ReadPool()
    try:
        for _ in range(3):
            state, fingerprint, _points = read_database(
                pooled, "schemaop", ["public"], 5, "test", pool=pool, owner=("ns", "sv")
            )
            assert state.current_version == Version("3") and fingerprint
        # The reads set nothing on the pooled server connections: the application's
        # next transaction on them can write and has no statement timeout of ours.
        with psycopg.connect(pooled, autocommit=True) as app:
            for _ in range(5):
                assert app.execute("SHOW default_transaction_read_only").fetchone() == ("off",)
                assert app.execute("SHOW statement_timeout").fetchone() == ("0",)
            app.execute("CREATE TABLE app_writes (id int)")
        # Before a Job the operator connects anew: that refuses the pooler.
        with pytest.raises(ConnectionPooled, match="direct URL"):
            pool.check_new(pooled, timeout=5, source="Secret ns/db key url")
        pool.check_new(pgbouncer["session"].via(database), timeout=5, source="test")
    finally:
        pool.close()


def test_operator_read_is_read_only_through_transaction_pooling(
    database: str, pgbouncer: dict[str, PgBouncer]
) -> None:
    from schemaop.engine.readpool import read_only_transaction

    pool = ReadPool()
    try:
        with (
            pool.connection(
                pgbouncer["transaction"].via(database), timeout=5, source="t", owner=1
            ) as conn,
            pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
            read_only_transaction(conn),
        ):
            conn.execute("CREATE TABLE nope (id int)")
    finally:
        pool.close()


async def test_sidecar_through_transaction_pooling_polls_and_says_so(
    database: str, pgbouncer: dict[str, PgBouncer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="schemaop.sidecar")
    pooled = pgbouncer["transaction"].via(database)
    async with sidecar(pooled, poll_interval=0.5) as (_base, cache):
        await wait_until(lambda: cache.ready, what="first snapshot")
        await wait_until(
            lambda: "LISTEN cannot receive notifications" in caplog.text, what="the log line"
        )
        assert not cache.listening
        lines = [r for r in caplog.records if "LISTEN" in r.getMessage()]
        assert len(lines) == 1 and "polling every 0.5s" in lines[0].getMessage()
        apply_migration(database, "1", "CREATE TABLE polled (id int);")
        await wait_until(
            lambda: cache.snapshot is not None and cache.snapshot.version == "1",
            what="the change, by polling",
        )


async def test_sidecar_through_session_pooling_listens(
    database: str, pgbouncer: dict[str, PgBouncer]
) -> None:
    pooled = pgbouncer["session"].via(database)
    async with sidecar(pooled, poll_interval=60.0) as (_base, cache):
        await wait_until(lambda: cache.ready and cache.listening, what="listening")
        apply_migration(database, "1", "CREATE TABLE notified (id int);")
        # Well before the 60 s poll: the NOTIFY arrived through PgBouncer.
        took = await wait_until(
            lambda: cache.snapshot is not None and cache.snapshot.version == "1",
            timeout=20,
            what="the change, by NOTIFY",
        )
        assert took < 20


def test_postgres_fixture_is_behind_the_bouncers(
    postgres: Postgres, pgbouncer: dict[str, PgBouncer]
) -> None:
    for mode, bouncer in pgbouncer.items():
        assert bouncer.pool_mode == mode and bouncer.port != postgres.port
