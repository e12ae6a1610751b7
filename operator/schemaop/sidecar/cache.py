"""The sidecar's schema cache: one immutable snapshot, refreshed on NOTIFY and by a poll.

A :class:`~schemaop.sidecar.representation.Snapshot` is the introspected schema at
one moment with its HTTP representations (:mod:`schemaop.sidecar.representation`).
:class:`SchemaCache` keeps the current snapshot fresh:

- a LISTEN connection on ``schemaop_schema_changed`` (the migration runner
  sends it after each change, payload ``{"version", "fingerprint"}``) wakes
  the refresher, so a change is served well within a second (through a
  transaction-pooling connection pooler, where LISTEN cannot work, the
  listener logs so once and the poll alone keeps the snapshot fresh);
- a slow poll (``poll_interval``) catches changes made without a NOTIFY, and
  after every (re)connection of the listener a refresh runs at once;
- when the database cannot be read, the last good snapshot stays in service,
  marked stale, readiness turns false, and the refresher retries every
  ``retry_interval`` seconds.

Reading the database (:mod:`schemaop.engine.schemaread`) is blocking and runs
in a worker thread, one refresh at a time, inside one read-only REPEATABLE READ
transaction so the schema, version and fingerprint agree. Subscribers (the
event stream) get one event per change of version or fingerprint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from schemaop import metrics
from schemaop.engine.schemaread import describe_failure, listen
from schemaop.sidecar.representation import Snapshot

__all__ = ["SchemaCache"]


log = logging.getLogger("schemaop.sidecar")


Loader = Callable[[], Snapshot]


class SchemaCache:
    """Holds the current snapshot and keeps it fresh; see the module docstring."""

    def __init__(
        self,
        loader: Loader,
        listen_conninfo: str | None,
        poll_interval: float = 30.0,
        retry_interval: float = 1.0,
        close: Callable[[], None] | None = None,
    ) -> None:
        self._loader = loader
        self._close = close
        self._listen_conninfo = listen_conninfo
        self.poll_interval = poll_interval
        self.retry_interval = retry_interval
        self.snapshot: Snapshot | None = None
        self.stale = False
        self.listening = False
        self.last_refresh: float | None = None  # time.time() of the last good refresh
        self.last_error: str | None = None
        self._wake = asyncio.Event()
        self._subscribers: set[asyncio.Queue[tuple[str, dict[str, Any]] | None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._first = asyncio.Event()

    # --- life cycle ---------------------------------------------------------------

    async def start(self, wait: float = 5.0) -> None:
        """Start refreshing; wait up to ``wait`` seconds for the first snapshot."""
        self._tasks.append(asyncio.create_task(self._refresh_loop(), name="sidecar-refresh"))
        if self._listen_conninfo is not None:
            self._tasks.append(asyncio.create_task(self._listen_loop(), name="sidecar-listen"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first.wait(), wait)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self.close_streams()
        if self._close is not None:
            await asyncio.to_thread(self._close)

    @property
    def ready(self) -> bool:
        return self.snapshot is not None and not self.stale

    def wake(self) -> None:
        """Ask for a refresh now (a notification arrived, or a test wants one)."""
        self._wake.set()

    # --- subscribers (the event stream) -----------------------------------------------

    def subscribe(self) -> asyncio.Queue[tuple[str, dict[str, Any]] | None]:
        queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue(maxsize=64)
        self._subscribers.add(queue)
        metrics.SIDECAR_EVENT_CLIENTS.set(len(self._subscribers))
        return queue

    def unsubscribe(self, queue: asyncio.Queue[tuple[str, dict[str, Any]] | None]) -> None:
        self._subscribers.discard(queue)
        metrics.SIDECAR_EVENT_CLIENTS.set(len(self._subscribers))

    def close_streams(self) -> None:
        """End every event stream (shutting down)."""
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

    def _publish(self, kind: str, payload: dict[str, Any]) -> None:
        for queue in list(self._subscribers):
            try:
                queue.put_nowait((kind, payload))
            except asyncio.QueueFull:
                # A client that does not read is cut off rather than buffered forever.
                self._subscribers.discard(queue)
                with contextlib.suppress(asyncio.QueueFull):
                    queue.get_nowait()
                    queue.put_nowait(None)

    # --- refreshing ---------------------------------------------------------------------

    async def refresh(self) -> bool:
        """Read the database once; True when the served schema changed."""
        try:
            snapshot = await asyncio.to_thread(self._loader)
        except Exception as exc:
            metrics.SIDECAR_REFRESHES.labels("error").inc()
            self.last_error = describe_failure(exc)
            if not self.stale:
                serving = "the last good schema" if self.snapshot else "nothing yet (503)"
                log.warning("schema refresh failed, serving %s: %s", serving, exc)
            self._set_stale(True)
            return False
        old = self.snapshot
        changed = old is None or old.key != snapshot.key
        if changed:
            self.snapshot = snapshot
            metrics.SIDECAR_TABLES.set(len(snapshot.tables))
        self.last_refresh = time.time()
        self.last_error = None
        self._set_stale(False)
        metrics.SIDECAR_REFRESHES.labels("changed" if changed else "unchanged").inc()
        self._first.set()
        if changed and old is not None:
            log.info("schema changed: version %s -> %s", old.version, snapshot.version)
            self._publish("schema-changed", snapshot.event())
        return changed

    def _set_stale(self, stale: bool) -> None:
        if stale == self.stale:
            return
        self.stale = stale
        metrics.SIDECAR_STALE.set(1 if stale else 0)
        if self.snapshot is not None:
            self._publish("status", {"stale": stale, **self.snapshot.event()})
        if not stale:
            log.info("database reachable again; schema is fresh")

    async def _refresh_loop(self) -> None:
        while True:
            await self.refresh()
            self._wake.clear()
            timeout = self.retry_interval if self.stale else self.poll_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            # Coalesce a burst of notifications into one refresh.
            await asyncio.sleep(0.02)

    async def _listen_loop(self) -> None:
        assert self._listen_conninfo is not None
        await listen(
            self._listen_conninfo,
            self.wake,
            self._set_listening,
            self.retry_interval,
            self.poll_interval,
        )

    def _set_listening(self, listening: bool) -> None:
        self.listening = listening
        self.wake()  # changes may have landed while we were not listening
