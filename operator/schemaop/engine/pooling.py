"""Does this connection keep its session? Connection poolers in front of PostgreSQL.

Many databases are reached through PgBouncer (or another pooler). In *session*
pooling a client keeps one server connection until it disconnects, so everything
session-level works as on a direct connection. In *transaction* (or statement)
pooling each transaction may run on another server connection, shared with other
clients: a session advisory lock, a session ``SET``, ``LISTEN``, a prepared
statement or a temporary table stays on a server connection the client no
longer has, and another client gets it. The runner's advisory lock would then
be held by a pooled server connection that never disconnects: a stale lock for
every later run, and the lock no longer keeps two runners apart.

:func:`session_kind` tells the cases apart before anything session-level is done:

1. A direct connection (or a pooler that passes the server's cancel key
   through) gets the server process id in its BackendKeyData, so
   ``conn.info.backend_pid == pg_backend_pid()``: ``DIRECT``. A pooler in
   transaction mode cannot do that (the client's server connection changes, so a
   cancel must go through the pooler): it hands out a key of its own. Different
   ids therefore mean "a pooler is in between", of a mode still to find out.
2. Then the behaviour is tested. The connection's own transaction has ended, so
   a transaction pooler has put its server connection back in the pool; a second
   connection (same parameters) opens a transaction and reads its server's
   process id. PgBouncer hands out the most recently released server first, so
   in transaction mode the second connection gets the first one's server: same
   id, ``TRANSACTION``. Otherwise the first connection asks again: in
   transaction mode it may now be on another server (``TRANSACTION``); a session
   pooler keeps it on its own (``SESSION``, after up to three such probes, each
   holding its transaction open so the next takes another idle server).
   Neither can happen on a pinned session, so ``TRANSACTION`` is never a guess.
3. When the second connection gets no server within ``timeout`` (a session pool
   that is full) or cannot connect, the answer is ``UNKNOWN``.

The runner refuses ``TRANSACTION`` and ``UNKNOWN`` (:class:`~schemaop.engine.errors.
ConnectionPooled`); the sidecar falls back to polling instead of LISTEN.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

Conn = psycopg.Connection[Any]

_PID = "SELECT pg_catalog.pg_backend_pid()"
_PROBES = 3


class SessionKind(enum.StrEnum):
    """What a connection's session is (see the module docstring)."""

    DIRECT = "direct"
    SESSION = "session-pooled"
    TRANSACTION = "transaction-pooled"
    UNKNOWN = "pooled, mode unknown"

    @property
    def keeps_session(self) -> bool:
        return self in (SessionKind.DIRECT, SessionKind.SESSION)


def server_pid(conn: Conn) -> int:
    row = conn.execute(_PID).fetchone()
    return int(row[0]) if row else 0


def session_kind(conn: Conn, *, timeout: float = 5.0) -> SessionKind:
    """Whether ``conn`` (autocommit, idle) keeps its server session; see the module
    docstring. Opens up to three more connections with ``conn``'s parameters only
    when a pooler is in between."""
    pid = server_pid(conn)
    if conn.info.backend_pid == pid:
        return SessionKind.DIRECT
    conninfo = same_conninfo(conn)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        # In a thread of its own: the caller may itself run in an event loop.
        return pool.submit(asyncio.run, _probe(conn, conninfo, pid, timeout)).result()


def same_conninfo(conn: Conn) -> str:
    """A connection string with every parameter ``conn`` was opened with (password too)."""
    params = {
        opt.keyword.decode(): opt.val.decode()
        for opt in conn.pgconn.info
        if opt.val is not None and opt.keyword.decode() not in ("replication",)
    }
    return make_conninfo("", **params)


async def _probe(conn: Conn, conninfo: str, pid: int, timeout: float) -> SessionKind:
    others: list[psycopg.AsyncConnection[Any]] = []
    try:
        for _ in range(_PROBES):
            try:
                other = await asyncio.wait_for(psycopg.AsyncConnection.connect(conninfo), timeout)
                others.append(other)
                # Not autocommit: the transaction this opens stays open, holding its server.
                cur = await asyncio.wait_for(other.execute(_PID), timeout)
                row = await cur.fetchone()
            except (TimeoutError, psycopg.Error, OSError):
                return SessionKind.UNKNOWN
            if row is not None and int(row[0]) == pid:
                return SessionKind.TRANSACTION
            # Never waits: in transaction mode our server is idle in the pool (the
            # other connection took another one), in session mode it is ours.
            if server_pid(conn) != pid:
                return SessionKind.TRANSACTION
        return SessionKind.SESSION
    finally:
        for other in others:
            with contextlib.suppress(Exception):
                await other.close()


def require_session(conn: Conn, needs: str, *, timeout: float = 5.0) -> SessionKind:
    """:func:`session_kind`, raising :class:`~schemaop.engine.errors.ConnectionPooled`
    when the session is not kept; ``needs`` says for what (the message's subject)."""
    from schemaop.engine.errors import ConnectionPooled

    kind = session_kind(conn, timeout=timeout)
    if kind is SessionKind.TRANSACTION:
        raise ConnectionPooled(
            f"the database is reached through a transaction-pooling connection pooler "
            f"(PgBouncer pool_mode=transaction or similar), where {needs} would not hold "
            "across transactions; give migrations a direct URL to PostgreSQL (or a "
            "session-mode pool): nothing was run"
        )
    if kind is SessionKind.UNKNOWN:
        raise ConnectionPooled(
            f"the database is reached through a connection pooler whose mode could not be "
            f"verified (a second connection got no server within {timeout:g}s), and {needs} "
            "would not hold without a session of its own; give migrations a direct URL to "
            "PostgreSQL (or a session-mode pool with room for one more connection): nothing "
            "was run"
        )
    return kind
