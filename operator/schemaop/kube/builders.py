"""Pure builders of the Kubernetes objects the operator creates (no I/O).

A migration run is an immutable ConfigMap holding the plan and a Job that runs
``schemaop job run --plan``; both are named from the SchemaVersion's name and
the plan's hash (plus the retry attempt for the Job), and owned by the
SchemaVersion, so a restarted operator computes the same names, finds what it
created before, and never starts a second Job for the same plan and attempt.

Credentials reach the Job only through ``secretKeyRef`` env vars: the plan, the
Job's args and its annotations never hold a secret.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

from schemaop.model.plan import Plan

GROUP: Final = "schemaop.io"
API_VERSION: Final = "schemaop.io/v1alpha1"
LABEL_SCHEMAVERSION: Final = "schemaop.io/schemaversion"
LABEL_PLAN: Final = "schemaop.io/plan"
LABEL_ATTEMPT: Final = "schemaop.io/attempt"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
ANNOTATION_APPROVED_PLAN: Final = "schemaop.io/approved-plan"
PLAN_KEY: Final = "plan.json"
PLAN_MOUNT: Final = "/etc/schemaop/plan"
CONTAINER: Final = "migrate"


def dns_name(*parts: str, max_len: int = 63) -> str:
    """A DNS-1123 label from parts; a long one is cut and made unique by a hash."""
    name = "-".join(p.strip("-").lower() for p in parts if p)
    if len(name) <= max_len:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: max_len - 9].rstrip('-')}-{digest}"


def plan_configmap_name(schemaversion: str, plan_hash: str) -> str:
    return dns_name(schemaversion, "plan", plan_hash[:12], max_len=253)


def job_name(schemaversion: str, plan_hash: str, attempt: int) -> str:
    # Job names feed the pods' job-name label: 63 characters at most.
    return dns_name(schemaversion, plan_hash[:10], str(attempt))


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    meta = owner["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": "SchemaVersion",
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _labels(schemaversion: str, plan_hash: str) -> dict[str, str]:
    return {
        LABEL_SCHEMAVERSION: schemaversion,
        LABEL_PLAN: plan_hash[:12],
        LABEL_MANAGED_BY: "schemaop",
    }


def build_plan_configmap(schemaversion: Mapping[str, Any], plan: Plan) -> dict[str, Any]:
    meta = schemaversion["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": plan_configmap_name(meta["name"], plan.hash),
            "namespace": meta["namespace"],
            "labels": _labels(meta["name"], plan.hash),
            "ownerReferences": [owner_reference(schemaversion)],
        },
        "immutable": True,
        "data": {PLAN_KEY: plan.to_json()},
    }


def connection_env(connection: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Env vars that give the Job its database, secrets by reference only.

    ``urlFrom`` becomes ``DATABASE_URL``; host/port/dbname/user/sslmode become
    libpq's own ``PG*`` variables, with ``PGPASSWORD`` from ``passwordFrom``.
    """
    if "urlFrom" in connection:
        ref = connection["urlFrom"]["secretKeyRef"]
        return [_secret_env("DATABASE_URL", ref)]
    env = [
        {"name": "PGHOST", "value": str(connection["host"])},
        {"name": "PGPORT", "value": str(connection.get("port", 5432))},
        {"name": "PGDATABASE", "value": str(connection["dbname"])},
        {"name": "PGUSER", "value": str(connection["user"])},
    ]
    if connection.get("sslmode"):
        env.append({"name": "PGSSLMODE", "value": str(connection["sslmode"])})
    if "passwordFrom" in connection:
        env.append(_secret_env("PGPASSWORD", connection["passwordFrom"]["secretKeyRef"]))
    return env


def _secret_env(name: str, ref: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": ref["name"], "key": ref["key"]}}}


def build_job(
    schemaversion: Mapping[str, Any],
    plan: Plan,
    attempt: int,
    default_image: str,
    default_service_account: str | None = None,
) -> dict[str, Any]:
    """The migration Job for one plan and attempt."""
    meta = schemaversion["metadata"]
    spec = schemaversion.get("spec", {})
    overrides: Mapping[str, Any] = spec.get("job", {}) or {}
    name = job_name(meta["name"], plan.hash, attempt)
    labels = {**_labels(meta["name"], plan.hash), LABEL_ATTEMPT: str(attempt)}
    pod_labels = {**dict(overrides.get("podLabels", {})), **labels}
    volumes: list[dict[str, Any]] = [
        {"name": "plan", "configMap": {"name": plan_configmap_name(meta["name"], plan.hash)}},
        {"name": "tmp", "emptyDir": {}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "plan", "mountPath": PLAN_MOUNT, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir for a read-only root
    ]
    snapshot = spec.get("snapshot", {}) or {}
    if snapshot.get("policy") == "Full" and snapshot.get("volume"):
        volumes.append({"name": "snapshots", **dict(snapshot["volume"])})
        mounts.append({"name": "snapshots", "mountPath": "/var/lib/schemaop/snapshots"})
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": overrides.get("image") or default_image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["job", "run", "--plan", f"{PLAN_MOUNT}/{PLAN_KEY}"],
        "env": [
            *connection_env(spec["connection"]),
            {"name": "SCHEMAOP_JOB", "value": name},
        ],
        "volumeMounts": mounts,
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if overrides.get("resources"):
        container["resources"] = dict(overrides["resources"])
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [container],
        "volumes": volumes,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    }
    service_account = overrides.get("serviceAccountName") or default_service_account
    if service_account:
        pod_spec["serviceAccountName"] = service_account
    if overrides.get("nodeSelector"):
        pod_spec["nodeSelector"] = dict(overrides["nodeSelector"])
    if overrides.get("tolerations"):
        pod_spec["tolerations"] = list(overrides["tolerations"])
    job_spec: dict[str, Any] = {
        # The operator retries with its own capped backoff (and a new attempt
        # number), so the Job itself does not retry unless asked to.
        "backoffLimit": int(overrides.get("backoffLimit", 0)),
        "template": {
            "metadata": {
                "labels": pod_labels,
                "annotations": dict(overrides.get("podAnnotations", {})),
            },
            "spec": pod_spec,
        },
    }
    if overrides.get("activeDeadlineSeconds"):
        job_spec["activeDeadlineSeconds"] = int(overrides["activeDeadlineSeconds"])
    if overrides.get("ttlSecondsAfterFinished") is not None:
        job_spec["ttlSecondsAfterFinished"] = int(overrides["ttlSecondsAfterFinished"])
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": {"schemaop.io/plan-hash": plan.hash},
            "ownerReferences": [owner_reference(schemaversion)],
        },
        "spec": job_spec,
    }
