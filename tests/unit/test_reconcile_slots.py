"""The bounds on reconciliations in flight (operator/handlers.py): all of them, and
those woken by their timer (drift checks), so that a burst of 1,000 SchemaVersions
holds a bounded number of reconciliations' objects, and reconciliations woken by a
change never queue behind drift checks (docs/benchmarks.md, 1,000 databases).

The daemon loop runs as kopf runs it, with a reconciler that counts.
"""

from __future__ import annotations

import asyncio
from typing import Any

from schemaop.operator import handlers
from schemaop.operator.handlers import Slots

NS = "ns"


class Stopped:
    """kopf's ``stopped`` flag: false until the daemon is to stop."""

    def __init__(self) -> None:
        self.flag = False

    def __bool__(self) -> bool:
        return self.flag


class Memo:
    def __init__(self, reconciler: Any, slots: Slots) -> None:
        self.reconciler = reconciler
        self.slots = slots
        self.triggers: dict[tuple[str, str], asyncio.Event] = {}
        self.seen: dict[Any, Any] = {}


class CountingReconciler:
    """Reconciles in ``seconds``; then asks to be woken again after ``delay``."""

    def __init__(self, seconds: float, delay: float) -> None:
        self.seconds, self.delay = seconds, delay
        self.in_flight = 0
        self.peak = 0
        self.done: list[tuple[str, float]] = []
        # While set: reconciliations that start wait for it to be set (a hung request).
        self.hang: asyncio.Event | None = None

    async def reconcile(self, namespace: str, name: str, migrations: Any, cached: Any) -> float:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if self.hang is not None:
                await self.hang.wait()
            await asyncio.sleep(self.seconds)
        finally:
            self.in_flight -= 1
        self.done.append((name, asyncio.get_running_loop().time()))
        return self.delay

    def forget(self, namespace: str, name: str) -> None:
        pass


def _start(memo: Memo, names: list[str], stopped: Stopped) -> list[asyncio.Task[None]]:
    body = {"metadata": {"name": "x", "namespace": NS, "resourceVersion": "1"}}
    return [
        asyncio.ensure_future(
            handlers.schemaversion_loop(
                name=name,
                namespace=NS,
                body=body,
                memo=memo,
                stopped=stopped,
                migrations_by_schemaversion={},
                jobs_by_schemaversion={},
            )
        )
        for name in names
    ]


