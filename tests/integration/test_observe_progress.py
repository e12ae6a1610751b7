"""The operator's read of a batched data migration's progress, on real PostgreSQL:
the row in progress before a completed one, nothing without the table, and a
read-only session that creates nothing."""

from __future__ import annotations

import json

import psycopg

from schemaop.engine.history import ensure_history
from schemaop.engine.observe import read_batch_progress, read_progress
from schemaop.engine.readpool import open_read_only


def _insert(conn: psycopg.Connection, version: str, **cols: object) -> None:
    row = {"version": version, "direction": "up", "batch_size": 1000, **cols}
    names = ", ".join(row)
    marks = ", ".join(["%s"] * len(row))
    query = f"INSERT INTO hist.schemaop_batches ({names}) VALUES ({marks})"
    conn.execute(query, list(row.values()))


def test_progress_is_read_from_the_engine_table(database: str) -> None:
    # Nothing there yet: no progress, and the read-only read creates nothing.
    assert read_progress(database, "hist", 5) is None
    with psycopg.connect(database, autocommit=True) as conn:
        assert conn.execute("SELECT to_regnamespace('hist')").fetchone() == (None,)
        ensure_history(conn, "hist")
    assert read_progress(database, "hist", 5) is None  # the table, but no row

    with psycopg.connect(database, autocommit=True) as conn:
        _insert(
            conn,
            "3",
            rows_done=500,
            batches_done=5,
            rows_total_estimate=500,
            completed_at="2026-11-22T11:00:00Z",
            updated_at="2026-11-22T11:00:00Z",
        )
        _insert(
            conn,
            "4",
            plan_hash="ab" * 32,
            position=json.dumps({"id": "2000"}),
            rows_done=2000,
            batches_done=4,
            rows_total_estimate=10_000,
            rows_per_second=400.5,
            throttle_reason="lock wait",
            failed_attempts=1,
            last_error=json.dumps(
                {"sqlstate": "55P03", "message": "lock timeout", "lo": {"id": "2001"}}
            ),
            updated_at="2026-11-22T10:00:00Z",
        )
    conn2 = open_read_only(database, 5, "test")
    try:
        progress = read_batch_progress(conn2, "hist")
    finally:
        conn2.close()
    # The step in progress comes first, even when a completed one moved later.
    assert progress is not None and progress.version == "4" and not progress.completed
    assert (progress.rows_done, progress.batches_done, progress.rows_total_estimate) == (
        2000,
        4,
        10_000,
    )
    assert progress.rows_per_second == 400.5 and progress.throttle_reason == "lock wait"
    assert progress.last_error == {
        "sqlstate": "55P03",
        "message": "lock timeout",
        "lo": {"id": "2001"},
    }
    assert progress.percent == 20 and progress.belongs_to("ab" * 6)
    assert progress.started_at is not None and progress.started_at.tzinfo is not None

    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("UPDATE hist.schemaop_batches SET completed_at = now() WHERE version = '4'")
    done = read_progress(database, "hist", 5)
    assert done is not None and done.version == "4" and done.completed and done.percent == 100
