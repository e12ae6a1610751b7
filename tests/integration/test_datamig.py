"""Batched data migrations on a real PostgreSQL (issue 13).

Exactly once across kill -9 at random points, resume, throttling on a held
lock, composite keys, failure reporting, rollback (batched and plain down) and
SIGTERM finishing the batch in flight. Tables are small and batches tiny, so
that a run has many batches and still takes a second or two.

``SCHEMAOP_DATAMIG_TRIALS`` sets the number of kill -9 trials (default 20);
``SCHEMAOP_DATAMIG_SEED`` replays a run (the seed is printed).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from schemaop import engine, migrations_dir, planner
from schemaop.model import RunOptions
from schemaop.model.run import RunSummary

UP = "UPDATE items SET n = n + 1, touched = touched + 1 WHERE id BETWEEN :lo_id AND :hi_id"
DOWN = "UPDATE items SET n = n - 1 WHERE id BETWEEN :lo_id AND :hi_id"


def q(dsn: str, text: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(text, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def make_items(dsn: str, rows: int) -> None:
    q(
        dsn,
        "DROP TABLE IF EXISTS items; CREATE TABLE items (id int PRIMARY KEY,"
        " n int NOT NULL DEFAULT 0, touched int NOT NULL DEFAULT 0, other int NOT NULL DEFAULT 0)",
    )
    q(dsn, f"INSERT INTO items (id) SELECT g FROM generate_series(1, {rows}) g")


def write_dir(
    root: Path, directive: str, up: str = UP, down: str | None = DOWN, **more: str
) -> Path:
    root.mkdir(exist_ok=True)
    (root / "V1__base.sql").write_text("SELECT 1;")
    (root / "V2__backfill.sql").write_text(f"-- schemaop:batched {directive}\n{up};\n")
    if down is not None:
        (root / "U2__backfill.sql").write_text(down + ";\n")
    for name, text in more.items():
        (root / name).write_text(text)
    return root


def migrate(
    dsn: str,
    root: Path,
    target: str = "latest",
    *,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    stop: Callable[[], bool] | None = None,
    **options: Any,
) -> engine.RunResult:
    migrations = migrations_dir.load(root)
    with engine.connect(dsn) as conn:
        state = engine.read_state(conn, "schemaop")
    plan = planner.plan(migrations, state, target, options=RunOptions(**options))
    return engine.run_plan(lambda: engine.connect(dsn), plan, on_progress, stop=stop)


def progress_row(dsn: str, direction: str = "up") -> dict[str, Any] | None:
    rows = q(
        dsn,
        "SELECT to_jsonb(b) FROM schemaop.schemaop_batches b WHERE version = '2'"
        " AND direction = %s",
        (direction,),
    )
    return rows[0][0] if rows else None


def applied_rows(dsn: str, version: str = "2") -> list[tuple[Any, ...]]:
    if not q(dsn, "SELECT to_regclass('schemaop.schema_history') IS NOT NULL")[0][0]:
        return []
    return q(
        dsn,
        "SELECT direction, status FROM schemaop.schema_history WHERE version = %s ORDER BY id",
        (version,),
    )


def _schemaop(*args: str) -> list[str]:
    return [sys.executable, "-m", "schemaop", *args]


def runner_gone(dsn: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = q(
            dsn,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'schemaop-runner%'",
        )
        if left[0][0] == 0:
            return
        time.sleep(0.05)
    raise AssertionError("the killed runner's backend is still there")


def test_batched_backfill_runs_every_row_once_and_reports(database: str, tmp_path: Path) -> None:
    make_items(database, 1000)
    root = write_dir(tmp_path / "m", "table=public.items key=id initial=50 min=10 max=200")
    events: list[dict[str, Any]] = []
    result = migrate(database, root, on_progress=events.append)
    assert result.ok, result.error
    assert q(database, "SELECT min(n), max(n), count(*) FROM items") == [(1, 1, 1000)]
    assert applied_rows(database) == [("up", "applied")]
    row = progress_row(database)
    assert row is not None
    assert row["rows_done"] == 1000 and row["completed_at"] is not None
    assert row["batches_done"] >= 5
    assert row["rows_total_estimate"] == 1000
    step = result.to_dict()["steps"][1]
    assert step["batches"]["rowsDone"] == 1000
    assert step["batches"]["batchesDone"] == row["batches_done"]
    assert {"batch-done"} <= {e["event"] for e in events}
    # Running again does nothing: the step is applied exactly once.
    again = migrate(database, root)
    assert again.ok and again.applied_count == 0
    assert q(database, "SELECT max(n) FROM items") == [(1,)]


def test_composite_key(database: str, tmp_path: Path) -> None:
    q(
        database,
        "CREATE TABLE acct (tenant text NOT NULL, id int NOT NULL, n int NOT NULL DEFAULT 0,"
        " PRIMARY KEY (tenant, id));"
        " INSERT INTO acct (tenant, id) SELECT t, g FROM unnest(ARRAY['a', 'b b', 'c''q']) t,"
        " generate_series(1, 137) g",
    )
    up = (
        "UPDATE acct SET n = n + 1 WHERE (tenant, id) BETWEEN (:lo_tenant, :lo_id)"
        " AND (:hi_tenant, :hi_id)"
    )
    root = write_dir(tmp_path / "m", "table=acct key=tenant,id initial=20 min=7 max=20", up, None)
    result = migrate(database, root)
    assert result.ok, result.error
    assert q(database, "SELECT min(n), max(n), count(*) FROM acct") == [(1, 1, 411)]
    row = progress_row(database)
    assert row is not None and row["batches_done"] >= 21
    assert row["position"] == {"tenant": "c'q", "id": "137"}


def test_stop_between_batches_then_resume(database: str, tmp_path: Path) -> None:
    make_items(database, 500)
    root = write_dir(tmp_path / "m", "table=items key=id initial=25 min=25 max=25")
    seen: list[int] = []

    def on_progress(event: dict[str, Any]) -> None:
        if event["event"] == "batch-done":
            seen.append(event["rows"])

    result = migrate(database, root, on_progress=on_progress, stop=lambda: len(seen) >= 4)
    assert isinstance(result.error, engine.Stopped)
    assert result.error.reason.value == "Paused"
    step = result.to_dict()["steps"][1]
    assert step["status"] == "pending"
    assert step["batches"]["batchesDone"] == 4
    assert q(database, "SELECT sum(n), max(n) FROM items") == [(100, 1)]
    assert applied_rows(database) == []
    row = progress_row(database)
    assert row is not None and row["rows_done"] == 100 and row["completed_at"] is None
    assert row["position"] == {"id": "100"}

    events: list[dict[str, Any]] = []
    again = migrate(database, root, on_progress=events.append)
    assert again.ok, again.error
    assert "batch-resume" in {e["event"] for e in events}
    assert q(database, "SELECT min(n), max(n) FROM items") == [(1, 1)]
    assert applied_rows(database) == [("up", "applied")]
    row = progress_row(database)
    assert row is not None and row["rows_done"] == 500 and row["batches_done"] == 20


def test_kill_9_at_random_points_applies_every_batch_exactly_once(
    database: str, tmp_path: Path
) -> None:
    trials = int(os.environ.get("SCHEMAOP_DATAMIG_TRIALS", "20"))
    seed = int(os.environ.get("SCHEMAOP_DATAMIG_SEED", str(random.randrange(1 << 30))))
    print(f"kill -9 trials: {trials}, seed {seed} (SCHEMAOP_DATAMIG_SEED={seed} replays)")
    rng = random.Random(seed)
    rows = 600
    root = write_dir(tmp_path / "m", "table=items key=id initial=10 min=10 max=10 pause=3ms")
    outcomes = {"before": 0, "during": 0, "done": 0}
    for trial in range(trials):
        make_items(database, rows)
        q(database, "DROP SCHEMA IF EXISTS schemaop CASCADE")
        proc = subprocess.Popen(
            _schemaop("migrate", "--dir", str(root), "--database-url", database, "--quiet"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            # A fifth of the kills land early (from the runner's connection on: the
            # lock, the history, the progress row), the rest anywhere among the batches
            # (from the first committed one on: start-up time varies with the load).
            early = rng.random() < 0.2
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and proc.poll() is None:
                if early:
                    ready = q(
                        database,
                        "SELECT count(*) > 0 FROM pg_stat_activity"
                        " WHERE application_name LIKE 'schemaop-runner%'",
                    )[0][0]
                else:
                    made = q(database, "SELECT to_regclass('schemaop.schemaop_batches')")
                    ready = made[0][0] is not None and progress_row(database) is not None
                if ready:
                    break
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.3 if early else 0.6))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        runner_gone(database)
        sums = q(database, "SELECT sum(n), max(n), sum(touched) FROM items")[0]
        committed = (
            progress_row(database)
            if q(database, "SELECT to_regclass('schemaop.schemaop_batches') IS NOT NULL")[0][0]
            else None
        )
        done = committed["rows_done"] if committed else 0
        assert sums[1] in (0, 1, None), f"trial {trial} (seed {seed}): a row updated twice"
        assert sums[0] == done, f"trial {trial} (seed {seed}): {sums} vs progress {done}"
        if committed and committed["completed_at"] is not None:
            assert applied_rows(database) == [("up", "applied")]
            outcomes["done"] += 1
        else:
            assert applied_rows(database) == []
            outcomes["during" if done else "before"] += 1
        result = migrate(database, root)
        assert result.ok, f"trial {trial} (seed {seed}): {result.error}"
        assert q(database, "SELECT min(n), max(n), min(touched), max(touched) FROM items") == [
            (1, 1, 1, 1)
        ], f"trial {trial} (seed {seed})"
        assert applied_rows(database) == [("up", "applied")], f"trial {trial} (seed {seed})"
    print(f"kill -9 outcomes: {outcomes}")
    assert outcomes["during"] >= trials // 2, outcomes


def test_held_lock_throttles_and_application_waits_at_most_a_batch(
    database: str, tmp_path: Path
) -> None:
    make_items(database, 2000)
    root = write_dir(
        tmp_path / "m", "table=items key=id target=50ms initial=100 min=10 max=400 attempts=30"
    )
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with psycopg.connect(database) as conn:
            conn.execute("SELECT * FROM items WHERE id = 1000 FOR UPDATE")
            holding.set()
            release.wait(20)
            conn.rollback()

    waits: list[float] = []
    stop_app = threading.Event()

    def application() -> None:
        rng = random.Random(7)
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '5s'")
            while not stop_app.is_set():
                key = rng.randrange(1, 2001)
                if key == 1000:
                    continue
                t0 = time.monotonic()
                conn.execute("UPDATE items SET other = other + 1 WHERE id = %s", (key,))
                waits.append(time.monotonic() - t0)
                time.sleep(0.002)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    app = threading.Thread(target=application)
    app.start()
    events: list[dict[str, Any]] = []

    def on_progress(event: dict[str, Any]) -> None:
        events.append(event)
        if sum(1 for e in events if e["event"] == "batch-retry") >= 3:
            release.set()

    try:
        result = migrate(database, root, on_progress=on_progress, lock_timeout_ms=100)
    finally:
        release.set()
        stop_app.set()
        holder.join(30)
        app.join(30)
    assert result.ok, result.error
    retries = [e for e in events if e["event"] == "batch-retry"]
    assert retries and {e["sqlstate"] for e in retries} == {"55P03"}
    sizes = [e["batchSize"] for e in retries]
    assert (sizes == sorted(sizes, reverse=True) and sizes[-1] < sizes[0]) or sizes[0] == 10
    assert q(database, "SELECT min(n), max(n) FROM items") == [(1, 1)]
    # Each batch holds its row locks for about the target duration: no application
    # query waited anywhere near the lock_timeout of the application (5s).
    assert waits and max(waits) < 1.5, max(waits)


def test_failing_batch_stops_with_key_range_sqlstate_and_statement(
    database: str, tmp_path: Path
) -> None:
    make_items(database, 300)
    up = "UPDATE items SET n = 1 + 0 * (100 / (id - 170)) WHERE id BETWEEN :lo_id AND :hi_id"
    root = write_dir(
        tmp_path / "m", "table=items key=id initial=50 min=50 max=50 attempts=2", up, None
    )
    result = migrate(database, root)
    err = result.error
    assert err is not None and err.sqlstate == "22012"
    assert "batch 4 of items (keys (id) from (151) to (200), batch size 50)" in err.message
    assert "failed 2 time(s): division by zero" in err.message
    assert err.statement == up
    assert err.version == "2"
    summary = result.to_dict()
    assert summary["error"]["sqlstate"] == "22012"
    assert summary["steps"][1]["status"] == "failed"
    # The three batches before it are committed; nothing of the failing one.
    assert q(database, "SELECT count(*) FROM items WHERE n <> 0") == [(150,)]
    row = progress_row(database)
    assert row is not None
    assert row["failed_attempts"] == 2 and row["batches_done"] == 3
    assert row["last_error"]["sqlstate"] == "22012"
    assert row["last_error"]["lo"] == {"id": "151"}
    assert row["last_error"]["hi"] == {"id": "200"}
    assert row["last_error"]["statement"] == up
    assert applied_rows(database) == [("up", "failed")]


def test_rollback_batched_down_and_plain_down(database: str, tmp_path: Path) -> None:
    make_items(database, 400)
    batched = write_dir(tmp_path / "a", "table=items key=id initial=30 min=10 max=60")
    (batched / "U2__backfill.sql").write_text("-- schemaop:batched\n" + DOWN + ";\n")
    assert migrate(database, batched).ok
    assert q(database, "SELECT max(n) FROM items") == [(1,)]
    result = migrate(database, batched, "1")
    assert result.ok, result.error
    assert q(database, "SELECT min(n), max(n) FROM items") == [(0, 0)]
    assert applied_rows(database) == [("up", "applied"), ("down", "applied")]
    assert progress_row(database, "up") is None  # reset by the down
    down_row = progress_row(database, "down")
    assert down_row is not None and down_row["rows_done"] == 400
    # Up again starts over from the first key (the up's progress was reset).
    assert migrate(database, batched).ok
    assert q(database, "SELECT min(n), max(n) FROM items") == [(1, 1)]

    make_items(database, 200)
    q(database, "DROP SCHEMA schemaop CASCADE")
    plain = write_dir(tmp_path / "b", "table=items key=id initial=30 min=10 max=60", UP, None)
    (plain / "U2__backfill.sql").write_text("UPDATE items SET n = 0;\n")
    assert migrate(database, plain).ok
    assert progress_row(database, "up") is not None
    result = migrate(database, plain, "1")
    assert result.ok, result.error
    assert q(database, "SELECT max(n) FROM items") == [(0,)]
    assert progress_row(database, "up") is None
    assert applied_rows(database) == [("up", "applied"), ("down", "applied")]


def test_key_that_is_not_unique_and_not_null_is_refused(database: str, tmp_path: Path) -> None:
    q(database, "CREATE TABLE loose (id int, n int DEFAULT 0); INSERT INTO loose VALUES (1), (1)")
    up = "UPDATE loose SET n = 1 WHERE id BETWEEN :lo_id AND :hi_id"
    root = write_dir(tmp_path / "m", "table=loose key=id", up, None)
    result = migrate(database, root)
    assert result.error is not None
    assert "not a unique, not-null key" in result.error.message
    assert q(database, "SELECT max(n) FROM loose") == [(0,)]


def test_sigterm_finishes_the_batch_and_exits_4(database: str, tmp_path: Path) -> None:
    make_items(database, 3000)
    root = write_dir(tmp_path / "m", "table=items key=id initial=10 min=10 max=10 pause=20ms")
    proc = subprocess.Popen(
        _schemaop("migrate", "--dir", str(root), "--database-url", database, "--output", "json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            exists = q(database, "SELECT to_regclass('schemaop.schemaop_batches') IS NOT NULL")
            row = progress_row(database) if exists[0][0] else None
            if row is not None and row["batches_done"] >= 3:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 4, err
    summary = json.loads(out)
    assert summary["error"]["kind"] == "Stopped"
    assert summary["error"]["reason"] == "Paused"
    assert summary["steps"][1]["status"] == "pending"
    row = progress_row(database)
    assert row is not None and row["completed_at"] is None
    assert summary["steps"][1]["batches"]["rowsDone"] == row["rows_done"]
    assert q(database, "SELECT sum(n), max(n) FROM items") == [(row["rows_done"], 1)]
    assert row["rows_done"] == 10 * row["batches_done"] < 3000
    assert applied_rows(database) == []


@pytest.mark.parametrize("tty", [False])
def test_cli_prints_json_lines_when_not_a_terminal(
    database: str, tmp_path: Path, tty: bool
) -> None:
    make_items(database, 300)
    root = write_dir(tmp_path / "m", "table=items key=id initial=10 min=10 max=10 pause=30ms")
    out = subprocess.run(
        _schemaop("migrate", "--dir", str(root), "--database-url", database),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stderr.splitlines() if x.startswith("{")]
    assert lines, out.stderr
    assert all(x["event"].startswith("batch-") for x in lines)
    assert {"rowsDone", "batchesDone", "batchSize", "rowsTotalEstimate"} <= set(lines[0])


def test_worked_example_of_the_docs(database: str, tmp_path: Path) -> None:
    """docs/data-migrations.md: add a column, backfill it, CHECK NOT VALID, VALIDATE."""
    q(
        database,
        "CREATE TABLE public.orders (id bigint PRIMARY KEY, total numeric NOT NULL);"
        " INSERT INTO orders SELECT g, g / 7.0 FROM generate_series(1, 700) g",
    )
    root = tmp_path / "m"
    root.mkdir()
    files = {
        "V10__add_total_cents.sql": "ALTER TABLE public.orders ADD COLUMN total_cents bigint;",
        "V11__backfill_total_cents.sql": (
            "-- schemaop:batched table=public.orders key=id target=500ms max=20000 initial=100\n"
            "UPDATE public.orders SET total_cents = round(total * 100)\n"
            "WHERE id BETWEEN :lo_id AND :hi_id AND total_cents IS NULL;\n"
        ),
        "U11__backfill_total_cents.sql": "SELECT 1;\n",
        "V12__total_cents_not_null.sql": (
            "ALTER TABLE public.orders\n    ADD CONSTRAINT orders_total_cents_not_null"
            " CHECK (total_cents IS NOT NULL) NOT VALID;"
        ),
        "V13__validate_total_cents.sql": (
            "ALTER TABLE public.orders VALIDATE CONSTRAINT orders_total_cents_not_null;"
        ),
    }
    for name, text in files.items():
        (root / name).write_text(text)
    result = migrate(database, root)
    assert result.ok, result.error
    assert q(database, "SELECT count(*) FROM orders WHERE total_cents IS NULL") == [(0,)]
    assert q(
        database,
        "SELECT convalidated FROM pg_constraint WHERE conname = 'orders_total_cents_not_null'",
    ) == [(True,)]
    assert result.to_dict()["steps"][1]["batches"]["rowsDone"] == 700


def test_pauses_while_throttled_and_records_the_reason(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Autovacuum on the table or replication lag: no batch runs until it is over.

    The conditions themselves (pg_stat_progress_vacuum, pg_stat_replication) are
    read before every step's first batch of every test here; this one makes them
    true for three checks and looks at what the runner does meanwhile.
    """
    from schemaop.engine import datamig

    make_items(database, 200)
    root = write_dir(tmp_path / "m", "table=items key=id initial=50 min=50 max=50")
    answers = iter(["autovacuum", "autovacuum", "replication lag"])
    seen: list[dict[str, Any] | None] = []

    def throttled(self: Any) -> str | None:
        reason = next(answers, None)
        if reason is None and not seen:
            seen.append(progress_row(database))
        return reason

    monkeypatch.setattr(datamig._Step, "throttled", throttled)
    monkeypatch.setattr(datamig, "THROTTLE_CHECK_S", 0.01)
    events: list[dict[str, Any]] = []
    result = migrate(database, root, on_progress=events.append)
    assert result.ok, result.error
    kinds = [e["event"] for e in events if e["event"].startswith("batch-")]
    assert kinds[:3] == ["batch-throttled"] * 3
    reasons = [e["reason"] for e in events if e["event"] == "batch-throttled"]
    assert reasons == ["autovacuum", "autovacuum", "replication lag"]
    # While paused, the progress row said why, and no batch had run.
    assert seen and seen[0] is not None
    assert seen[0]["throttle_reason"] == "replication lag" and seen[0]["batches_done"] == 0
    row = progress_row(database)
    assert row is not None and row["throttle_reason"] is None and row["rows_done"] == 200


