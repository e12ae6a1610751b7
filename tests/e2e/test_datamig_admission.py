"""Batched SchemaMigrations at admission: the CRD's schema and CEL rules on a real API server."""

from __future__ import annotations

from typing import Any

import pytest
from kube_support import GROUP, VERSION, apply_crds, migration_body
from kubernetes import client
from kubernetes.client.rest import ApiException

from devenv import cluster as devcluster

UP = "UPDATE orders SET c = 1 WHERE id BETWEEN :lo_id AND :hi_id"


@pytest.fixture(scope="module")
def crds(cluster: devcluster.Cluster) -> None:
    apply_crds(cluster)


def _create(kube: Any, namespace: str, body: dict[str, Any]) -> None:
    client.CustomObjectsApi(kube).create_namespaced_custom_object(
        GROUP, VERSION, namespace, "schemamigrations", body
    )


def test_batched_schemamigration_is_admitted(crds: None, kube: Any, namespace: str) -> None:
    batched = {
        "table": "public.orders",
        "key": ["tenant_id", "id"],
        "targetBatchDuration": "250ms",
        "pause": "0s",
        "initialBatchSize": 500,
        "maxBatchSize": 20000,
        "down": True,
    }
    _create(kube, namespace, migration_body("4", UP, UP, batched=batched))


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"transactional": False}, "cannot be transactional: false"),
        ({"batched": {"table": "orders", "key": ["id"], "down": True}}, "no down SQL"),
        (
            {
                "batched": {
                    "table": "orders",
                    "key": ["id"],
                    "minBatchSize": 100,
                    "maxBatchSize": 50,
                }
            },
            "minBatchSize must not exceed maxBatchSize",
        ),
        (
            {"batched": {"table": "orders", "key": ["id"], "initialBatchSize": 5}},
            "initialBatchSize must be between",
        ),
        (
            {"batched": {"table": "orders", "key": ["id"], "targetBatchDuration": "2m"}},
            "targetBatchDuration must be between",
        ),
        ({"batched": {"table": "a.b.c", "key": ["id"]}}, "spec.batched.table"),
        ({"batched": {"table": "orders", "key": []}}, "spec.batched.key"),
    ],
)
def test_bad_batched_schemamigration_is_refused(
    crds: None, kube: Any, namespace: str, spec: dict[str, Any], needle: str
) -> None:
    body = migration_body("5", UP, **{"batched": {"table": "orders", "key": ["id"]}, **spec})
    with pytest.raises(ApiException) as info:
        _create(kube, namespace, body)
    assert info.value.status == 422
    assert needle in str(info.value.body)
