"""A batched data migration through the operator (issue 13): progress in status,
pause stops the Job and keeps the position, resume completes the step exactly once.

Real API server, Job controller and PostgreSQL, as tests/e2e/test_operator.py (whose
Operator and Env helpers this uses); the Job runs `schemaop job run` through the local
pod runner, which sends SIGTERM to the pod of a deleted Job.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_support import operator_fixture
from test_operator import Env, Operator, crds  # noqa: F401 (crds: the fixture)

ROWS = 3000
# 30 batches with a pause of 3s after each: the step takes 90s or more, so a pause
# set after the first batches lands long before the end even on a loaded machine.
BATCH = 100


@pytest.fixture
def dm(kube: Any, namespace: str, database: str) -> Env:
    return Env(kube, namespace, database)


@pytest.fixture
def dm_operator(
    request: pytest.FixtureRequest, namespace: str, tmp_path: Path
) -> Iterator[Operator]:
    request.getfixturevalue("crds")
    yield from operator_fixture(namespace, tmp_path / "operator.log")


def test_batched_backfill_shows_progress_pauses_and_resumes(dm: Env, dm_operator: Operator) -> None:
    env, operator = dm, dm_operator
    env.secret()
    env.migration(
        "1",
        "create table items (id bigint primary key, total int not null, total_cents bigint,"
        f" touched int not null default 0);"
        f" insert into items (id, total) select g, g % 1000 from generate_series(1, {ROWS}) g",
        "drop table items",
    )
    # Not idempotent on purpose: a batch applied twice leaves touched = 2 somewhere.
    env.migration(
        "2",
        "UPDATE public.items SET total_cents = total * 100, touched = touched + 1"
        " WHERE id BETWEEN :lo_id AND :hi_id",
        "UPDATE public.items SET total_cents = NULL WHERE id BETWEEN :lo_id AND :hi_id",
        batched={
            "table": "public.items",
            "key": ["id"],
            "targetBatchDuration": "500ms",
            "initialBatchSize": BATCH,
            "minBatchSize": 10,
            "maxBatchSize": BATCH,
            "pause": "3s",
            "down": True,
        },
    )
    env.schemaversion()

    # Progress shows in status, and grows.
    first = env.wait(
        "dataMigration.rowsDone > 0",
        lambda: (s := env.data_migration()).get("rowsDone", 0) > 0 and s,
        timeout=120,
        op=operator,
    )
    assert first["version"] == "2" and first["direction"] == "up"
    assert first["rowsTotalEstimate"] >= 1 and first["batchSize"] >= 10
    assert "completedAt" not in first and first["progress"].endswith("%")
    env.wait(
        "rowsDone to grow",
        lambda: env.data_migration().get("rowsDone", 0) > first["rowsDone"],
        timeout=60,
        op=operator,
    )

    # Pause: the Job goes (SIGTERM: the engine ends after its batch), progress stays.
    env.patch_sv({"spec": {"paused": True}})
    env.wait("the Job to go", lambda: not env.active_jobs(), timeout=60, op=operator)
    paused = env.wait(
        "dataMigration.paused",
        lambda: (s := env.data_migration()).get("paused") and s,
        60,
        operator,
    )
    env.wait_reason("Ready", "False", "Paused", operator)
    # The pod goes after the Job (garbage collection, then SIGTERM, then the engine's
    # last batch): from then on, nothing moves.
    env.wait("the pod to end", lambda: not env.live_pods(), timeout=90, op=operator)
    done_at_pause = env.scalar("select rows_done from schemaop.schemaop_batches")
    assert 0 < done_at_pause < ROWS, "paused before the end"
    assert done_at_pause >= paused["rowsDone"]
    time.sleep(4)
    assert env.scalar("select rows_done from schemaop.schemaop_batches") == done_at_pause
    assert not env.active_jobs()
    assert "BackfillPaused" in {e.reason for e in env.events()}
    # The stopped Job never finishes, yet leaves its run record, saying why.
    runs = env.custom.list_namespaced_custom_object(
        "schemaop.io",
        "v1alpha1",
        env.ns,
        "schemamigrationruns",
        label_selector="schemaop.io/schemaversion=db",
    )["items"]
    stopped = [r["spec"] for r in runs if r["spec"].get("outcomeReason") == "Paused"]
    assert len(stopped) == 1 and stopped[0]["outcome"] == "Stopped", runs
    assert "spec.paused" in stopped[0]["outcomeMessage"]

    # Resume: a new Job continues from the position and completes the step.
    env.patch_sv({"spec": {"paused": False}})
    sv = env.wait_ready("2", operator, timeout=180)
    shown = env.wait(
        "dataMigration.completedAt",
        lambda: (s := env.data_migration()).get("completedAt") and s,
        timeout=60,
        op=operator,
    )
    assert shown["percent"] == 100 and shown["rowsDone"] == ROWS
    assert "paused" not in shown and "eta" not in shown
    # Exactly once: every row backfilled by one batch, one history row for step 2.
    assert env.scalar("select count(*) from items where touched <> 1") == 0
    assert (
        env.scalar("select count(*) from items where total_cents is distinct from total * 100") == 0
    )
    assert (
        env.scalar(
            "select count(*) from schemaop.schema_history where version = '2' and direction = 'up'"
        )
        == 1
    )
    assert [h["version"] for h in sv["status"]["history"]][:1] == ["2"]
    # No Job of the pause counts as a failure.
    assert "failure" not in sv["status"]
    assert not any(j.status.failed for j in env.jobs())
    # Metrics of the backfill, served by the operator.
    text = operator.get(operator.metrics_port, "/metrics")
    labels = f'name="db",namespace="{env.ns}"'
    assert f"schemaop_backfill_rows_done{{{labels}}} {float(ROWS)}" in text
    assert f"schemaop_backfill_running{{{labels}}} 0.0" in text
