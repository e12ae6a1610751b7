"""The sidecar's schema cache: one immutable snapshot, refreshed on NOTIFY and by a poll.

A :class:`Snapshot` is the introspected schema at one moment with everything a
request needs precomputed or memoized (the JSON body, its gzip form, one body
per table, the ETag), so a cached GET is a dictionary lookup and a write.

:class:`SchemaCache` keeps the current snapshot fresh:

- a LISTEN connection on ``schemaop_schema_changed`` (the migration runner
  sends it after each change, payload ``{"version", "fingerprint"}``) wakes
  the refresher, so a change is served well within a second;
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
import datetime as dt
import gzip
import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from schemaop import metrics
from schemaop.engine.schemaread import describe_failure, listen
from schemaop.sidecar.jsonschema_map import table_json_schema

__all__ = [
    "SchemaCache",
    "Snapshot",
]


log = logging.getLogger("schemaop.sidecar")


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class Snapshot:
    """The schema at one moment, with memoized encodings. Never mutated after build."""

    def __init__(
        self,
        schemas: list[dict[str, Any]],
        version: str | None,
        fingerprint: str,
        dirty: bool = False,
        generated_at: str | None = None,
    ) -> None:
        self.schemas = schemas
        self.version = version
        self.fingerprint = fingerprint
        self.dirty = dirty
        self.generated_at = generated_at or dt.datetime.now(dt.UTC).isoformat(
            timespec="milliseconds"
        ).replace("+00:00", "Z")
        tag = hashlib.sha256(f"{fingerprint}\0{version}\0{dirty}".encode()).hexdigest()
        self.etag = f'"{fingerprint[:24]}-{tag[:12]}"'
        self.tables: dict[tuple[str, str], dict[str, Any]] = {
            (t["schema"], t["name"]): t for s in schemas for t in s["tables"]
        }
        self._memo: dict[tuple[Any, ...], bytes] = {}

    @property
    def key(self) -> tuple[str | None, str, bool]:
        """What identifies a change: version, fingerprint, dirtiness."""
        return (self.version, self.fingerprint, self.dirty)

    def meta(self, stale: bool) -> dict[str, Any]:
        return {
            "version": self.version,
            "fingerprint": self.fingerprint,
            "generatedAt": self.generated_at,
            "dirty": self.dirty,
            "stale": stale,
        }

    def document(self, stale: bool) -> bytes:
        """The body of ``GET /api/v1/schema``."""
        key = ("schema", stale)
        if key not in self._memo:
            self._memo[key] = _dumps({**self.meta(stale), "schemas": self.schemas})
        return self._memo[key]

    def document_gzip(self, stale: bool) -> bytes:
        key = ("schema.gz", stale)
        if key not in self._memo:
            self._memo[key] = gzip.compress(self.document(stale), compresslevel=6, mtime=0)
        return self._memo[key]

    def version_body(self, stale: bool) -> bytes:
        key = ("version", stale)
        if key not in self._memo:
            self._memo[key] = _dumps(self.meta(stale))
        return self._memo[key]

    def table_body(self, schema: str, name: str, stale: bool) -> bytes | None:
        table = self.tables.get((schema, name))
        if table is None:
            return None
        key = ("table", schema, name, stale)
        if key not in self._memo:
            self._memo[key] = _dumps({**self.meta(stale), "table": table})
        return self._memo[key]

    def jsonschema_body(self, schema: str, name: str) -> bytes | None:
        table = self.tables.get((schema, name))
        if table is None:
            return None
        key = ("jsonschema", schema, name)
        if key not in self._memo:
            self._memo[key] = _dumps(table_json_schema(table))
        return self._memo[key]

    def event(self) -> dict[str, Any]:
        """The payload of a ``schema-changed`` event."""
        return {
            "version": self.version,
            "fingerprint": self.fingerprint,
            "generatedAt": self.generated_at,
            "etag": self.etag,
        }


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
        await listen(self._listen_conninfo, self.wake, self._set_listening, self.retry_interval)

    def _set_listening(self, listening: bool) -> None:
        self.listening = listening
        self.wake()  # changes may have landed while we were not listening
