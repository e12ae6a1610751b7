"""The engine under contention: two runners, a killed runner, a blocking transaction."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

from schemaop import engine, planner
from schemaop.model import DatabaseState, Migration, MigrationSet, RunOptions, Version


def mig(version: str, up: str, down: str | None = None) -> Migration:
    return Migration(Version(version), f"m{version}", up, down)


def test_two_runners_at_once_apply_each_step_exactly_once(database: str) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("CREATE TABLE effects (version text)")
    migrations = MigrationSet(
        mig(str(i), f"SELECT pg_sleep(0.02); INSERT INTO effects VALUES ('{i}');")
        for i in range(1, 21)
    )
    plan = planner.plan(migrations, DatabaseState(), options=RunOptions(lock_wait_ms=30_000))
    results: list[engine.RunResult] = []

    def runner() -> None:
        results.append(engine.run_plan(lambda: engine.connect(database), plan))

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 2 and all(r.ok for r in results), [r.error for r in results]
    # One did the work, the other found it done.
    assert sorted(r.applied_count for r in results) == [0, 20]
    with psycopg.connect(database, autocommit=True) as conn:
        effects = conn.execute("SELECT version, count(*) FROM effects GROUP BY 1").fetchall()
        applied = conn.execute(
            "SELECT version, count(*) FROM schemaop.schema_history"
            " WHERE status = 'applied' GROUP BY 1"
        ).fetchall()
    assert len(effects) == 20 and all(n == 1 for _, n in effects)
    assert len(applied) == 20 and all(n == 1 for _, n in applied)


def _wait_for(predicate: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _schemaop(*args: str, env: dict[str, str] | None = None) -> list[str]:
    return [sys.executable, "-m", "schemaop", *args]


def test_kill_9_mid_transactional_step_leaves_nothing_and_the_next_run_succeeds(
    database: str, tmp_path: Path
) -> None:
    d = tmp_path / "migrations"
    d.mkdir()
    (d / "V1__users.sql").write_text("CREATE TABLE users (id int);")
    (d / "V2__slow.sql").write_text(
        "CREATE TABLE half (id int);\nINSERT INTO users VALUES (1);\nSELECT pg_sleep(60);"
    )
    proc = subprocess.Popen(
        _schemaop("migrate", "--dir", str(d), "--database-url", database, "--quiet"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with psycopg.connect(database, autocommit=True) as watch:

            def sleeping() -> bool:
                row = watch.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE"
                    " 'schemaop-runner%' AND query LIKE '%pg_sleep(60)%' AND state = 'active'"
                ).fetchone()
                return bool(row and row[0])

            _wait_for(sleeping)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)

            # The server notices the dead client (client_connection_check_interval)
            # and rolls the step back; the session lock goes with it.
            def gone() -> bool:
                row = watch.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE application_name LIKE 'schemaop-runner%'"
                ).fetchone()
                return bool(row and row[0] == 0)

            _wait_for(gone, timeout=10)
            assert watch.execute("SELECT to_regclass('public.half')").fetchone() == (None,)
            assert watch.execute("SELECT count(*) FROM users").fetchone() == (0,)
            assert watch.execute(
                "SELECT version, status FROM schemaop.schema_history ORDER BY id"
            ).fetchall() == [("1", "applied")]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    (d / "V2__slow.sql").write_text(
        "CREATE TABLE half (id int);\nINSERT INTO users VALUES (1);\nSELECT pg_sleep(0);"
    )
    # The edited file is fine: version 2 never got applied, so its checksum is new.
    out = subprocess.run(
        _schemaop("migrate", "--dir", str(d), "--database-url", database),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    with psycopg.connect(database, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM half").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (1,)


def test_blocker_makes_the_step_retry_and_app_queries_never_wait_past_lock_timeout(
    database: str,
) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int); INSERT INTO orders VALUES (1)")
    lock_timeout_ms = 300
    migrations = MigrationSet([mig("1", "ALTER TABLE orders ADD COLUMN note text;")])
    plan = planner.plan(
        migrations,
        DatabaseState(),
        options=RunOptions(lock_timeout_ms=lock_timeout_ms, retries=30),
    )
    events: list[dict[str, object]] = []
    result: list[engine.RunResult] = []
    app_waits: list[float] = []
    stop = threading.Event()

    def app() -> None:
        with psycopg.connect(database, autocommit=True) as conn:
            while not stop.is_set():
                t0 = time.monotonic()
                conn.execute("SELECT count(*) FROM orders").fetchone()
                app_waits.append(time.monotonic() - t0)
                time.sleep(0.01)

    blocker = psycopg.connect(database)
    blocker.execute("SELECT * FROM orders").fetchall()  # holds ACCESS SHARE until commit
    app_thread = threading.Thread(target=app)
    app_thread.start()
    run_thread = threading.Thread(
        target=lambda: result.append(
            engine.run_plan(lambda: engine.connect(database), plan, events.append)
        )
    )
    run_thread.start()
    try:
        # Hold the blocker for 2 s or more, far longer than the bound checked below,
        # so an application query queued behind an unbounded wait would show it.
        _wait_for(lambda: sum(1 for e in events if e["event"] == "retry") >= 3)
        time.sleep(1.0)
    finally:
        blocker.commit()
        blocker.close()
    run_thread.join(30)
    stop.set()
    app_thread.join(10)

    (res,) = result
    assert res.ok, res.error
    assert res.steps[0].attempts >= 3
    retries = [e for e in events if e["event"] == "retry"]
    assert all(e["sqlstate"] == "55P03" for e in retries)
    # While the migration waited in the lock queue the application waited behind it,
    # but never longer than lock_timeout (plus scheduling slack on a busy machine).
    assert app_waits and max(app_waits) < lock_timeout_ms / 1000 + 0.6
    with psycopg.connect(database, autocommit=True) as conn:
        cols = conn.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders'"
        ).fetchone()
    assert cols == (2,)


def test_lock_timeout_gives_up_after_retries(database: str) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int)")
    plan = planner.plan(
        MigrationSet([mig("1", "ALTER TABLE orders ADD COLUMN note text;")]),
        DatabaseState(),
        options=RunOptions(lock_timeout_ms=50, retries=3),
    )
    with psycopg.connect(database) as blocker:
        blocker.execute("SELECT * FROM orders").fetchall()
        res = engine.run_plan(lambda: engine.connect(database), plan, sleep=lambda _: None)
    assert isinstance(res.error, engine.LockTimeout)
    assert res.error.retryable and res.steps[0].attempts == 3
    assert "gave up after 3 tries" in res.error.message