def test_missing_table_fails_the_step_with_its_version(database: str, tmp_path: Path) -> None:
    up = "UPDATE nowhere SET n = 1 WHERE id BETWEEN :lo_id AND :hi_id"
    root = write_dir(tmp_path / "m", "table=nowhere key=id", up, None)
    result = migrate(database, root)
    assert result.error is not None
    assert (result.error.sqlstate, result.error.version) == ("42P01", "2")
    assert result.to_dict()["steps"][1]["status"] == "failed"


def test_a_changed_migration_starts_over(database: str, tmp_path: Path) -> None:
    make_items(database, 200)
    root = write_dir(tmp_path / "m", "table=items key=id initial=20 min=20 max=20", UP, None)
    seen: list[int] = []

    def count(event: dict[str, Any]) -> None:
        if event["event"] == "batch-done":
            seen.append(1)

    stopped = migrate(database, root, on_progress=count, stop=lambda: len(seen) >= 2)
    assert isinstance(stopped.error, engine.Stopped)
    # Not applied yet, so it may change; the changed SQL has run on no row.
    changed = UP.replace("touched + 1", "touched + 10")
    write_dir(tmp_path / "m", "table=items key=id initial=20 min=20 max=20", changed, None)
    result = migrate(database, root)
    assert result.ok, result.error
    assert q(database, "SELECT min(touched), max(touched) FROM items") == [(10, 11)]
    row = progress_row(database)
    assert row is not None and row["rows_done"] == 200 and row["batches_done"] == 10


