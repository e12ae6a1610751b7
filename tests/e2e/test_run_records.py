"""Run records end to end: SchemaMigrationRun on the real API server, written by the operator.

The record of each finished migration Job attempt outlives the Job (here deleted by
hand, as its TTL would), is readable with ``kubectl get smr``, is immutable, and
only the last ``--run-history-limit`` per SchemaVersion are kept.
"""

from __future__ import annotations

from typing import Any

import pytest
from kube_support import GROUP, VERSION, apply_crds, kubectl
from kubernetes import client
from kubernetes.client.rest import ApiException

from devenv import cluster as devcluster

PLURAL = "schemamigrationruns"


@pytest.fixture(scope="session")
def crds(cluster: devcluster.Cluster) -> None:
    apply_crds(cluster)


def _record(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SchemaMigrationRun",
        "metadata": {"name": name, "labels": {"schemaop.io/schemaversion": "db"}},
        "spec": {
            "schemaVersion": "db",
            "job": {"name": "db-0123456789-1"},
            "attempt": 1,
            "outcome": "Failed",
            "fromVersion": "1",
            "toVersion": "2",
            "duration": "1.5s",
        },
    }


def test_a_run_record_is_served_immutable_and_listed_by_kubectl(
    crds: None, kube: Any, namespace: str, cluster: devcluster.Cluster
) -> None:
    custom = client.CustomObjectsApi(kube)
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, _record("r1"))
    with pytest.raises(ApiException) as refused:
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "r1", {"spec": {"outcome": "Succeeded"}}
        )
    assert refused.value.status == 422 and "immutable" in str(refused.value.body)
    table = kubectl(cluster, "get", "smr", "-n", namespace, "-l", "schemaop.io/schemaversion=db")
    header, row = table.splitlines()[:2]
    assert header.split() == ["NAME", "SCHEMAVERSION", "OUTCOME", "FROM", "TO", "DURATION", "AGE"]
    assert row.split()[:6] == ["r1", "db", "Failed", "1", "2", "1.5s"]
    assert "r1" in kubectl(cluster, "get", "schemaop", "-n", namespace, "-o", "name")
