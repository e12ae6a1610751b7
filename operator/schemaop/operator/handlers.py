"""kopf handlers: thin. They unpack events and wake the per-SchemaVersion loop.

Each SchemaVersion gets one kopf daemon: a loop that reconciles, then sleeps
until it is triggered or its requeue delay passes. Everything that can change
the outcome triggers it: the SchemaVersion itself (spec or annotations), any of
its SchemaMigrations, its Jobs, and its connection Secret (watched unless the
operator runs with ``--secret-selector``: then it may not list or watch Secrets,
and reads each by name at every reconciliation). A burst of events
coalesces into one reconciliation (the trigger is an ``asyncio.Event``), and an
error backs off exponentially, so nothing hot-loops. With kopf peering, only
the active replica runs daemons.

The SchemaMigrations come from a kopf index fed by the watch (an informer
cache: :func:`migrations_by_schemaversion`), not from a list per
reconciliation: a list returns every SchemaMigration of the namespace, so with
1,000 SchemaVersions each reconciliation would fetch and parse 3,000 objects.
kopf starts no handler or daemon before every index holds its initial listing,
so a reconciliation never sees a partial set. Only changes that can change a
plan (a SchemaMigration created, deleted or being deleted) trigger a
reconciliation, not the operator's own writes of their status.

The event handlers are coroutines: they run on the event loop, where the
triggers live (an ``asyncio.Event`` is not thread-safe, and kopf runs a plain
function in a worker thread), and an event costs no thread hop.

With many SchemaVersions (docs/benchmarks.md, 1,000 databases):

- At most :data:`RECONCILE_SLOTS` reconciliations are in flight at once (as
  many as the worker threads that do their I/O); the others wait before they
  read anything, so a burst (1,000 SchemaVersions created, or an operator
  restart) holds 32 reconciliations' objects in memory, not 1,000.
- A reconciliation woken by its timer (a drift check, a resync) first takes one
  of :data:`TIMER_SLOTS`, so those woken by a change (a new migration, a Job
  that finished) never queue behind hundreds of drift checks; a change that
  arrives while a timer reconciliation waits for its slot lets it go at once.
- A reconciliation woken because its own Job finished (Complete or Failed) goes
  ahead of every other waiting for one of the :data:`RECONCILE_SLOTS`
  (:data:`JOB_FINISHED`, before :data:`OTHERS`): a SchemaVersion whose Job
  completed is Ready in seconds, not after every SchemaVersion of a burst has
  been reconciled once (first come, first served, it waited 18 minutes at
  1,000). One already waiting for a slot (woken by something else a moment
  before) moves up to :data:`JOB_FINISHED` when its Job finishes
  (:meth:`PrioritySlots.promote`).
- kopf keeps each SchemaVersion's last object (the daemon's ``body``) and the
  indices keep copies of SchemaMigrations and Jobs: none with ``managedFields``
  or kubectl's last-applied copy (:func:`kept_object`, :func:`_drop_unread`).
- A reconciliation reads the SchemaVersion and its Jobs from kopf's caches (the
  daemon's ``body``, kept current by the watch, and :func:`jobs_by_schemaversion`)
  when they are current (:class:`~schemaop.operator.reconcile.Cached`), and its
  connection Secret from the Secret watch (only the Secrets SchemaVersions name
  are kept): an idle drift check makes no API request (one, the Secret's read,
  with ``--secret-selector``).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import heapq
import itertools
import logging
import time
from collections.abc import AsyncIterator, Hashable
from typing import Any

import kopf

from schemaop import metrics
from schemaop.decide import backoff
from schemaop.kube.api import KubeApi
from schemaop.kube.builders import LABEL_SCHEMAVERSION, job_finished
from schemaop.model.names import GROUP, VERSION
from schemaop.operator.reconcile import LAST_APPLIED, Cached, Reconciler

log = logging.getLogger(__name__)
# Coalesce bursts of events (a Helm release applies many objects at once).
DEBOUNCE_SECONDS = 0.2
SERVED = frozenset({"schemaversions", "schemamigrations"})
# Reconciliations in flight at once: as many as the worker threads that run their
# API requests and database reads (commands/operator.py IO_THREADS; more would
# only wait for a thread, holding their objects meanwhile).
RECONCILE_SLOTS = 32
# Of those, woken by their timer (drift checks, resyncs) at once, at most.
TIMER_SLOTS = 4
# Who gets a reconcile slot first (lower first; first come, first served within):
# a reconciliation woken by its own Job's end, then every other.
JOB_FINISHED = 0
OTHERS = 1


async def await_discovery(kube: KubeApi, timeout: float = 60.0, interval: float = 0.5) -> bool:
    """Wait (at most ``timeout`` seconds) until the API server's discovery lists the
    SchemaVersion and SchemaMigration resources; whether it does.

    kopf looks the resources up once, when it starts, and looks again only when a
    CRD changes. An operator that starts while the API server is starting (its
    custom resources' paths are installed last) finds none and would never serve
    them: run from the startup handler, before kopf's look. After ``timeout`` (the
    CRDs are not installed, say) kopf starts anyway and waits for the CRDs to be
    created, as it does without this."""
    deadline = time.monotonic() + timeout
    waited = False
    while True:
        missing = SERVED - await kube.served_resources(GROUP, VERSION)
        if not missing:
            if waited:
                log.info("the API server serves %s now", ", ".join(sorted(SERVED)))
            return True
        if time.monotonic() >= deadline:
            log.warning(
                "the API server does not serve %s.%s; are the CRDs installed?",
                ", ".join(sorted(missing)),
                GROUP,
            )
            return False
        if not waited:
            log.info("waiting for the API server to serve %s.%s", ", ".join(sorted(missing)), GROUP)
            waited = True
        await asyncio.sleep(interval)


def _triggers(memo: Any) -> dict[tuple[str, str], asyncio.Event]:
    triggers: dict[tuple[str, str], asyncio.Event] = memo.triggers
    return triggers


def trigger(memo: Any, namespace: str | None, name: str | None) -> None:
    if namespace and name:
        event = _triggers(memo).get((namespace, name))
        if event is not None:
            event.set()


def _selected(labels: Any, memo: Any, **_: Any) -> bool:
    """Label-selector sharding: only SchemaVersions whose labels match are ours."""
    selector: dict[str, str] = dict(memo.config.label_selector)
    return all(labels.get(k) == v for k, v in selector.items())


def _drop_unread(raw: Any) -> None:
    """Drop from a watch event's object, in place, what the operator never reads
    (``managedFields``, :data:`~schemaop.operator.reconcile.LAST_APPLIED`)."""
    meta = raw.get("metadata") if isinstance(raw, dict) else None
    if not isinstance(meta, dict):
        return
    meta.pop("managedFields", None)
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)


def kept_object(body: Any) -> dict[str, Any]:
    """A copy of an object for an index, without what the operator never reads:
    ``managedFields`` (half an object's size) and kubectl's copy of the whole
    object (:data:`~schemaop.operator.reconcile.LAST_APPLIED`)."""
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k != "managedFields"}
    annotations = meta.get("annotations")
    if annotations and LAST_APPLIED in annotations:
        meta["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    obj = {k: v for k, v in body.items() if k != "metadata"}
    obj["metadata"] = meta
    return copy.deepcopy(obj)


class SlimDiffBase(kopf.AnnotationsDiffBaseStorage):
    """kopf's diff base of an object, without copying what it throws away.

    kopf builds an object's "essence" (its spec and such, with its labels and
    annotations, without its status and other metadata) for every watch event
    of every resource it watches, also with no change-detecting handler, as
    here: it deep-copies the whole object, then drops ``metadata`` and
    ``status``, tens of microseconds an event (docs/benchmarks.md, "1,000
    databases on a quiet machine"). This builds the same essence from the
    object without ``status`` and with only the metadata kept, so only what
    stays is copied; with extra fields asked for (no handler here does) it is
    kopf's own build.
    """

    def build(
        self,
        *,
        body: kopf.Body,
        extra_fields: Any = None,
    ) -> kopf.BodyEssence:
        fields = list(extra_fields or ())
        if fields:
            return super().build(body=body, extra_fields=fields)
        meta = body.get("metadata") or {}
        slim: dict[str, Any] = {k: v for k, v in body.items() if k not in ("metadata", "status")}
        slim["metadata"] = {k: meta[k] for k in ("labels", "annotations") if k in meta}
        essence = kopf.DiffBaseStorage.build(self, body=slim, extra_fields=())  # type: ignore[arg-type]
        self.remove_annotations(essence, set(self.make_keys(self.key, body=body)))
        self.remove_empty_stanzas(essence)
        return essence


@kopf.index(GROUP, VERSION, "schemamigrations")
def migrations_by_schemaversion(
    namespace: str | None, body: Any, spec: Any, **_: Any
) -> dict[tuple[str, str], dict[str, Any]] | None:
    """Each SchemaMigration, by (namespace, the SchemaVersion it names)."""
    ref = (spec.get("schemaVersionRef") or {}).get("name")
    if namespace is None or not ref:
        return None
    return {(namespace, str(ref)): kept_object(body)}


@kopf.index("batch", "v1", "jobs", labels={LABEL_SCHEMAVERSION: kopf.PRESENT})
def jobs_by_schemaversion(
    namespace: str | None, body: Any, labels: Any, **_: Any
) -> dict[tuple[str, str], dict[str, Any]] | None:
    """Each migration Job, by (namespace, the SchemaVersion its label names): its
    metadata and status, what a reconciliation reads of it (not its pod template,
    most of its size). The Job watch is the one :func:`job_changed` has."""
    sv = labels.get(LABEL_SCHEMAVERSION)
    if namespace is None or not sv:
        return None
    job = kept_object({"metadata": body.get("metadata") or {}, "status": body.get("status")})
    return {(namespace, str(sv)): job}


class PrioritySlots:
    """A semaphore whose waiters are served by class (lower first), then in the
    order they came: :data:`JOB_FINISHED` before :data:`OTHERS`.

    A waiter may name a ``key`` (its SchemaVersion) so that :meth:`promote` can
    move it to a better class while it waits: it then queues behind those already
    waiting in that class, as if it had come just then."""

    def __init__(self, value: int) -> None:
        self._value = value
        # A heap of (class, arrival, future). Promotion pushes a second entry for the
        # same future; the entry it left behind is stale (no longer in _queued) and
        # skipped, like the entry of a waiter that was stopped.
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        # The current (class, arrival) of each future still waiting, and its key's.
        self._queued: dict[asyncio.Future[None], tuple[int, int]] = {}
        self._keyed: dict[Hashable, set[asyncio.Future[None]]] = {}

    async def acquire(self, priority: int = OTHERS, key: Hashable | None = None) -> None:
        # A free slot means no one waits: release hands a slot to a waiter first.
        if self._value > 0:
            self._value -= 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._enqueue(granted, priority)
        if key is not None:
            self._keyed.setdefault(key, set()).add(granted)
        try:
            await granted
        except BaseException:
            if granted.done() and not granted.cancelled():
                self.release()  # handed a slot in the moment it was stopped
            else:
                granted.cancel()  # skipped by release
            raise
        finally:
            self._queued.pop(granted, None)
            if key is not None:
                waiting = self._keyed.get(key)
                if waiting is not None:
                    waiting.discard(granted)
                    if not waiting:
                        del self._keyed[key]

    def promote(self, key: Hashable, priority: int) -> bool:
        """Move the waiters of ``key`` whose class is worse than ``priority`` into it
        (behind those already waiting there); whether one was moved."""
        moved = False
        for granted in self._keyed.get(key, ()):
            current = self._queued.get(granted)
            if current is not None and not granted.done() and priority < current[0]:
                self._enqueue(granted, priority)
                moved = True
        return moved

    def _enqueue(self, granted: asyncio.Future[None], priority: int) -> None:
        entry = (priority, next(self._order), granted)
        self._queued[granted] = entry[:2]
        heapq.heappush(self._waiters, entry)

    def release(self) -> None:
        while self._waiters:
            priority, order, granted = heapq.heappop(self._waiters)
            if granted.done() or self._queued.get(granted) != (priority, order):
                continue  # stopped while waiting, or promoted (its new entry counts)
            del self._queued[granted]
            granted.set_result(None)  # the slot goes to it, not back to the pool
            return
        self._value += 1

    @contextlib.asynccontextmanager
    async def slot(
        self, priority: int = OTHERS, key: Hashable | None = None
    ) -> AsyncIterator[None]:
        await self.acquire(priority, key)
        try:
            yield
        finally:
            self.release()


class Slots:
    """The bounds on reconciliations in flight (see the module docstring), and which
    SchemaVersions were woken by their own Job's end."""

    def __init__(self, reconcile: int = RECONCILE_SLOTS, timer: int = TIMER_SLOTS) -> None:
        self.reconcile = PrioritySlots(reconcile)
        self.timer = asyncio.Semaphore(timer)
        # (namespace, SchemaVersion) whose Job finished since its last reconciliation.
        self.job_finished: set[tuple[str, str]] = set()
        # UIDs of the finished Jobs seen (their end is news once).
        self.finished_jobs: set[str] = set()

    def priority(self, key: tuple[str, str]) -> int:
        """The class of the reconciliation of ``key`` about to start (and forget why)."""
        if key in self.job_finished:
            self.job_finished.discard(key)
            return JOB_FINISHED
        return OTHERS

    def job_finished_seen(self, key: tuple[str, str]) -> None:
        """``key``'s Job was seen finishing: its next reconciliation goes first, and so
        does one already waiting for a slot (queued as :data:`OTHERS` for another
        reason), which will read the Job's end once it runs."""
        self.job_finished.add(key)
        self.reconcile.promote(key, JOB_FINISHED)


def _slots(memo: Any) -> Slots:
    slots: Slots | None = getattr(memo, "slots", None)
    if slots is None:
        slots = memo.slots = Slots()
    return slots


def _cancel_acquire(acquire: asyncio.Future[Any], wait: asyncio.Future[Any]) -> bool:
    """Stop waiting; whether the acquire ended without a slot. A pending acquire,
    cancelled, never holds one (asyncio.Semaphore gives back a slot granted
    meanwhile); a finished one holds its slot."""
    wait.cancel()
    acquire.cancel()
    return not acquire.done() or acquire.cancelled()


async def _timer_slot(slots: Slots, woken: asyncio.Event) -> bool:
    """Wait for a timer slot, or for ``woken`` (a change: no slot needed); whether a
    slot was taken (the caller releases it)."""
    if woken.is_set():
        return False
    acquire = asyncio.ensure_future(slots.timer.acquire())
    wait = asyncio.ensure_future(woken.wait())
    try:
        await asyncio.wait((acquire, wait), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # this daemon is being stopped
        if not _cancel_acquire(acquire, wait):
            slots.timer.release()
        raise
    held = not _cancel_acquire(acquire, wait)
    if held and woken.is_set():
        slots.timer.release()  # a change came too: it goes ahead as one
        return False
    return held


@kopf.daemon(GROUP, VERSION, "schemaversions", when=_selected, cancellation_timeout=2.0)
async def schemaversion_loop(
    name: str,
    namespace: str | None,
    body: Any,
    memo: Any,
    stopped: Any,
    **kwargs: Any,
) -> None:
    reconciler: Reconciler = memo.reconciler
    # kopf hands every handler each index by its indexer's name.
    index: kopf.Index[tuple[str, str], dict[str, Any]] = kwargs["migrations_by_schemaversion"]
    jobs: kopf.Index[tuple[str, str], dict[str, Any]] = kwargs["jobs_by_schemaversion"]
    if namespace is None:
        return
    event = _triggers(memo).setdefault((namespace, name), asyncio.Event())
    slots = _slots(memo)
    failures = 0
    timer = False  # the first reconciliation is for a new object (or a new operator)
    try:
        while not stopped:
            timer_slot = timer and await _timer_slot(slots, event)
            try:
                key = (namespace, name)
                async with slots.reconcile.slot(slots.priority(key), key):
                    # Changes until now are seen by this reconciliation.
                    event.clear()
                    slots.job_finished.discard((namespace, name))
                    migrations = list(index.get((namespace, name), ()))
                    # kopf's body is live: a copy, fixed for this reconciliation.
                    cached = Cached(
                        copy.deepcopy(dict(body)),
                        [copy.deepcopy(j) for j in jobs.get((namespace, name), ())],
                    )
                    delay = await reconciler.reconcile(namespace, name, migrations, cached)
                failures = 0
            except Exception as exc:
                failures += 1
                delay = backoff(failures, base=2.0, cap=120.0)
                metrics.OPERATOR_RECONCILE_ERRORS.labels(type(exc).__name__).inc()
                log.warning(
                    "reconciling %s/%s failed (%s: %s); retrying in %.0fs",
                    namespace,
                    name,
                    type(exc).__name__,
                    exc,
                    delay,
                )
            finally:
                if timer_slot:
                    slots.timer.release()
            try:
                await asyncio.wait_for(event.wait(), timeout=delay)
                await asyncio.sleep(DEBOUNCE_SECONDS)
                timer = False
            except TimeoutError:
                timer = True
    finally:
        _triggers(memo).pop((namespace, name), None)
        memo.seen.pop((namespace, name), None)
        reconciler.forget(namespace, name)


@kopf.on.event(GROUP, VERSION, "schemaversions")
async def schemaversion_changed(
    name: str, namespace: str | None, meta: Any, memo: Any, event: Any = None, **_: Any
) -> None:
    # kopf keeps the object of the last event as the daemon's body (one per
    # SchemaVersion): without what the operator never reads.
    _drop_unread((event or {}).get("object"))
    # React to spec (generation) and annotation (approval) changes, not to our own status writes.
    seen: dict[tuple[str | None, str], Any] = memo.seen
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    essence = (meta.get("generation"), annotations)
    if seen.get((namespace, name)) != essence:
        seen[(namespace, name)] = essence
        trigger(memo, namespace, name)


@kopf.on.event(GROUP, VERSION, "schemamigrations")
async def schemamigration_changed(
    *, type: str | None, name: str, namespace: str | None, spec: Any, meta: Any, memo: Any, **_: Any
) -> None:
    # A SchemaMigration's spec is immutable: what can change a plan is its creation,
    # its deletion and the start of its deletion, not the status the operator writes.
    ref = ((spec or {}).get("schemaVersionRef") or {}).get("name")
    seen: dict[tuple[str | None, str], Any] = memo.seen_migrations
    essence = (meta.get("uid"), ref, meta.get("deletionTimestamp"))
    if type == "DELETED":
        seen.pop((namespace, name), None)
    elif seen.get((namespace, name)) == essence:
        return
    else:
        seen[(namespace, name)] = essence
    trigger(memo, namespace, ref)


@kopf.on.event("batch", "v1", "jobs", labels={LABEL_SCHEMAVERSION: kopf.PRESENT})
async def job_changed(
    *,
    type: str | None,
    namespace: str | None,
    labels: Any,
    meta: Any,
    status: Any,
    memo: Any,
    **_: Any,
) -> None:
    sv = labels.get(LABEL_SCHEMAVERSION)
    slots = _slots(memo)
    uid = str(meta.get("uid") or "")
    if type == "DELETED":
        slots.finished_jobs.discard(uid)
    elif job_finished(status or {}) is not None and uid not in slots.finished_jobs:
        slots.finished_jobs.add(uid)
        # A Job seen finishing (not one listed finished when the watch (re)starts,
        # which the first reconciliation after a start reads anyway): its
        # SchemaVersion's next reconciliation goes first.
        if type == "MODIFIED" and namespace and sv:
            slots.job_finished_seen((namespace, str(sv)))
    trigger(memo, namespace, sv)


async def secret_changed(
    *, type: str | None, name: str, namespace: str | None, body: Any, memo: Any, **_: Any
) -> None:
    reconciler: Reconciler = memo.reconciler
    if namespace is None:
        return
    # Kept (data and labels, never logged) if a SchemaVersion names it: a drift check
    # reads it from here, not with a request.
    reconciler.secret_seen(namespace, name, None if type == "DELETED" else body)
    for sv in reconciler.secret_index.get((namespace, name), ()):
        trigger(memo, namespace, sv)


def watch_secrets() -> None:
    """Register the Secret watch (it lists and watches every Secret in scope).

    Called at start-up unless ``--secret-selector`` is set: in that mode the
    operator has only ``get`` on Secrets, and a watch would be refused.
    """
    kopf.on.event("", "v1", "secrets", id="secret_changed")(secret_changed)


@kopf.on.probe(id="reconcilers")
def probe_reconcilers(memo: Any, **_: Any) -> int:
    return len(_triggers(memo))
