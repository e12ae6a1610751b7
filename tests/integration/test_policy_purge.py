"""``schemaop purge --older-than``: drops old tombstones of the Rename policy, keeps new ones."""

from __future__ import annotations

import json

import psycopg
import pytest

from schemaop.cli import main
from schemaop.engine.droprewrite import apply_policy
from schemaop.lint.policy import Policy, Rewrite
from schemaop.model import Migration, Version


def _apply(dsn: str, version: str, up: str) -> None:
    rewrite = apply_policy(Migration(Version(version), "x", up), Policy.RENAME)
    assert isinstance(rewrite, Rewrite) and rewrite.changed
    with psycopg.connect(dsn) as conn:
        conn.execute(rewrite.up)


@pytest.fixture
def tombstones(database: str) -> str:
    with psycopg.connect(database) as conn:
        conn.execute(
            "CREATE TABLE old_t (id int PRIMARY KEY); CREATE TABLE new_t (id int PRIMARY KEY);"
            "CREATE TABLE users (id int PRIMARY KEY, legacy text, fresh text);"
        )
    _apply(database, "3", "DROP TABLE old_t; ALTER TABLE users DROP COLUMN legacy;")
    _apply(database, "4", "DROP TABLE new_t; ALTER TABLE users DROP COLUMN fresh;")
    with psycopg.connect(database) as conn:
        conn.execute(
            "UPDATE schemaop_archive.tombstones SET dropped_at = now() - interval '40 days'"
            " WHERE version = '3'"
        )
    return database


def _relations(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND relname LIKE '%schemaop_dropped%'"
            " UNION SELECT attname FROM pg_attribute WHERE attrelid = 'users'::regclass"
            " AND NOT attisdropped AND attname LIKE '%schemaop_dropped%'"
        ).fetchall()
    return {r[0] for r in rows}


ALL = {
    "old_t__schemaop_dropped_v3",
    "legacy__schemaop_dropped_v3",
    "new_t__schemaop_dropped_v4",
    "fresh__schemaop_dropped_v4",
}


def test_dry_run_lists_and_keeps(tombstones: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["purge", "--older-than", "30d", "--dry-run", "--database-url", tombstones])
    out = capsys.readouterr().out
    assert code == 0
    assert "would drop table public.old_t__schemaop_dropped_v3" in out
    assert "would drop column public.users.legacy__schemaop_dropped_v3" in out
    assert "2 tombstone(s) would drop" in out
    assert _relations(tombstones) == ALL


def test_purge_drops_only_old_tombstones(
    tombstones: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["purge", "--older-than", "30d", "--database-url", tombstones, "--output", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert sorted(p["original"] for p in report["purged"]) == ["legacy", "old_t"]
    assert _relations(tombstones) == {"new_t__schemaop_dropped_v4", "fresh__schemaop_dropped_v4"}
    with psycopg.connect(tombstones) as conn:
        left = conn.execute("SELECT version FROM schemaop_archive.tombstones").fetchall()
    assert {v for (v,) in left} == {"4"}
    # Nothing left that old: a second run is a no-op.
    assert main(["purge", "--older-than", "30d", "--database-url", tombstones]) == 0
    assert "0 tombstone(s) dropped" in capsys.readouterr().out


def test_purge_without_registry_is_a_no_op(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["purge", "--older-than", "0s", "--database-url", database]) == 0
    assert "0 tombstone(s) dropped" in capsys.readouterr().out


def test_bad_duration_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["purge", "--older-than", "soon"])
    assert exc.value.code == 2
    assert "invalid duration" in capsys.readouterr().err


def test_unreachable_database_is_reported_without_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "postgresql://u:s3cretpw@127.0.0.1:1/db"
    assert main(["purge", "--older-than", "1d", "--database-url", url]) == 1
    err = capsys.readouterr().err
    assert "s3cretpw" not in err and "schemaop purge:" in err


def test_purge_waits_for_no_migration(tombstones: str, capsys: pytest.CaptureFixture[str]) -> None:
    from schemaop.engine.lock import lock_key

    with psycopg.connect(tombstones, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key("schemaop"),))
        code = main(["purge", "--older-than", "30d", "--database-url", tombstones])
    assert code == 1
    assert "holds the runner's lock" in capsys.readouterr().err
    assert len(_relations(tombstones)) == 4
