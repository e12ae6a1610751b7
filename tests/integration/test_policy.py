"""The destructive-change policy on a real PostgreSQL, run by the real engine.

Backup and Rename must keep every row of a dropped column and a dropped table,
and running the rewritten down step must restore the tables' content exactly;
Block must apply nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from schemaop.engine.droprewrite import apply_policy, apply_to_plan
from schemaop.engine.history import read_state
from schemaop.engine.runner import run_plan
from schemaop.lint import lint_set
from schemaop.lint.policy import Policy, Refusal, Rewrite
from schemaop.model import Migration, MigrationSet, Version
from schemaop.model.names import ARCHIVE_SCHEMA
from schemaop.model.plan import Plan
from schemaop.planner import plan as make_plan

SETUP = """
CREATE TABLE users (id int PRIMARY KEY, email text, name text NOT NULL);
INSERT INTO users
SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE 'user' || i || '@example.org' END, 'Zoë ' || i
  FROM generate_series(1, 500) AS i;
CREATE TABLE "Order Lines" (
    id bigserial PRIMARY KEY,
    user_id int NOT NULL,
    amount numeric(10, 2),
    placed_at timestamptz NOT NULL DEFAULT '2026-01-01 00:00:00+00'
);
INSERT INTO "Order Lines" (user_id, amount)
SELECT i % 50 + 1, CASE WHEN i % 11 = 0 THEN NULL ELSE i * 1.25 END
  FROM generate_series(1, 300) AS i;