async def _stop(memo: Memo, tasks: list[asyncio.Task[None]], stopped: Stopped) -> None:
    stopped.flag = True
    for event in list(memo.triggers.values()):
        event.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _until(check: Any, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_burst_of_new_schemaversions_is_reconciled_a_few_at_a_time() -> None:
    reconciler = CountingReconciler(seconds=0.02, delay=3600)
    memo = Memo(reconciler, Slots(reconcile=3, timer=1))
    stopped = Stopped()
    tasks = _start(memo, [f"db{i}" for i in range(30)], stopped)
    try:
        await _until(lambda: len(reconciler.done) == 30)
    finally:
        await _stop(memo, tasks, stopped)
    assert reconciler.peak == 3


async def test_drift_checks_take_few_slots_and_a_change_never_waits_behind_them() -> None:
    # Every reconciliation after the first is a drift check (woken by its timer).
    reconciler = CountingReconciler(seconds=0.01, delay=0.01)
    memo = Memo(reconciler, Slots(reconcile=8, timer=2))
    stopped = Stopped()
    names = [f"drift{i}" for i in range(20)]
    tasks = _start(memo, names, stopped)
    hang = asyncio.Event()
    try:
        await _until(lambda: len(reconciler.done) >= 20)
        # From now on the drift checks hang (an API server that does not answer):
        # two hold the two timer slots, the others wait for one.
        reconciler.hang = hang
        await _until(lambda: reconciler.in_flight == 2)
        await asyncio.sleep(0.2)
        assert reconciler.in_flight == 2  # two timer slots, not eight
        # A change to each: those waiting for a timer slot go at once.
        reconciler.hang = None
        before = len(reconciler.done)
        for name in names:
            memo.triggers[(NS, name)].set()
        await _until(lambda: len(reconciler.done) >= before + 18)
    finally:
        hang.set()
        await _stop(memo, tasks, stopped)
    assert reconciler.peak <= 8
    # Every timer slot was given back, whatever the path (woken, cancelled).
    assert memo.slots.timer._value == 2
    assert memo.slots.reconcile._value == 8


async def test_a_timer_slot_is_not_kept_by_a_daemon_stopped_while_it_waits() -> None:
    slots = Slots(reconcile=4, timer=1)
    await slots.timer.acquire()  # held by someone else
    woken = asyncio.Event()
    waiting = asyncio.ensure_future(handlers._timer_slot(slots, woken))
    await asyncio.sleep(0.01)
    slots.timer.release()  # granted to the waiter...
    waiting.cancel()  # ...which is stopped in the same moment
    await asyncio.gather(waiting, return_exceptions=True)
    await asyncio.sleep(0.01)
    assert slots.timer._value == 1
    # A change while waiting: no slot taken, none kept.
    await slots.timer.acquire()
    waiting = asyncio.ensure_future(handlers._timer_slot(slots, woken))
    await asyncio.sleep(0.01)
    woken.set()
    assert await waiting is False
    slots.timer.release()
    await asyncio.sleep(0.01)
    assert slots.timer._value == 1


def test_the_reconcile_slots_are_the_worker_threads() -> None:
    from schemaop.commands.operator import IO_THREADS

    assert handlers.RECONCILE_SLOTS == IO_THREADS
    assert handlers.TIMER_SLOTS < handlers.RECONCILE_SLOTS


def _job_event(memo: Memo, sv: str, kind: str, finished: bool, uid: str = "job-1") -> Any:
    status = {"conditions": [{"type": "Complete", "status": "True"}]} if finished else {}
    return handlers.job_changed(
        type=kind,
        namespace=NS,
        labels={handlers.LABEL_SCHEMAVERSION: sv},
        meta={"uid": uid},
        status=status,
        memo=memo,
    )


async def _job_runs_then_a_burst(
    memo: Memo, stopped: Stopped, tasks: list[asyncio.Task[None]]
) -> None:
    """db0 reconciles once and its Job runs; then 40 new SchemaVersions queue for the
    slots (each first reconciliation as long as ``memo.reconciler`` takes). Their
    daemons are added to ``tasks``."""
    reconciler = memo.reconciler
    tasks += _start(memo, ["db0"], stopped)
    await _until(lambda: len(reconciler.done) == 1)
    await _job_event(memo, "db0", "MODIFIED", finished=False)  # the Job runs
    await _until(lambda: len(reconciler.done) == 2)
    tasks += _start(memo, [f"new{i}" for i in range(40)], stopped)
    await _until(lambda: len(reconciler.done) >= 4)


async def test_a_finished_job_goes_ahead_of_first_reconciliations() -> None:
    # db0 has reconciled once and waits for its Job; 40 new SchemaVersions queue for
    # two slots (each first reconciliation 50 ms). db0's Job finishes: its
    # reconciliation goes next, not after the 40 (docs/benchmarks.md: Job Complete
    # to Ready p50 1,108 s at 1,000).
    reconciler = CountingReconciler(seconds=0.05, delay=3600)
    memo = Memo(reconciler, Slots(reconcile=2, timer=1))
    stopped = Stopped()
    tasks: list[asyncio.Task[None]] = []
    try:
        await _job_runs_then_a_burst(memo, stopped, tasks)
        await _job_event(memo, "db0", "MODIFIED", finished=True)
        before = len(reconciler.done)
        await _until(lambda: [n for n, _ in reconciler.done].count("db0") == 3)
        order = [n for n, _ in reconciler.done]
        # Behind at most those in flight and those that took a slot during the
        # debounce (0.2 s: about four of 50 ms in each of two slots), not the 40.
        assert order.index("db0", before) - before <= 14
        assert len(order) < 42  # some new ones still waited
        # The same Job's end seen again (a re-list after the watch restarts) is no news.
        assert not memo.slots.job_finished
        await _job_event(memo, "db0", None, finished=True)
        assert not memo.slots.job_finished
    finally:
        await _stop(memo, tasks, stopped)
    assert memo.slots.reconcile._value == 2


async def test_a_job_listed_finished_when_the_watch_starts_gets_no_priority() -> None:
    memo = Memo(CountingReconciler(seconds=0, delay=3600), Slots())
    await _job_event(memo, "db0", None, finished=True, uid="old")
    assert not memo.slots.job_finished
    await _job_event(memo, "db1", "MODIFIED", finished=True, uid="new")
    assert memo.slots.job_finished == {(NS, "db1")}
    assert memo.slots.priority((NS, "db1")) == handlers.JOB_FINISHED
    assert memo.slots.priority((NS, "db1")) == handlers.OTHERS  # once
    await _job_event(memo, "db1", "DELETED", finished=True, uid="new")
    assert "new" not in memo.slots.finished_jobs


async def test_priority_slots_serve_by_class_then_in_order_and_keep_no_slot_when_stopped() -> None:
    slots = handlers.PrioritySlots(1)
    await slots.acquire()
    served: list[str] = []

    async def take(label: str, priority: int) -> None:
        await slots.acquire(priority)
        served.append(label)
        await asyncio.sleep(0.01)
        slots.release()

    waiters = [
        asyncio.ensure_future(take("first", handlers.OTHERS)),
        asyncio.ensure_future(take("second", handlers.OTHERS)),
    ]
    await asyncio.sleep(0.01)
    stopped = asyncio.ensure_future(take("stopped", handlers.JOB_FINISHED))
    waiters.append(asyncio.ensure_future(take("finished", handlers.JOB_FINISHED)))
    await asyncio.sleep(0.01)
    stopped.cancel()  # stopped while waiting: skipped
    slots.release()
    await asyncio.gather(*waiters)
    assert served == ["finished", "first", "second"]
    assert slots._value == 1
    # Granted a slot in the moment it is cancelled: the slot is given back.
    await slots.acquire()
    waiting = asyncio.ensure_future(slots.acquire())
    await asyncio.sleep(0.01)
    slots.release()
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert slots._value == 1


async def _queue(
    slots: handlers.PrioritySlots, served: list[str], label: str, priority: int, key: Any = None
) -> asyncio.Task[None]:
    """A waiter that, once served, notes its label and gives its slot back at once."""

    async def take() -> None:
        await slots.acquire(priority, key)
        served.append(label)
        slots.release()

    task = asyncio.ensure_future(take())
    await asyncio.sleep(0)  # queued now, in this order
    return task


async def test_a_waiter_promoted_queues_behind_its_new_class_in_order() -> None:
    slots = handlers.PrioritySlots(1)
    await slots.acquire()
    served: list[str] = []
    job, other = handlers.JOB_FINISHED, handlers.OTHERS
    tasks = [
        await _queue(slots, served, "other-1", other, key=(NS, "a")),
        await _queue(slots, served, "other-2", other, key=(NS, "b")),
        await _queue(slots, served, "finished-1", job, key=(NS, "c")),
        await _queue(slots, served, "other-3", other, key=(NS, "d")),
    ]
    # b's Job finishes while b waits: it moves up, behind finished-1 (there first).
    assert slots.promote((NS, "b"), job) is True
    tasks.append(await _queue(slots, served, "finished-2", job, key=(NS, "e")))
    # Nothing to move: a key that does not wait, one already in the class.
    assert slots.promote((NS, "nobody"), job) is False
    assert slots.promote((NS, "b"), job) is False
    assert slots.promote((NS, "c"), job) is False
    slots.release()
    await asyncio.gather(*tasks)
    assert served == ["finished-1", "other-2", "finished-2", "other-1", "other-3"]
    assert slots._value == 1
    assert not slots._queued and not slots._keyed


async def test_a_promoted_waiter_stopped_while_it_waits_is_skipped_and_keeps_no_slot() -> None:
    slots = handlers.PrioritySlots(1)
    await slots.acquire()
    served: list[str] = []
    job, other = handlers.JOB_FINISHED, handlers.OTHERS
    stopped = await _queue(slots, served, "stopped", other, key=(NS, "a"))
    later = await _queue(slots, served, "later", other, key=(NS, "b"))
    assert slots.promote((NS, "a"), job)
    stopped.cancel()
    await asyncio.gather(stopped, return_exceptions=True)
    # Its two entries (before and after the promotion) are skipped; the slot goes on.
    assert not slots.promote((NS, "a"), job)
    slots.release()
    await later
    assert served == ["later"]
    assert slots._value == 1 and not slots._queued and not slots._keyed
    # Promoted, then granted a slot in the moment it is stopped: the slot is given back.
    await slots.acquire()
    waiting = asyncio.ensure_future(slots.acquire(other, (NS, "a")))
    await asyncio.sleep(0)
    assert slots.promote((NS, "a"), job)
    slots.release()
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert slots._value == 1 and not slots._queued and not slots._keyed


async def test_a_reconciliation_queued_when_its_job_finishes_moves_up() -> None:
    # db0 was woken by something else (a change to its SchemaVersion) and waits for a
    # slot behind 40 first reconciliations, as OTHERS; then its Job finishes: it goes
    # next, not after the 40.
    reconciler = CountingReconciler(seconds=0.05, delay=3600)
    memo = Memo(reconciler, Slots(reconcile=2, timer=1))
    stopped = Stopped()
    tasks: list[asyncio.Task[None]] = []
    try:
        await _job_runs_then_a_burst(memo, stopped, tasks)
        handlers.trigger(memo, NS, "db0")
        # After the debounce, db0 waits for a slot, as OTHERS.
        await _until(lambda: (NS, "db0") in memo.slots.reconcile._keyed)
        (waiting,) = memo.slots.reconcile._keyed[(NS, "db0")]
        assert memo.slots.reconcile._queued[waiting][0] == handlers.OTHERS
        await _job_event(memo, "db0", "MODIFIED", finished=True)
        assert memo.slots.reconcile._queued[waiting][0] == handlers.JOB_FINISHED
        before = len(reconciler.done)
        await _until(lambda: [n for n, _ in reconciler.done].count("db0") == 3)
        order = [n for n, _ in reconciler.done]
        # Behind at most the two in flight.
        assert order.index("db0", before) - before <= 2
        assert len(order) < 30  # most new ones still waited
        # The Job's end is read by that reconciliation: no second one for it.
        assert not memo.slots.job_finished
    finally:
        await _stop(memo, tasks, stopped)
    assert memo.slots.reconcile._value == 2
