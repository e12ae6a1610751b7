"""A rollback past a deleted batched migration through the operator: its batched down,
recorded at apply time (history.down_batched), runs batch by batch from the record;
spec.paused stops its Job between batches, and unpausing continues from the position
to Ready, every row reverted exactly once.

Real API server, Job controller and PostgreSQL, as tests/e2e/test_datamig_e2e.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_support import operator_fixture
from test_operator import Env, Operator, crds  # noqa: F401 (crds: the fixture)

# 30 batches with a pause of 1s after each, both ways: the down takes 30s or more,
# so a pause set once status shows its first batches lands long before its end.
ROWS = 360
BATCH = 12


@pytest.fixture
def rb(kube: Any, namespace: str, database: str) -> Env:
    return Env(kube, namespace, database)


@pytest.fixture
def rb_operator(
    request: pytest.FixtureRequest, namespace: str, tmp_path: Path
) -> Iterator[Operator]:
    request.getfixturevalue("crds")
    yield from operator_fixture(namespace, tmp_path / "operator.log")


def _down_done(env: Env) -> Any:
    return env.scalar(
        "select rows_done from schemaop.schemaop_batches"
        " where version = '2' and direction = 'down'",
    )


def test_a_rollback_past_a_deleted_batched_migration_runs_its_recorded_batched_down(
    rb: Env, rb_operator: Operator
) -> None:
    env, operator = rb, rb_operator
    env.secret()
    env.migration(
        "1",
        "create table items (id bigint primary key, total int not null, total_cents bigint,"
        " touched int not null default 0, reverted int not null default 0);"
        f" insert into items (id, total) select g, g % 1000 from generate_series(1, {ROWS}) g",
        "drop table items",
    )
    # Neither way idempotent: a batch applied twice leaves 2 in touched or reverted.
    env.migration(
        "2",
        "UPDATE public.items SET total_cents = total * 100, touched = touched + 1"
        " WHERE id BETWEEN :lo_id AND :hi_id",
        "UPDATE public.items SET total_cents = NULL, reverted = reverted + 1"
        " WHERE id BETWEEN :lo_id AND :hi_id",
        batched={
            "table": "public.items",
            "key": ["id"],
            "initialBatchSize": BATCH,
            "minBatchSize": BATCH,
            "maxBatchSize": BATCH,
            "pause": "1s",
            "down": True,
        },
    )
    env.schemaversion()
    env.wait_ready("2", operator, timeout=180)
    assert env.scalar("select count(*) from items where touched <> 1") == 0
    recorded = env.scalar(
        "select down_batched from schemaop.schema_history"
        " where version = '2' and direction = 'up' and status = 'applied'",
    )
    assert recorded and recorded["down"] is True and recorded["maxBatchSize"] == BATCH

    # The migration goes (a Helm rollback, a GitOps prune) and the target goes down.
    env.delete_migration("db-v2")
    env.patch_sv({"spec": {"targetVersion": "1"}})
    first = env.wait(
        "the recorded batched down in progress",
        lambda: (
            (s := env.data_migration()).get("direction") == "down"
            and s.get("batchesDone", 0) > 0
            and "completedAt" not in s
            and s
        ),
        timeout=120,
        op=operator,
    )
    assert first["version"] == "2"
    steps = env.sv()["status"]["plan"]["steps"]
    down = [s for s in steps if s["version"] == "2" and s["direction"] == "down"]
    assert len(down) == 1 and down[0]["source"] == "recorded" and down[0]["batched"] is True

    # Pause: the Job goes (SIGTERM: the engine ends after its batch), progress stays.
    env.patch_sv({"spec": {"paused": True}})
    env.wait("the Job to go", lambda: not env.active_jobs(), timeout=60, op=operator)
    paused = env.wait(
        "dataMigration.paused",
        lambda: (s := env.data_migration()).get("paused") and s,
        60,
        operator,
    )
    assert paused["direction"] == "down" and paused["version"] == "2"
    env.wait_reason("Ready", "False", "Paused", operator)
    env.wait("the pod to end", lambda: not env.live_pods(), timeout=90, op=operator)
    done_at_pause = _down_done(env)
    assert 0 < done_at_pause < ROWS, "paused before the end"
    assert done_at_pause >= paused["rowsDone"]
    time.sleep(4)
    assert _down_done(env) == done_at_pause
    assert not env.active_jobs()
    assert env.scalar("select sum(reverted) from items") == done_at_pause
    assert env.sv()["status"]["currentVersion"] == "2"

    # Resume: a new Job continues the down from the position, to Ready at 1.
    env.patch_sv({"spec": {"paused": False}})
    sv = env.wait_ready("1", operator, timeout=180)
    # Exactly once: every row reverted by one batch (and backfilled by one before).
    assert env.scalar("select count(*) from items where reverted <> 1 or touched <> 1") == 0
    assert env.scalar("select count(*) from items where total_cents is not null") == 0
    # History and progress agree: one up and one down of 2, the down's progress
    # complete and no up progress row left for 2.
    history = env.scalar(
        "select array_agg(direction || ':' || status order by direction)"
        " from schemaop.schema_history where version = '2'",
    )
    assert history == ["down:applied", "up:applied"], history
    assert (
        env.scalar(
            "select count(*) from schemaop.schemaop_batches"
            " where version = '2' and direction = 'up'",
        )
        == 0
    )
    assert (
        env.scalar(
            f"select rows_done = {ROWS} and completed_at is not null"
            " from schemaop.schemaop_batches where version = '2' and direction = 'down'",
        )
        is True
    )
    newest = sv["status"]["history"][0]
    assert (newest["version"], newest["direction"]) == ("2", "down")
    assert "failure" not in sv["status"]
    assert not any(j.status.failed for j in env.jobs())
