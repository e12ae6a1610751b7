"""Pure builders of the Kubernetes objects the operator creates (no I/O).

A migration run is an immutable ConfigMap holding the plan and a Job that runs
``schemaop job run --plan``; both are named from the SchemaVersion's name and
the plan's hash (plus the retry attempt for the Job), and owned by the
SchemaVersion, so a restarted operator computes the same names, finds what it
created before, and never starts a second Job for the same plan and attempt.

Credentials reach the Job only through ``secretKeyRef`` env vars: the plan, the
Job's args and its annotations never hold a secret.

A plan larger than one ConfigMap can hold (the API server refuses more than
1 MiB) is cut into parts, one ConfigMap each (``<name>-plan-<hash>``,
``...-2``, ...), all projected into the one plan directory; the Job then reads
the directory (``--plan DIR`` joins ``plan.json.000``, ``plan.json.001`` ... in
order). A plan that fits keeps the single ``plan.json``.

The Job is built as the operator's Job policy allows (:mod:`schemaop.model.jobpolicy`;
:func:`schemaop.decide.decide` refuses a SchemaVersion that asks for more before
any builder runs): no API token unless its ServiceAccount is one the policy lets
talk to the API, and the same confinement as the operator's own container.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

from schemaop.model.jobpolicy import JobPolicy
from schemaop.model.names import API_VERSION, GROUP, REQUIRE_AUTH_SCRAM
from schemaop.model.plan import Plan

LABEL_SCHEMAVERSION: Final = f"{GROUP}/schemaversion"
LABEL_PLAN: Final = f"{GROUP}/plan"
LABEL_ATTEMPT: Final = f"{GROUP}/attempt"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
PLAN_KEY: Final = "plan.json"
PLAN_MOUNT: Final = "/etc/schemaop/plan"
CONTAINER: Final = "migrate"
# The engine's exit code for "stopped on SIGTERM, nothing failed, progress kept"
# (schemaop.commands._support.EXIT_STOPPED; the commands layer is above this one).
EXIT_STOPPED: Final = 4
# Bytes of plan JSON per ConfigMap: under the API server's 1 MiB for data and keys,
# with room for the object's metadata.
PLAN_PART_BYTES: Final = 900 * 1024
SNAPSHOT_MOUNT: Final = "/var/lib/schemaop/snapshots"


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


def controlled_by(obj: Mapping[str, Any], uid: str) -> bool:
    """Whether ``obj``'s controller (its ownerReference with controller: true) is the
    object with ``uid``: labels can be copied by anyone who may create the kind in
    the namespace, the UID of the controller cannot be chosen."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return bool(uid) and any(r.get("controller") and r.get("uid") == uid for r in refs)


def _labels(schemaversion: str, plan_hash: str) -> dict[str, str]:
    return {
        LABEL_SCHEMAVERSION: schemaversion,
        LABEL_PLAN: plan_hash[:12],
        LABEL_MANAGED_BY: "schemaop",
    }


def plan_parts(plan: Plan, part_bytes: int = PLAN_PART_BYTES) -> list[str]:
    """The plan's JSON cut into parts of at most ``part_bytes`` UTF-8 bytes (one if it fits).

    Cuts fall between characters, never inside one, so each part is valid text.
    """
    text = plan.to_json()
    data = text.encode()
    if len(data) <= part_bytes:
        return [text]
    parts, start = [], 0
    while start < len(data):
        end = min(start + part_bytes, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # a UTF-8 continuation byte
            end -= 1
        parts.append(data[start:end].decode())
        start = end
    return parts


def plan_part_key(index: int) -> str:
    return f"{PLAN_KEY}.{index:03d}"


def plan_part_names(schemaversion: str, plan_hash: str, count: int) -> list[str]:
    first = plan_configmap_name(schemaversion, plan_hash)
    return [first] + [
        dns_name(schemaversion, "plan", plan_hash[:12], str(i + 1), max_len=253)
        for i in range(1, count)
    ]


def build_plan_configmaps(
    schemaversion: Mapping[str, Any], plan: Plan, part_bytes: int = PLAN_PART_BYTES
) -> list[dict[str, Any]]:
    """The immutable ConfigMap(s) holding the plan: one, or one per part of a large plan."""
    meta = schemaversion["metadata"]
    parts = plan_parts(plan, part_bytes)
    names = plan_part_names(meta["name"], plan.hash, len(parts))
    out = []
    for i, (name, part) in enumerate(zip(names, parts, strict=True)):
        out.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": name,
                    "namespace": meta["namespace"],
                    "labels": _labels(meta["name"], plan.hash),
                    "ownerReferences": [owner_reference(schemaversion)],
                },
                "immutable": True,
                "data": {PLAN_KEY if len(parts) == 1 else plan_part_key(i): part},
            }
        )
    return out


