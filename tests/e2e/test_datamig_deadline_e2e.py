"""A batched backfill longer than spec.job.activeDeadlineSeconds: the Job controller
stops it again and again (SIGTERM: the engine commits its batch and stops), each
attempt continues from the progress row, none of those that advanced it counts
toward the DeadlineExceeded stall, and the step completes with every row updated
exactly once.

Real API server, Job controller and PostgreSQL, as tests/e2e/test_datamig_e2e.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kube_support import operator_fixture
from test_operator import Env, Operator, crds  # noqa: F401 (crds: the fixture)

# 36 batches of 10 rows, at least 1 s apart (the pause): an attempt of DEADLINE
# seconds commits at most DEADLINE of them, so the step needs at least 5 attempts,
# 4 of them stopped by the deadline, whatever the machine's speed.
ROWS = 360
BATCH = 10
DEADLINE = 8


@pytest.fixture
def dl(kube: Any, namespace: str, database: str) -> Env:
    return Env(kube, namespace, database)


@pytest.fixture
def dl_operator(
    request: pytest.FixtureRequest, namespace: str, tmp_path: Path
) -> Iterator[Operator]:
    request.getfixturevalue("crds")
    yield from operator_fixture(namespace, tmp_path / "operator.log")


def _deadline_stops(env: Env) -> list[str]:
    return [
        j.metadata.name
        for j in env.jobs()
        if any(
            c.type == "Failed" and c.status == "True" and c.reason == "DeadlineExceeded"
            for c in j.status.conditions or []
        )
    ]


def test_a_backfill_longer_than_its_deadline_goes_on_to_ready(
    dl: Env, dl_operator: Operator
) -> None:
    env, operator = dl, dl_operator
    with psycopg.connect(env.dsn, autocommit=True) as conn:
        conn.execute(
            "create table items (id bigint primary key, total int not null, total_cents bigint,"
            " touched int not null default 0);"
            f" insert into items (id, total) select g, g % 1000 from generate_series(1, {ROWS}) g"
        )
    env.secret()
    # Not idempotent on purpose: a batch applied twice leaves touched = 2 somewhere.
    env.migration(
        "1",
        "UPDATE public.items SET total_cents = total * 100, touched = touched + 1"
        " WHERE id BETWEEN :lo_id AND :hi_id",
        batched={
            "table": "public.items",
            "key": ["id"],
            "initialBatchSize": BATCH,
            "minBatchSize": BATCH,
            "maxBatchSize": BATCH,
            "pause": "1s",
        },
    )
    # (No snapshot: a pg_dump at the start of every attempt would only eat its deadline.)
    env.schemaversion(job={"activeDeadlineSeconds": DEADLINE}, snapshot={"policy": "None"})

    # Ready at 1, never Stalled on the way, however many deadlines it takes.
    most_in_a_row = 0

    def ready() -> Any:
        nonlocal most_in_a_row
        sv = env.sv()
        status = sv.get("status") or {}
        most_in_a_row = max(most_in_a_row, int((status.get("retry") or {}).get("stoppedInARow", 0)))
        for c in status.get("conditions") or []:
            if c["type"] == "Stalled" and c["status"] == "True":
                raise AssertionError(f"stalled: {c}; status: {status}")
            if c["type"] == "Ready" and c["status"] == "True":
                return sv if status.get("currentVersion") == "1" else None
        return None

    started = time.monotonic()
    sv = env.wait("Ready at 1", ready, timeout=300, op=operator)
    took = time.monotonic() - started
    stops = _deadline_stops(env)
    print(f"Ready after {took:.0f}s, {len(stops)} deadline stop(s), {len(env.jobs())} Job(s)")
    assert len(stops) >= 4, stops
    assert most_in_a_row < 3
    # Exactly once: every row backfilled by one batch, one history row for the step.
    assert env.scalar("select count(*) from items where touched <> 1") == 0
    assert (
        env.scalar("select count(*) from items where total_cents is distinct from total * 100") == 0
    )
    assert (
        env.scalar(
            "select count(*) from schemaop.schema_history where version = '1' and direction = 'up'"
        )
        == 1
    )
    assert env.scalar("select batches_done from schemaop.schemaop_batches") >= ROWS // BATCH
    assert "retry" not in sv["status"] and "failure" not in sv["status"]
    # The Events of the attempts after a stop say why they were started.
    started_events = [e.message for e in env.events() if e.reason == "MigrationStarted"]
    continued = [m for m in started_events if "stopped by spec.job.activeDeadlineSeconds" in m]
    assert continued, started_events
    assert f"({DEADLINE}s) after " in continued[0] and "continues from there" in continued[0]
