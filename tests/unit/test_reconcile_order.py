"""One reconciliation reads the Jobs before the database (no API server, no database:
both are fakes sharing one timeline).

A Job is marked Complete only after its process exited, so after the engine
committed: a Job listed Complete is then seen applied by a later read. Read the
other way round, a Job that finished between the two reads looks like a Job that
"succeeded short of the target": a false Retrying status, and a second Job for a
plan already applied when the reconciliation took longer than the retry backoff
(an API server restarting, a loaded node).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from schemaop.model.history import AppliedMigration, DatabaseState
from schemaop.model.migration import checksum
from schemaop.model.version import Version
from schemaop.operator import reconcile
from schemaop.operator.reconcile import OperatorConfig, Reconciler

UP, DOWN = "create table a (id int)", "drop table a"
FINISHED = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


class World:
    """The API server and the database; ``finish()`` is the Job committing its step,
    exiting, and the Job controller marking it Complete."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.committed = False
        self.jobs: list[dict[str, Any]] = []
        self.created: list[str] = []
        self.on_first_read: Callable[[], None] | None = None
        self.status: dict[str, Any] = {}

    def _observed(self, what: str) -> None:
        """``what`` was read; the first read of a reconciliation may set things moving."""
        self.calls.append(what)
        if self.on_first_read is not None:
            hook, self.on_first_read = self.on_first_read, None
            hook()

    def finish(self) -> None:
        self.committed = True
        for job in self.jobs:
            job["status"] = {
                "conditions": [{"type": "Complete", "status": "True"}],
                "completionTime": FINISHED.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "startTime": "2026-11-22T11:59:50Z",
            }

    def state(self) -> DatabaseState:
        if not self.committed:
            return DatabaseState(history_exists=True)
        return DatabaseState(
            applied=(AppliedMigration(Version("1"), "m1", checksum(UP, DOWN)),),
            history_exists=True,
            last_fingerprint="f" * 64,
        )


class FakeKube:
    def __init__(self, world: World) -> None:
        self.world = world

    async def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        return {
            "metadata": {"name": "db", "namespace": "ns", "uid": "u1", "generation": 1},
            "spec": {
                "connection": {"urlFrom": {"secretKeyRef": {"name": "db", "key": "url"}}},
                "snapshot": {"policy": "None"},
            },
            "status": copy.deepcopy(self.world.status),
        }

    async def list_custom(
        self, plural: str, namespace: str, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        if plural == "schemamigrationruns":
            return []
        return [
            {
                "metadata": {"name": "db-v1", "generation": 1},
                "spec": {
                    "schemaVersionRef": {"name": "db"},
                    "version": "1",
                    "description": "m1",
                    "up": UP,
                    "down": DOWN,
                },
            }
        ]

    async def read_secret(self, namespace: str, name: str) -> dict[str, Any]:
        return {"data": {"url": base64.b64encode(b"postgresql://u@db/app").decode()}}

    async def list_jobs(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        jobs = copy.deepcopy(self.world.jobs)
        self.world._observed("jobs")
        return jobs

    async def job_termination_message(self, namespace: str, meta: Mapping[str, Any]) -> None:
        return None

    async def job_pod_log(self, *args: Any) -> Any:
        from schemaop.kube.api import PodLog

        return PodLog()

    async def create_custom(self, plural: str, obj: Mapping[str, Any]) -> bool:
        return True  # a run record (operator/runs.py)

    async def create_if_absent(self, obj: Mapping[str, Any]) -> bool:
        if obj["kind"] == "Job":
            name = obj["metadata"]["name"]
            if any(j["metadata"]["name"] == name for j in self.world.jobs):
                return False
            self.world.created.append(name)
            self.world.jobs.append({**copy.deepcopy(dict(obj)), "status": {}})
        return True

    async def post_event(self, *args: Any) -> None:
        pass

    async def update_status(
        self,
        plural: str,
        namespace: str,
        name: str,
        mutate: Callable[..., Any],
        *,
        current: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        if plural == "schemaversions":
            self.world.status = mutate(copy.deepcopy(self.world.status))
            return {"metadata": {"name": name, "namespace": namespace}, "status": self.world.status}
        return None


def _conditions(world: World) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in world.status["conditions"]}


async def test_a_job_finishing_during_a_reconciliation_is_not_taken_for_one_short_of_target(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World()

    def read_database(*args: Any, **kwargs: Any) -> tuple[DatabaseState, str, list[Any]]:
        state = world.state()
        world._observed("database")
        return state, "f" * 64, []

    monkeypatch.setattr(reconcile, "read_database", read_database)
    reconciler = Reconciler(FakeKube(world), OperatorConfig())  # type: ignore[arg-type]
    await reconciler.reconcile("ns", "db")
    assert len(world.created) == 1  # attempt 1, running

    # The Job finishes right after this reconciliation's first read, and the
    # reconciliation is slow: it decides 11 s after the Job finished.
    world.on_first_read = world.finish
    monkeypatch.setattr(reconcile, "_now", lambda: FINISHED + dt.timedelta(seconds=11))
    world.calls.clear()
    await reconciler.reconcile("ns", "db")
    assert world.calls == ["jobs", "database"]
    assert world.created == [world.created[0]], "a second Job for a plan already applied"
    assert _conditions(world)["Reconciling"] == ("True", "Migrating")  # the Job as listed: running
    assert "failure" not in world.status

    await reconciler.reconcile("ns", "db")
    assert _conditions(world)["Ready"] == ("True", "Applied")
    assert len(world.created) == 1
