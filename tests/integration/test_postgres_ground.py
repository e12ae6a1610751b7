"""The throwaway PostgreSQL the integration tests stand on."""

from __future__ import annotations

import psycopg


def test_fresh_database_is_reachable_and_empty(database: str) -> None:
    with psycopg.connect(database) as conn:
        row = conn.execute(
            "select count(*) from information_schema.tables where table_schema = 'public'"
        ).fetchone()
    assert row == (0,)
