"""What the operator keeps per SchemaVersion from its watches (operator/handlers.py,
operator/reconcile.py): the index copies of SchemaMigrations and Jobs and the kept
connection Secrets hold what a reconciliation reads, not ``managedFields`` nor
kubectl's copy of the whole object in an annotation, which at 1,000 SchemaVersions
are most of what the indices would hold (docs/benchmarks.md, Third pass)."""

from __future__ import annotations

import copy
import json
from typing import Any

from schemaop.operator import handlers
from schemaop.operator.reconcile import LAST_APPLIED, kept_secret

NS = "ns"


def _managed_fields(spec: dict[str, Any]) -> list[dict[str, Any]]:
    fields = {f"f:{k}": {} for k in spec}
    return [
        {"manager": m, "operation": "Update", "fieldsV1": {"f:spec": fields, "f:status": fields}}
        for m in ("kubectl", "schemaop", "kopf")
    ]


def _migration(version: int) -> dict[str, Any]:
    spec = {
        "schemaVersionRef": {"name": "db"},
        "version": str(version),
        "up": f"create table t{version} (id bigint primary key, note text)",
        "down": f"drop table t{version}",
    }
    obj = {
        "apiVersion": "schemaop.io/v1alpha1",
        "kind": "SchemaMigration",
        "metadata": {
            "name": f"db-v{version}",
            "namespace": NS,
            "uid": f"u{version}",
            "resourceVersion": "7",
            "annotations": {"team": "payments"},
            "managedFields": _managed_fields(spec),
        },
        "spec": spec,
        "status": {"applied": True, "checksum": "ab" * 32},
    }
    obj["metadata"]["annotations"][LAST_APPLIED] = json.dumps(obj)
    return obj


def test_an_indexed_schemamigration_keeps_what_is_read_and_not_the_rest() -> None:
    body = _migration(1)
    entry = handlers.migrations_by_schemaversion(NS, copy.deepcopy(body), body["spec"])
    assert entry is not None
    kept = entry[(NS, "db")]
    assert kept["spec"] == body["spec"] and kept["status"] == body["status"]
    assert kept["metadata"]["annotations"] == {"team": "payments"}
    assert "managedFields" not in kept["metadata"]
    assert kept["metadata"]["resourceVersion"] == "7"
    # A copy: the watch's body changing later does not change it.
    assert kept["spec"] is not body["spec"]
    assert len(json.dumps(kept)) * 3 < len(json.dumps(body))


def test_an_indexed_job_keeps_its_metadata_and_status_only() -> None:
    body = {
        "metadata": {
            "name": "db-job",
            "uid": "j",
            "labels": {handlers.LABEL_SCHEMAVERSION: "db"},
            "managedFields": _managed_fields({"template": 1}),
        },
        "spec": {"template": {"spec": {"containers": [{"name": "migrate", "env": []}]}}},
        "status": {"active": 1},
    }
    entry = handlers.jobs_by_schemaversion(NS, body, body["metadata"]["labels"])
    assert entry == {
        (NS, "db"): {
            "metadata": {"name": "db-job", "uid": "j", "labels": body["metadata"]["labels"]},
            "status": {"active": 1},
        }
    }


def test_a_kept_secret_holds_its_data_labels_and_annotations_only() -> None:
    secret = {
        "metadata": {
            "name": "db",
            "resourceVersion": "3",
            "labels": {"app": "x"},
            "annotations": {"schemaop.io/allowed-hosts": "db", LAST_APPLIED: '{"data": "x"}'},
            "managedFields": _managed_fields({"data": 1}),
        },
        "data": {"url": "cG9zdGdyZXM="},
        "type": "Opaque",
    }
    assert kept_secret(secret) == {
        "metadata": {
            "labels": {"app": "x"},
            "annotations": {"schemaop.io/allowed-hosts": "db"},
            "resourceVersion": "3",
        },
        "data": {"url": "cG9zdGdyZXM="},
    }


async def test_the_schemaversion_kopf_keeps_has_no_managed_fields_or_last_applied_copy() -> None:
    class Memo:
        triggers: dict[Any, Any] = {}
        seen: dict[Any, Any] = {}

    raw = {
        "metadata": {
            "name": "db",
            "namespace": NS,
            "generation": 1,
            "annotations": {"schemaop.io/approve": "abc", LAST_APPLIED: "{...}"},
            "managedFields": _managed_fields({"connection": 1}),
        },
        "spec": {"connection": {}},
    }
    memo = Memo()
    await handlers.schemaversion_changed(
        name="db",
        namespace=NS,
        meta=raw["metadata"],
        memo=memo,
        event={"type": "ADDED", "object": raw},
    )
    # The event's object is what kopf keeps as the daemon's body.
    assert raw["metadata"] == {
        "name": "db",
        "namespace": NS,
        "generation": 1,
        "annotations": {"schemaop.io/approve": "abc"},
    }
    assert memo.seen[(NS, "db")] == (1, {"schemaop.io/approve": "abc"})