"""

UP = """
ALTER TABLE users DROP COLUMN email;
DROP TABLE "Order Lines";
"""

DOWN = """
CREATE TABLE "Order Lines" (
    id bigserial PRIMARY KEY,
    user_id int NOT NULL,
    amount numeric(10, 2),
    placed_at timestamptz NOT NULL DEFAULT '2026-01-01 00:00:00+00'
);
ALTER TABLE users ADD COLUMN email text;
"""

USERS = "SELECT id, email, name FROM users ORDER BY id"
LINES = 'SELECT id, user_id, amount, placed_at FROM "Order Lines" ORDER BY id'


def _rows(dsn: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchall()


def _execute(dsn: str, text: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(text)


def _exists(dsn: str, relation: str) -> bool:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (relation,)).fetchone()
    assert row is not None
    return bool(row[0])


def _columns(dsn: str, table: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s)"
            " AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            (table,),
        ).fetchall()
    return [r[0] for r in rows]


def _run(dsn: str, plan: Plan) -> None:
    result = run_plan(lambda: psycopg.connect(dsn), plan)
    assert result.ok, result.to_dict()


def _plan(dsn: str, migrations: MigrationSet, target: str, policy: Policy) -> Plan | Refusal:
    with psycopg.connect(dsn, autocommit=True) as conn:
        state = read_state(conn)
    return apply_to_plan(make_plan(migrations, state, target), migrations, policy)


@pytest.mark.parametrize("policy", [Policy.BACKUP, Policy.RENAME])
@pytest.mark.parametrize("down", [DOWN, None], ids=["own-down", "no-down"])
def test_policy_keeps_every_row_and_down_restores_it(
    database: str, policy: Policy, down: str | None
) -> None:
    _execute(database, SETUP)
    users_before = _rows(database, USERS)
    lines_before = _rows(database, LINES)
    migrations = MigrationSet([Migration(Version("3"), "tidy", UP, down)])

    up_plan = _plan(database, migrations, "latest", policy)
    assert isinstance(up_plan, Plan)
    (step,) = up_plan.steps
    assert {a["object"] for a in step.archives} == {"table", "column"}
    _run(database, up_plan)

    # Dropped for the application...
    assert "email" not in _columns(database, "users")
    assert not _exists(database, '"Order Lines"')
    # ...but every row is kept.
    if policy is Policy.BACKUP:
        kept_emails = _rows(
            database, f"SELECT id, email FROM {ARCHIVE_SCHEMA}.v3__users__email ORDER BY id"
        )
        kept_lines = _rows(
            database,
            "SELECT id, user_id, amount, placed_at FROM"
            f' {ARCHIVE_SCHEMA}."v3__Order Lines" ORDER BY id',
        )
    else:
        kept_emails = _rows(
            database, "SELECT id, email__schemaop_dropped_v3 FROM users ORDER BY id"
        )
        kept_lines = _rows(
            database,
            'SELECT id, user_id, amount, placed_at FROM "Order Lines__schemaop_dropped_v3"'
            " ORDER BY id",
        )
        registry = _rows(
            database,
            f"SELECT kind, table_name, column_name, original, version"
            f" FROM {ARCHIVE_SCHEMA}.tombstones ORDER BY kind",
        )
        assert registry == [
            ("column", "users", "email__schemaop_dropped_v3", "email", "3"),
            ("table", "Order Lines__schemaop_dropped_v3", None, "Order Lines", "3"),
        ]
    assert kept_emails == [(i, e) for i, e, _ in users_before]
    assert kept_lines == lines_before

    # Rolling back restores the content exactly.
    if down is not None:
        down_plan = _plan(database, migrations, "0", policy)
        assert isinstance(down_plan, Plan)
        _run(database, down_plan)
    else:
        # The planner refuses to go down without a down SQL (DownMigrationMissing);
        # the rewrite still has one that rebuilds from what the policy kept.
        rewrite = apply_policy(migrations[0], policy)
        assert isinstance(rewrite, Rewrite) and rewrite.down is not None
        _execute(database, rewrite.down)
    assert _rows(database, USERS) == users_before
    assert _rows(database, LINES) == lines_before
    # The archive is consumed / the tombstone registry is clean.
    if policy is Policy.BACKUP:
        assert not _exists(database, f"{ARCHIVE_SCHEMA}.v3__users__email")
    else:
        assert _rows(database, f"SELECT count(*) FROM {ARCHIVE_SCHEMA}.tombstones") == [(0,)]
    # The sequence continues after the restored ids.
    if down is not None or policy is Policy.RENAME:
        _execute(database, 'INSERT INTO "Order Lines" (user_id) VALUES (1)')
        assert _rows(database, 'SELECT max(id) FROM "Order Lines"') == [(301,)]


def test_block_applies_nothing(database: str) -> None:
    _execute(database, SETUP)
    users_before = _rows(database, USERS)
    migrations = MigrationSet([Migration(Version("3"), "tidy", UP, DOWN)])
    refusal = _plan(database, migrations, "latest", Policy.BLOCK)
    assert isinstance(refusal, Refusal)
    assert refusal.reason == "DestructiveChange"
    assert sorted(f.code for f in refusal.findings) == ["SO101", "SO102"]
    assert "schemaop:allow" in refusal.message
    # Nothing ran: the data is there and no history was written.
    assert _rows(database, USERS) == users_before
    assert _exists(database, '"Order Lines"')
    assert not _exists(database, "schemaop.schema_history")


def test_block_lets_an_explicitly_allowed_drop_run(database: str) -> None:
    _execute(database, SETUP)
    up = "-- schemaop:allow SO101,SO102 replaced by the billing service\n\n" + UP
    migrations = MigrationSet([Migration(Version("3"), "tidy", up, DOWN)])
    plan = _plan(database, migrations, "latest", Policy.BLOCK)
    assert isinstance(plan, Plan)
    _run(database, plan)
    assert not _exists(database, '"Order Lines"')
    assert not _exists(database, f'{ARCHIVE_SCHEMA}."v3__Order Lines"')


def test_backup_refuses_a_column_of_a_table_without_primary_key(database: str) -> None:
    _execute(
        database, "CREATE TABLE logs (line text, level text); INSERT INTO logs VALUES ('a', 'x')"
    )
    m = Migration(Version("4"), "x", "ALTER TABLE logs DROP COLUMN level;")
    rewrite = apply_policy(m, Policy.BACKUP)
    assert isinstance(rewrite, Rewrite)
    with pytest.raises(psycopg.errors.RaiseException, match="no primary key"):
        _execute(database, rewrite.up)
    assert _columns(database, "logs") == ["line", "level"]


@pytest.mark.parametrize("policy", [Policy.BACKUP, Policy.RENAME])
def test_drop_if_exists_of_a_missing_table_still_works(database: str, policy: Policy) -> None:
    m = Migration(
        Version("5"),
        "x",
        "DROP TABLE IF EXISTS ghost; ALTER TABLE IF EXISTS ghost DROP COLUMN IF EXISTS c;",
        "SELECT 1;",
    )
    rewrite = apply_policy(m, policy)
    assert isinstance(rewrite, Rewrite) and rewrite.changed
    _execute(database, rewrite.up)
    assert rewrite.down is not None
    _execute(database, rewrite.down)


def test_rewrite_of_tables_created_in_the_set_is_a_no_op(database: str) -> None:
    ms = [
        Migration(Version("1"), "a", "CREATE TABLE t (id int PRIMARY KEY, x text);"),
        Migration(Version("2"), "b", "ALTER TABLE t DROP COLUMN x;"),
    ]
    results = lint_set(ms)
    outcome = apply_policy(ms[1], Policy.RENAME, results[1])
    assert isinstance(outcome, Rewrite) and not outcome.changed
    assert outcome.up == ms[1].up


RunSQL = Callable[[str], None]


def test_rename_moves_index_and_sequence_names_aside(database: str) -> None:
    """DROP + CREATE of the same table in one rollout: the tombstone must not keep
    ``items_pkey`` and ``items_id_seq``, or the new table cannot be created."""
    _execute(
        database,
        "CREATE TABLE items (id serial PRIMARY KEY, sku text UNIQUE);"
        "CREATE INDEX items_sku_lower ON items (lower(sku));"
        "INSERT INTO items (sku) SELECT 'sku-' || i FROM generate_series(1, 20) i;",
    )
    indexes = (
        "SELECT relname FROM pg_class WHERE relkind IN ('i', 'S') AND relname LIKE 'items%'"
        " ORDER BY relname"
    )
    before = _rows(database, indexes)
    rows_before = _rows(database, "SELECT id, sku FROM items ORDER BY id")
    m = Migration(
        Version("7"),
        "rebuild items",
        "DROP TABLE items;\n"
        "CREATE TABLE items (id serial PRIMARY KEY, sku text UNIQUE, note text);",
        "DROP TABLE items;\n"
        "CREATE TABLE items (id serial PRIMARY KEY, sku text UNIQUE);\n"
        "CREATE INDEX items_sku_lower ON items (lower(sku));",
    )
    rewrite = apply_policy(m, Policy.RENAME)
    assert isinstance(rewrite, Rewrite) and rewrite.down is not None
    _execute(database, rewrite.up)
    assert _columns(database, "items") == ["id", "sku", "note"]
    assert _rows(database, 'SELECT count(*) FROM "items__schemaop_dropped_v7"') == [(20,)]
    # The down drops the new table, then renames the tombstone and its indexes back.
    _execute(database, rewrite.down)
    assert _rows(database, indexes) == before
    assert _rows(database, "SELECT id, sku FROM items ORDER BY id") == rows_before
    _execute(database, "INSERT INTO items (sku) VALUES ('new')")
    assert _rows(database, "SELECT max(id) FROM items") == [(21,)]
