"""Archive tables and tombstones of the destructive-change policy, listed as rollback points."""

from __future__ import annotations

import psycopg

from schemaop.engine.archives import list_archives
from schemaop.engine.droprewrite import registry_ddl


def test_no_archive_schema_lists_nothing(database: str) -> None:
    with psycopg.connect(database) as conn:
        assert list_archives(conn) == []


def test_archives_and_tombstones_are_listed(database: str) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(registry_ddl())
        conn.execute('CREATE TABLE schemaop_archive."v3_1__users" (id int)')
        conn.execute(
            "INSERT INTO schemaop_archive.tombstones"
            " (kind, schema_name, table_name, original, version)"
            " VALUES ('table', 'public', 'orders__schemaop_dropped_v4', 'orders', '4')"
        )
        points = list_archives(conn)
    assert [(p["kind"], p["location"], p["version"]) for p in points] == [
        ("Archive", "schemaop_archive.v3_1__users", "3.1"),
        ("Tombstone", "public.orders__schemaop_dropped_v4", "4"),
    ]
    assert points[1]["takenAt"]
