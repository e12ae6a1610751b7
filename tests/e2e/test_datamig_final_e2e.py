"""A plan whose batched steps begin and complete between two looks of the operator:
once its Job has ended, status.dataMigration shows the final row of the last batched
step it ran (completedAt set, every row of the table), not an earlier step's row or
nothing (Reconciler._progress_due: one final read after the Job ends).

Real API server, Job controller and PostgreSQL, as tests/e2e/test_datamig_e2e.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_support import operator_fixture
from test_operator import Env, Operator, crds  # noqa: F401 (crds: the fixture)

ROWS = 500
# One batch per step: each completes in milliseconds, well within a look (10 s).
BATCHED = {
    "table": "public.items",
    "key": ["id"],
    "initialBatchSize": 1000,
    "maxBatchSize": 1000,
}


@pytest.fixture
def fr(kube: Any, namespace: str, database: str) -> Env:
    return Env(kube, namespace, database)


@pytest.fixture
def fr_operator(
    request: pytest.FixtureRequest, namespace: str, tmp_path: Path
) -> Iterator[Operator]:
    request.getfixturevalue("crds")
    yield from operator_fixture(namespace, tmp_path / "operator.log")


def test_a_quick_batched_plan_shows_its_last_steps_final_row(
    fr: Env, fr_operator: Operator
) -> None:
    env, operator = fr, fr_operator
    env.secret()
    env.migration(
        "1",
        "create table items (id bigint primary key, total int not null, total_cents bigint,"
        " doubled bigint);"
        f" insert into items (id, total) select g, g % 1000 from generate_series(1, {ROWS}) g",
        "drop table items",
    )
    env.migration(
        "2",
        "UPDATE public.items SET total_cents = total * 100 WHERE id BETWEEN :lo_id AND :hi_id",
        batched=BATCHED,
    )
    env.migration(
        "3",
        "UPDATE public.items SET doubled = total * 2 WHERE id BETWEEN :lo_id AND :hi_id",
        batched=BATCHED,
    )
    # (No snapshot: the plan's Job does nothing but its three steps.)
    env.schemaversion(snapshot={"policy": "None"})
    env.wait_ready("3", operator, timeout=180)
    # The Job has ended: its final read (made on the look that saw it end) shows step 3.
    shown = env.wait(
        "dataMigration of step 3, completed",
        lambda: (s := env.data_migration()).get("version") == "3" and s.get("completedAt") and s,
        timeout=30,
        op=operator,
    )
    assert shown["direction"] == "up" and shown["percent"] == 100
    assert shown["rowsDone"] == ROWS == env.scalar("select count(*) from items")
    assert shown["rowsDone"] == env.scalar(
        "select rows_done from schemaop.schemaop_batches where version = '3'"
    )
    assert env.scalar("select count(*) from items where doubled is distinct from total * 2") == 0
    assert len(env.jobs()) == 1