def build_plan_configmap(schemaversion: Mapping[str, Any], plan: Plan) -> dict[str, Any]:
    """The plan's one ConfigMap (a plan that fits; see :func:`build_plan_configmaps`)."""
    return build_plan_configmaps(schemaversion, plan)[0]


def _plan_volume(schemaversion: str, plan_hash: str, parts: int) -> tuple[dict[str, Any], str]:
    """The plan volume and the ``--plan`` argument for a plan of ``parts`` ConfigMaps."""
    names = plan_part_names(schemaversion, plan_hash, parts)
    if parts == 1:
        return {"name": "plan", "configMap": {"name": names[0]}}, f"{PLAN_MOUNT}/{PLAN_KEY}"
    sources = [{"configMap": {"name": name}} for name in names]
    return {"name": "plan", "projected": {"sources": sources}}, PLAN_MOUNT


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
        # The host is the SchemaVersion's: send the password only by SCRAM (libpq 16+
        # reads PGREQUIREAUTH; the engine refuses to connect with an older libpq).
        env.append({"name": "PGREQUIREAUTH", "value": REQUIRE_AUTH_SCRAM})
    return env


def _secret_env(name: str, ref: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": ref["name"], "key": ref["key"]}}}


def build_job(
    schemaversion: Mapping[str, Any],
    plan: Plan,
    attempt: int,
    policy: JobPolicy,
    plan_parts_count: int = 1,
) -> dict[str, Any]:
    """The migration Job for one plan and attempt (``plan_parts_count`` plan ConfigMaps)."""
    meta = schemaversion["metadata"]
    spec = schemaversion.get("spec", {})
    overrides: Mapping[str, Any] = spec.get("job", {}) or {}
    name = job_name(meta["name"], plan.hash, attempt)
    labels = {**_labels(meta["name"], plan.hash), LABEL_ATTEMPT: str(attempt)}
    pod_labels = {**dict(overrides.get("podLabels", {})), **labels}
    plan_volume, plan_arg = _plan_volume(meta["name"], plan.hash, plan_parts_count)
    volumes: list[dict[str, Any]] = [plan_volume, {"name": "tmp", "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [
        {"name": "plan", "mountPath": PLAN_MOUNT, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir for a read-only root
    ]
    snapshot = spec.get("snapshot", {}) or {}
    if snapshot.get("policy") == "Full" and snapshot.get("volume"):
        # The name last: the volume's own keys must not rename it away from its mount.
        volumes.append({**dict(snapshot["volume"]), "name": "snapshots"})
        mounts.append({"name": "snapshots", "mountPath": SNAPSHOT_MOUNT})
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": policy.image_for(spec),
        "imagePullPolicy": "IfNotPresent",
        "args": ["job", "run", "--plan", plan_arg],
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
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if overrides.get("resources"):
        container["resources"] = dict(overrides["resources"])
    service_account = policy.service_account_for(spec)
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [container],
        "volumes": volumes,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        # A Job talks to PostgreSQL; an API token only for an account the policy names.
        "automountServiceAccountToken": policy.mounts_token(service_account),
    }
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
    # SIGTERM (a node drained, a pod evicted) stops a batched data migration between
    # two batches with EXIT_STOPPED: not a failure, a new pod continues from its position.
    job_spec["podFailurePolicy"] = {
        "rules": [
            {
                "action": "Ignore",
                "onExitCodes": {
                    "containerName": CONTAINER,
                    "operator": "In",
                    "values": [EXIT_STOPPED],
                },
            }
        ]
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
            "annotations": {f"{GROUP}/plan-hash": plan.hash},
            "ownerReferences": [owner_reference(schemaversion)],
        },
        "spec": job_spec,
    }
