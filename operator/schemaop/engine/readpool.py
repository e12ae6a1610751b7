"""The operator's kept read-only connections, a few per database.

Every SchemaVersion names its own database, so the operator reads many
databases, each every few seconds to minutes. :class:`ReadPool` keeps, per
database (keyed by a hash of its connection string, never the string itself),
at most ``per_database`` idle connections, so a reconciliation does not pay for
a new connection (TCP, TLS, authentication) each time:

- a connection is opened by :func:`schemaop.engine.connect.connect` (the
  classified, redacted errors the conditions show) with the session read-only
  (``default_transaction_read_only``) and a ``statement_timeout``; every read
  also runs in one read-only transaction with its own ``statement_timeout``
  (:func:`read_only_transaction`), which is all it has through a connection
  pooler, whose server connections the session settings must not touch;
- taken from the pool, it is checked with one round trip that also proves the
  session is still read-only; a connection that fails it (a killed backend, a
  restarted server) is discarded and a new one opened; one whose read failed,
  or that is not idle, is closed rather than given back;
- bounded: ``per_database`` idle connections per database, ``max_databases``
  databases (least recently used closed first); an idle connection unused for
  ``idle_timeout`` seconds is closed at the next use of the pool, and one
  opened more than ``max_lifetime`` seconds ago when it is given back (so
  revoked credentials or a changed pg_hba.conf are seen within that time);
- when a SchemaVersion's connection string changes (a new Secret), the
  connections of the old one are closed once no SchemaVersion uses it;
- a kept connection stays logged in after its password changed: before the
  operator creates a Job it connects anew (:meth:`ReadPool.check_new`), so
  rotated or revoked credentials stop it before a Job runs;
- :meth:`ReadPool.close` (the operator's cleanup) closes everything.

Why not psycopg-pool: its ``getconn`` turns a failed connection attempt into a
``PoolTimeout`` after the timeout, losing the reason (authentication failed,
unknown host...) the SchemaVersion's condition must name, and each pool runs
its own worker threads, one set per database. Idle connections opened on demand
with a health check need neither.

Thread-safe: reads run in worker threads, one connection per read.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import psycopg

from schemaop.engine.connect import connect
from schemaop.engine.pooling import require_session, server_pid

Conn = psycopg.Connection[Any]

APPLICATION_NAME = "schemaop-operator"


# Connections through a connection pooler (engine/pooling.py): no session SETs there.
_POOLED: weakref.WeakSet[Conn] = weakref.WeakSet()


def open_read_only(conninfo: str, timeout: int, source: str) -> Conn:
    """A new connection whose session is read-only, with a statement timeout.

    Through a connection pooler (its cancel key is not the server's: see
    :mod:`schemaop.engine.pooling`) the session is left as it is: in transaction
    pooling a session ``SET`` stays on a server connection that the application's
    clients get next (they would find their sessions read-only). The reads set
    both for their own transaction instead (:func:`read_only_transaction`), which
    holds on any connection.
    """
    conn = connect(
        conninfo, application_name=APPLICATION_NAME, connect_timeout=timeout, source=source
    )
    try:
        if conn.info.backend_pid != server_pid(conn):
            _POOLED.add(conn)
        else:
            conn.execute("SET default_transaction_read_only = on")
            conn.execute("SET statement_timeout = '30s'")
    except BaseException:
        conn.close()
        raise
    return conn


@contextlib.contextmanager
def read_only_transaction(conn: Conn) -> Iterator[Conn]:
    """One read-only transaction with a 30 s statement timeout, on any connection
    (direct or through a transaction pooler, where session settings do not hold)."""
    with conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        conn.execute("SET LOCAL statement_timeout = '30s'")
        yield conn


def _healthy(conn: Conn) -> bool:
    """One round trip: the server answers and (direct) the session is still read-only."""
    if conn.closed or conn.broken:
        return False
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        return False
    try:
        row = conn.execute("SELECT pg_catalog.current_setting('default_transaction_read_only')")
        return conn in _POOLED or row.fetchone() == ("on",)
    except psycopg.Error:
        return False


def _key(conninfo: str) -> str:
    return hashlib.sha256(conninfo.encode()).hexdigest()


class ReadPool:
    """Idle read-only connections by database; see the module docstring."""

    def __init__(
        self,
        *,
        per_database: int = 2,
        max_databases: int = 32,
        idle_timeout: float = 300.0,
        max_lifetime: float = 900.0,
        opener: Callable[[str, int, str], Conn] = open_read_only,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_database = per_database
        self.max_databases = max_databases
        self.idle_timeout = idle_timeout
        self.max_lifetime = max_lifetime
        self._open = opener
        self._clock = clock
        self._lock = threading.Lock()
        # key -> idle connections (connection, given back at, opened at), most recent
        # last; the dict itself in least-recently-used order.
        self._idle: collections.OrderedDict[str, list[tuple[Conn, float, float]]] = (
            collections.OrderedDict()
        )
        # who (a SchemaVersion) reads which database: a key nobody uses is closed.
        self._owners: dict[Hashable, str] = {}
        self._closed = False

    @contextlib.contextmanager
    def connection(
        self, conninfo: str, *, timeout: int, source: str, owner: Hashable = None
    ) -> Iterator[Conn]:
        """A healthy read-only connection to ``conninfo``, given back after the block.

        A connection whose block raised is closed, not given back.
        """
        key = _key(conninfo)
        stale = self._take_turn(key, owner)
        _close_all(stale)
        conn = None
        while conn is None:
            candidate = self._pop_idle(key)
            if candidate is None:
                conn, born = self._open(conninfo, timeout, source), self._clock()
            elif _healthy(candidate[0]):
                conn, born = candidate
            else:
                candidate[0].close()
        ok = False
        try:
            yield conn
            ok = True
        finally:
            self._give_back(key, conn, ok, born)

    def check_new(self, conninfo: str, *, timeout: int, source: str) -> None:
        """Connect anew (raising the classified error as a read would) and keep this
        connection in place of the idle ones.

        A kept connection stays logged in after its password changed; the
        operator calls this before it creates a Job, so that rotated or revoked
        credentials stop it as they did when every read connected anew.
        """
        conn = self._open(conninfo, timeout, source)
        try:
            # The Job connects the same way: through a transaction pooler its lock
            # would not hold, so refuse before a Job exists (ConnectionPooled).
            require_session(conn, "a migration's advisory lock and session settings")
        except BaseException:
            conn.close()
            raise
        key = _key(conninfo)
        with self._lock:
            stale = [c for c, _, _ in self._idle.pop(key, [])]
        _close_all(stale)
        self._give_back(key, conn, True, self._clock())

    def release(self, owner: Hashable) -> None:
        """``owner`` reads no database any more: close what nobody else reads."""
        with self._lock:
            key = self._owners.pop(owner, None)
            stale = self._drop_unowned(key)
        _close_all(stale)

    def close(self) -> None:
        """Close every connection; the pool opens no more (the operator's cleanup)."""
        with self._lock:
            self._closed = True
            stale = [c for idle in self._idle.values() for c, _, _ in idle]
            self._idle.clear()
            self._owners.clear()
        _close_all(stale)

    def stats(self) -> dict[str, int]:
        """Databases with idle connections, and idle connections in all."""
        with self._lock:
            return {
                "databases": len(self._idle),
                "idle": sum(len(v) for v in self._idle.values()),
            }

    # --- under the lock -----------------------------------------------------------

    def _take_turn(self, key: str, owner: Hashable) -> list[Conn]:
        """Note who reads ``key``; return the connections to close (expired, unowned)."""
        with self._lock:
            stale: list[Conn] = []
            if owner is not None:
                previous = self._owners.get(owner)
                self._owners[owner] = key
                if previous is not None and previous != key:
                    stale += self._drop_unowned(previous)
            now = self._clock()
            for k in list(self._idle):
                keep = [e for e in self._idle[k] if now - e[1] < self.idle_timeout]
                stale += [e[0] for e in self._idle[k] if now - e[1] >= self.idle_timeout]
                if keep:
                    self._idle[k] = keep
                else:
                    del self._idle[k]
            return stale

    def _drop_unowned(self, key: str | None) -> list[Conn]:
        if key is None or key in self._owners.values():
            return []
        return [c for c, _, _ in self._idle.pop(key, [])]

    def _pop_idle(self, key: str) -> tuple[Conn, float] | None:
        """An idle connection of ``key`` and when it was opened, the most recent first."""
        with self._lock:
            idle = self._idle.get(key)
            if not idle:
                return None
            conn, _, born = idle.pop()
            if not idle:
                del self._idle[key]
            return conn, born

    def _give_back(self, key: str, conn: Conn, ok: bool, born: float) -> None:
        stale: list[Conn] = []
        with self._lock:
            now = self._clock()
            idle_ok = (
                ok
                and now - born < self.max_lifetime
                and not self._closed
                and not conn.closed
                and not conn.broken
                and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            )
            if not idle_ok:
                stale.append(conn)
            else:
                idle = self._idle.setdefault(key, [])
                idle.append((conn, now, born))
                self._idle.move_to_end(key)
                while len(idle) > self.per_database:
                    stale.append(idle.pop(0)[0])
                while len(self._idle) > self.max_databases:
                    _, oldest = self._idle.popitem(last=False)
                    stale += [c for c, _, _ in oldest]
        _close_all(stale)


def _close_all(conns: list[Conn]) -> None:
    for conn in conns:
        with contextlib.suppress(Exception):
            conn.close()
