"""A failed migration Job deleted by its ttlSecondsAfterFinished, on the real API
server and Job and TTL controllers: the operator does not run the plan again as
attempt 1; status.retry keeps how its attempts ended."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_support import operator_fixture
from test_operator import Env, Operator, crds  # noqa: F401 (crds: the fixture)


@pytest.fixture
def ttl_operator(crds: None, namespace: str, tmp_path: Path) -> Iterator[Operator]:  # noqa: F811
    yield from operator_fixture(namespace, tmp_path / "operator.log")


def test_a_failed_job_deleted_by_its_ttl_is_not_run_again(
    kube: Any, namespace: str, database: str, ttl_operator: Operator
) -> None:
    env, operator = Env(kube, namespace, database), ttl_operator
    env.secret()
    env.migration("1", "create tabel a (id int)", name="broken")
    # Long enough for the operator to read the failed pod's summary on a busy machine.
    env.schemaversion(job={"ttlSecondsAfterFinished": 20})
    env.wait_reason("Stalled", "True", "MigrationFailed", operator)
    retry = env.sv()["status"]["retry"]
    assert (retry["attempt"], retry["retryable"]) == (1, False)
    # The TTL controller deletes it (the operator sees the deletion and reconciles).
    env.wait("the TTL to delete the Job", lambda: not env.jobs(), timeout=90, op=operator)
    time.sleep(10)
    assert env.jobs() == [], "the failed plan was run again"
    stalled = env.condition("Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "MigrationFailed")
    assert "syntax error" in stalled["message"]
    status: dict[str, Any] = env.sv()["status"]
    assert status["retry"]["attempt"] == 1
    runs = env.custom.list_namespaced_custom_object(
        "schemaop.io", "v1alpha1", env.ns, "schemamigrationruns"
    )["items"]
    assert [r["spec"]["attempt"] for r in runs] == [1]  # one Job ran, once