def test_the_summary_of_a_stopped_step_counts_batches_over_all_its_runs(
    database: str, tmp_path: Path
) -> None:
    """What the operator compares between attempts stopped by activeDeadlineSeconds
    (decide.gates._progress_at_end): the stopped step's ``batches`` in the summary,
    compact termination message included, are the progress row's, counted over
    every run of the step, not the run's own."""
    make_items(database, 200)
    root = write_dir(tmp_path / "m", "table=items key=id initial=20 min=20 max=20", UP, None)
    for stops_at in (2, 5):
        seen: list[int] = []

        def count(event: dict[str, Any], seen: list[int] = seen) -> None:
            if event["event"] == "batch-done":
                seen.append(1)

        stopped = migrate(
            database, root, on_progress=count, stop=lambda seen=seen, n=stops_at: len(seen) >= n
        )
        assert isinstance(stopped.error, engine.Stopped)
        row = progress_row(database)
        assert row is not None
        read = RunSummary.from_json(stopped.termination_message())
        (step,) = [s for s in read.steps or () if s.batches is not None]
        assert step.status == "pending"
        assert step.batches is not None
        assert step.batches["batchesDone"] == row["batches_done"]
        assert step.batches["rowsDone"] == row["rows_done"]
    # 2 batches in the first run, 5 in the second: 7 in all.
    assert row["batches_done"] == 7 and row["rows_done"] == 140
