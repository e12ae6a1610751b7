"""One runner at a time per database: a session-level advisory lock.

The key is a signed 64-bit integer derived from the history schema name, so
two installations with different history schemas in one database do not block
each other::

    key = int.from_bytes(sha256(b"schemaop-lock:" + schema.encode()).digest()[:8],
                         "big", signed=True)

where ``schema`` is the name as PostgreSQL stores it (cut to 63 bytes; plans
refuse longer names, so in practice it is the name as given).

For the default schema ``schemaop`` that is :data:`DEFAULT_LOCK_KEY`. It is a
*session* lock (``pg_try_advisory_lock``), not a transaction lock: it spans the
many transactions of a run and dies with the connection, so a crashed or killed
runner leaves nothing stale and no lock rows exist anywhere.

Acquisition is a bounded wait: ``pg_try_advisory_lock`` polled with a short
sleep until the deadline (a blocking ``pg_advisory_lock`` could not be bounded
without a statement timeout, and would hide who holds it). When the wait runs
out, :class:`~schemaop.engine.errors.LockBusy` names the holder from
``pg_stat_activity``: application_name, pid, user, and since when it is connected.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import psycopg

from schemaop.engine.errors import LockBusy
from schemaop.model.plan import NAME_MAX_BYTES

Conn = psycopg.Connection[Any]


def lock_key(history_schema: str = "schemaop") -> int:
    """The key for ``history_schema`` as PostgreSQL stores the name (cut to 63 bytes).

    Plans refuse longer names (:class:`~schemaop.model.plan.RunOptions`); cutting
    here as well keeps one schema to one key whatever the caller passes.
    """
    digest = hashlib.sha256(b"schemaop-lock:" + stored_name(history_schema).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def stored_name(name: str) -> str:
    """``name`` as PostgreSQL keeps an identifier: at most 63 bytes, cut between characters."""
    data = name.encode()
    if len(data) <= NAME_MAX_BYTES:
        return name
    return data[:NAME_MAX_BYTES].decode(errors="ignore")


DEFAULT_LOCK_KEY = lock_key("schemaop")


def try_lock(conn: Conn, key: int) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    return bool(row and row[0])


def unlock(conn: Conn, key: int) -> None:
    if not conn.closed:
        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def holder(conn: Conn, key: int) -> dict[str, Any] | None:
    """Who holds the advisory lock ``key`` in this database, from pg_stat_activity."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    row = conn.execute(
        """
        SELECT a.pid, a.application_name, a.usename, a.backend_start, a.state,
               a.client_addr::text
        FROM pg_catalog.pg_locks l
        JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
          AND l.database = (SELECT oid FROM pg_catalog.pg_database
                            WHERE datname = current_database())
          AND l.classid = %s::oid AND l.objid = %s::oid
        LIMIT 1
        """,
        (unsigned >> 32, unsigned & 0xFFFFFFFF),
    ).fetchone()
    if row is None:
        return None
    pid, app, user, since, state, addr = row
    return {
        "pid": pid,
        "applicationName": app,
        "user": user,
        "since": since.isoformat() if since else None,
        "state": state,
        "clientAddr": addr,
    }


def acquire(conn: Conn, key: int, wait_seconds: float, poll: float = 0.1) -> None:
    """Take the session advisory lock, waiting at most ``wait_seconds``; else LockBusy."""
    deadline = time.monotonic() + max(0.0, wait_seconds)
    delay = min(poll, 0.05)
    while True:
        if try_lock(conn, key):
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(delay)
        delay = min(delay * 2, poll * 5)
    who = holder(conn, key)
    if who is None:
        msg = "another schemaop runner holds the migration lock (holder not visible)"
    else:
        msg = (
            "another schemaop runner holds the migration lock: "
            f"application_name={who['applicationName']!r} pid={who['pid']} "
            f"user={who['user']!r} connected since {who['since']}"
        )
    raise LockBusy(
        f"{msg}; waited {wait_seconds:g}s. It is released when that runner finishes "
        "or its connection ends",
        detail=str(who) if who else None,
    )