# -- kopf's diff base ---------------------------------------------------------


class _NoCopy:
    """Fails if copied: stands for the part of an object the diff base drops."""

    def __deepcopy__(self, memo: Any) -> Any:
        raise AssertionError("copied what the diff base throws away")


def _bodies() -> list[dict[str, Any]]:
    sv = {
        "apiVersion": "schemaop.io/v1alpha1",
        "kind": "SchemaVersion",
        "metadata": {
            "name": "db",
            "namespace": NS,
            "uid": "u",
            "resourceVersion": "7",
            "generation": 3,
            "labels": {"app": "orders", "empty": ""},
            "annotations": {
                "schemaop.io/approved-plan": "abc",
                LAST_APPLIED: '{"kind": "SchemaVersion"}',
                # kopf's own and another kopf operator's (marked) storage keys
                "schemaop.io/last-handled-configuration": "{}",
                "other.example/schemaversion-handler": "{}",
                "other.example/kopf-managed": "yes",
            },
            "finalizers": ["schemaop.io/finalizer"],
            "managedFields": _managed_fields({"target": "3"}),
        },
        "spec": {"target": "3", "connection": {"urlFrom": {"secretKeyRef": {"name": "s"}}}},
        "status": {"currentVersion": "2", "conditions": [{"type": "Ready"}]},
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "db-1",
            "namespace": NS,
            "labels": {"schemaop.io/schemaversion": "db"},
            "ownerReferences": [{"kind": "SchemaVersion", "name": "db", "uid": "u"}],
        },
        "spec": {"template": {"spec": {"containers": [{"name": "migrate", "args": ["job"]}]}}},
        "status": {"active": 1},
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": NS},
        "data": {"url": "cG9zdGdyZXM6Ly8="},
        "type": "Opaque",
    }
    bare = {"kind": "ConfigMap", "metadata": {}, "data": {}}
    # kopf marks its keys on a ReplicaSet owned by a Deployment (mark_key).
    replicaset = {
        "kind": "ReplicaSet",
        "metadata": {
            "name": "app-1",
            "ownerReferences": [{"kind": "Deployment", "name": "app", "uid": "d"}],
            "annotations": {
                "schemaop.io/last-handled-configuration-ofDRS": "{}",
                "schemaop.io/last-handled-configuration": "{}",
                "deployment.kubernetes.io/revision": "2",
            },
        },
        "spec": {"replicas": 1},
        "status": {"replicas": 1},
    }
    return [sv, job, secret, bare, replicaset]


def test_the_slim_diff_base_is_kopfs_essence() -> None:
    import kopf

    kopfs = kopf.AnnotationsDiffBaseStorage(prefix="schemaop.io")
    slim = handlers.SlimDiffBase(prefix="schemaop.io")
    for raw in _bodies():
        body = kopf.Body(copy.deepcopy(raw))
        assert slim.build(body=body) == kopfs.build(body=body), raw["kind"]
        assert slim.build(body=body, extra_fields=["status.currentVersion"]) == kopfs.build(
            body=body, extra_fields=["status.currentVersion"]
        )
        # The object kopf keeps is not changed by it.
        assert dict(body) == raw
    # A long prefix (kopf's v1 and v2 keys differ) and ignored fields.
    prefix = "a-very-long-operator-prefix.schemaop.example.com"
    for ignored in ([], ["spec.target", "metadata.labels"]):
        kopfs = kopf.AnnotationsDiffBaseStorage(prefix=prefix, ignored_fields=ignored)
        slim = handlers.SlimDiffBase(prefix=prefix, ignored_fields=ignored)
        for raw in _bodies():
            raw["metadata"].setdefault("annotations", {})[
                f"{prefix}/last-handled-configuration"
            ] = "{}"
            body = kopf.Body(raw)
            assert slim.build(body=body) == kopfs.build(body=body), raw["kind"]


def test_the_slim_diff_base_copies_neither_status_nor_managed_fields() -> None:
    import kopf

    sv = _bodies()[0]
    sv["status"]["big"] = _NoCopy()
    sv["metadata"]["managedFields"] = [_NoCopy()]
    essence = handlers.SlimDiffBase(prefix="schemaop.io").build(body=kopf.Body(sv))
    assert essence["spec"] == sv["spec"] and essence["spec"] is not sv["spec"]
    assert "status" not in essence


def test_the_operator_uses_the_slim_diff_base() -> None:
    from pathlib import Path

    source = Path(handlers.__file__).parents[1] / "commands" / "operator.py"
    assert "diffbase_storage = handlers.SlimDiffBase(" in source.read_text()
