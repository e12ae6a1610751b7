"""Crash at any point, short version (issue 15, part 3): a few trials of each fault.

kill -9 of the migration Job's process, and of the operator, at random points of a
transactional, a multi-step and a non-transactional plan, with PostgreSQL restarted
in one wave and the API server in the other (while the new operator starts); every
trial must converge with no manual step, each step applied exactly once, no stale
lock, no duplicate Job, status matching the database (tests/e2e/crash_support.py
says how each is checked).
The full suite (50+ trials of each fault) is ``make crash-suite``.

The seed is random per run and printed; ``SCHEMAOP_CRASH_SEED=N`` runs the same
trials again.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crash_support import Suite, plan_waves, report, run
from kube_support import Operator, apply_crds, operator_fixture

from devenv import cluster as devcluster
from devenv import pg as devpg


@pytest.fixture
def crash_operator(
    cluster: devcluster.Cluster, namespace: str, tmp_path: Path
) -> Iterator[Operator]:
    apply_crds(cluster)
    yield from operator_fixture(namespace, tmp_path / "operator.log", tail=80)


def test_crash_at_any_point_short(
    cluster: devcluster.Cluster,
    postgres: devpg.Postgres,
    kube: Any,
    namespace: str,
    crash_operator: Operator,
) -> None:
    seed = int(os.environ.get("SCHEMAOP_CRASH_SEED") or random.randrange(1_000_000))
    suite = Suite(cluster, postgres, kube, namespace, crash_operator)
    outcomes = list(run(suite, plan_waves(seed, per_fault=3, wave_size=3, short=True)))
    text = report(outcomes, seed)
    print(text)
    assert {o.trial.fault for o in outcomes} == {"job", "operator"}
    assert {o.wave_restart for o in outcomes} == {"apiserver", "postgres"}
    assert not any(o.violations for o in outcomes), text
