"""A down of a batched data migration, on a real PostgreSQL: the history and the
progress table agree afterwards, also when the down runs from the SQL recorded at
apply time (its migration gone), transactional or not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from schemaop import engine, migrations_dir, planner
from schemaop.model import RunOptions

UP = "UPDATE items SET n = n + 1 WHERE id BETWEEN :lo_id AND :hi_id"


def q(dsn: str, text: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(text, params)
        return cur.fetchall() if cur.description else []


def migrate(dsn: str, root: Path, target: str = "latest") -> engine.RunResult:
    migrations = migrations_dir.load(root)
    with engine.connect(dsn) as conn:
        state = engine.read_state(conn, "schemaop")
    plan = planner.plan(migrations, state, target, options=RunOptions())
    result = engine.run_plan(lambda: engine.connect(dsn), plan)
    assert result.error is None, result.error
    return result


@pytest.mark.parametrize("transactional", [True, False])
def test_a_recorded_down_of_a_batched_step_removes_its_progress(
    database: str, tmp_path: Path, transactional: bool
) -> None:
    q(database, "CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)")
    q(database, "INSERT INTO items (id) SELECT g FROM generate_series(1, 300) g")
    root = tmp_path / "m"
    root.mkdir()
    (root / "V1__base.sql").write_text("SELECT 1;")
    (root / "V2__backfill.sql").write_text(
        f"-- schemaop:batched table=items key=id initial=50 min=10 max=100\n{UP};\n"
    )
    notx = "" if transactional else "-- schemaop:transactional false\n"
    (root / "U2__backfill.sql").write_text(f"{notx}UPDATE items SET n = 0;\n")
    migrate(database, root)
    assert q(database, "SELECT min(n), max(n) FROM items") == [(1, 1)]
    progress = "SELECT direction FROM schemaop.schemaop_batches WHERE version = '2'"
    assert q(database, progress) == [("up",)]
    recorded = q(
        database,
        "SELECT down_sql IS NOT NULL FROM schemaop.schema_history WHERE version = '2'",
    )
    assert recorded == [(True,)]

    # The migration is gone (file removed, SchemaMigration deleted): the rollback runs
    # the down recorded at apply time.
    (root / "V2__backfill.sql").unlink()
    (root / "U2__backfill.sql").unlink()
    result = migrate(database, root, "1")
    assert [(s.version, s.source) for s in result.steps] == [("2", "recorded")]
    assert q(database, "SELECT max(n) FROM items") == [(0,)]
    history = q(
        database,
        "SELECT direction, status FROM schemaop.schema_history WHERE version = '2' ORDER BY id",
    )
    assert history == [("up", "applied"), ("down", "applied")]
    assert q(database, progress) == []  # reverted: no progress of it left
