"""Smoke tests that prove the e2e ground: the real control plane serves CRDs, and
the local pod runner runs this project's containers so that the real Job
controller completes or fails Jobs, with env, volumes, in-cluster credentials
and termination messages as in a real cluster, and refuses foreign images.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

import schemaop


def _job(
    name: str, container: dict[str, Any], backoff_limit: int = 0, **pod: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "schemaop:dev", **container}],
                    **pod,
                }
            },
        },
    }


def _pod(name: str, container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "schemaop:dev", **container}],
            **spec,
        },
    }


def _job_pods(kube: Any, namespace: str, job: str) -> list[Any]:
    pods = client.CoreV1Api(kube).list_namespaced_pod(namespace, label_selector=f"job-name={job}")
    return sorted(pods.items, key=lambda p: p.metadata.creation_timestamp)


def test_crd_is_applied_and_served(kube: Any, namespace: str) -> None:
    group = f"g{uuid.uuid4().hex[:8]}.e2e.schemaop.io"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["size"],
                                    "properties": {"size": {"type": "integer", "minimum": 1}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    extensions = client.ApiextensionsV1Api(kube)
    extensions.create_custom_resource_definition(crd)
    try:
        custom = client.CustomObjectsApi(kube)
        body = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w"}}
        deadline = time.monotonic() + 30
        while True:  # served once the CRD is Established and discovery caught up
            try:
                custom.create_namespaced_custom_object(
                    group, "v1", namespace, "widgets", {**body, "spec": {"size": 3}}
                )
                break
            except ApiException as exc:
                if exc.status != 404 or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        got = custom.get_namespaced_custom_object(group, "v1", namespace, "widgets", "w")
        assert got["spec"] == {"size": 3}
        with pytest.raises(ApiException) as invalid:  # the schema is enforced
            custom.create_namespaced_custom_object(
                group,
                "v1",
                namespace,
                "widgets",
                {**body, "metadata": {"name": "bad"}, "spec": {"size": 0}},
            )
        assert invalid.value.status == 422
    finally:
        extensions.delete_custom_resource_definition(f"widgets.{group}")


def test_job_running_schemaop_version_completes(
    kube: Any, cluster: Any, namespace: str, wait_job: Any, pod_log: Any
) -> None:
    client.BatchV1Api(kube).create_namespaced_job(namespace, _job("version", {"args": ["version"]}))
    assert wait_job(namespace, "version") == "Complete"
    (pod,) = _job_pods(kube, namespace, "version")
    assert pod.status.phase == "Succeeded"
    assert pod.status.container_statuses[0].state.terminated.exit_code == 0
    assert pod_log(namespace, pod.metadata.name).strip() == f"schemaop {schemaop.__version__}"
    # `kubectl logs` works too: the API server asks the pod runner's kubelet endpoint.
    logs = cluster.kubectl("logs", "-n", namespace, "job/version").stdout
    assert logs.strip() == f"schemaop {schemaop.__version__}"


def test_failing_job_is_failed_after_backoff_limit(
    kube: Any, namespace: str, wait_job: Any
) -> None:
    script = "echo 'plan step 3 failed' > /dev/termination-log; exit 1"
    job = _job("fails", {"command": ["sh", "-c", script]}, backoff_limit=1)
    client.BatchV1Api(kube).create_namespaced_job(namespace, job)
    # The Job controller waits ~10 s before its second try.
    assert wait_job(namespace, "fails", timeout=90) == "Failed"
    status = client.BatchV1Api(kube).read_namespaced_job("fails", namespace).status
    failed = next(c for c in status.conditions if c.type == "Failed")
    assert failed.reason == "BackoffLimitExceeded"
    assert status.failed == 2
    pods = _job_pods(kube, namespace, "fails")
    assert len(pods) == 2
    for pod in pods:
        assert pod.status.phase == "Failed"
        terminated = pod.status.container_statuses[0].state.terminated
        assert terminated.exit_code == 1
        assert terminated.message.strip() == "plan step 3 failed"


def test_secret_and_configmap_reach_the_process(
    kube: Any, namespace: str, wait_pod: Any, pod_log: Any
) -> None:
    core = client.CoreV1Api(kube)
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": "db"}, "stringData": {"url": "postgresql://u:pw@h/db"}}
    )
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "plan"}, "data": {"plan.json": '{"steps": 2}'}}
    )
    check = (
        "import os, sys, pathlib\n"
        "ok = os.environ['DATABASE_URL'] == 'postgresql://u:pw@h/db'\n"
        "ok &= os.environ['PLAN_STEPS_FILE'] == '/etc/schemaop/plan/plan.json'\n"
        "ok &= pathlib.Path('/etc/schemaop/plan/plan.json').read_text() == '{\"steps\": 2}'\n"
        "ok &= pathlib.Path('/etc/schemaop/db/url').read_text().startswith('postgresql://')\n"
        "ok &= os.environ['POD_NAMESPACE'] == os.environ['EXPECTED_NAMESPACE']\n"
        "ok &= pathlib.Path('/tmp/plan/plan.json').exists()\n"
        "pathlib.Path('/tmp/scratch').write_text('x')\n"
        "print('env and volumes ok' if ok else 'mismatch')\n"
        "sys.exit(0 if ok else 3)\n"
    )
    pod = _pod(
        "consumer",
        {
            "command": ["python", "-c", check],
            "env": [
                {
                    "name": "DATABASE_URL",
                    "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}},
                },
                {"name": "PLAN_DIR", "value": "/etc/schemaop/plan"},
                {"name": "PLAN_STEPS_FILE", "value": "$(PLAN_DIR)/plan.json"},
                {
                    "name": "POD_NAMESPACE",
                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                },
                {"name": "EXPECTED_NAMESPACE", "value": namespace},
            ],
            "volumeMounts": [
                {"name": "plan", "mountPath": "/etc/schemaop/plan", "readOnly": True},
                {"name": "db", "mountPath": "/etc/schemaop/db", "readOnly": True},
                # An emptyDir over /tmp, where the runner's own files live in
                # tests, with another volume nested below it.
                {"name": "scratch", "mountPath": "/tmp"},
                {"name": "plan", "mountPath": "/tmp/plan"},
            ],
        },
        volumes=[
            {"name": "plan", "configMap": {"name": "plan"}},
            {"name": "db", "secret": {"secretName": "db"}},
            {"name": "scratch", "emptyDir": {}},
        ],
    )
    core.create_namespaced_pod(namespace, pod)
    done = wait_pod(namespace, "consumer")
    assert pod_log(namespace, "consumer").strip() == "env and volumes ok"
    assert done.status.phase == "Succeeded"


def test_in_cluster_config_uses_the_pods_service_account(
    kube: Any, namespace: str, wait_pod: Any, pod_log: Any
) -> None:
    script = (
        "from kubernetes import client, config\n"
        "config.load_incluster_config()\n"
        "review = client.AuthenticationV1Api().create_self_subject_review(\n"
        "    {'apiVersion': 'authentication.k8s.io/v1', 'kind': 'SelfSubjectReview'})\n"
        "open('/dev/termination-log', 'w').write(review.status.user_info.username)\n"
    )
    client.CoreV1Api(kube).create_namespaced_pod(
        namespace, _pod("incluster", {"command": ["python", "-c", script]})
    )
    pod = wait_pod(namespace, "incluster")
    assert pod.status.phase == "Succeeded", pod_log(namespace, "incluster")
    terminated = pod.status.container_statuses[0].state.terminated
    assert terminated.message == f"system:serviceaccount:{namespace}:default"


def test_foreign_image_is_refused(kube: Any, namespace: str, wait_pod: Any) -> None:
    pod = _pod("nginx", {"image": "docker.io/library/nginx:1.27"})
    client.CoreV1Api(kube).create_namespaced_pod(namespace, pod)
    refused = wait_pod(namespace, "nginx")
    assert refused.status.phase == "Failed"
    assert refused.status.reason == "ImageNotRunnable"
    assert "nginx" in refused.status.message and "schemaop" in refused.status.message


def test_long_running_pod_runs_until_deleted(kube: Any, namespace: str, wait_pod: Any) -> None:
    core = client.CoreV1Api(kube)
    core.create_namespaced_pod(
        namespace,
        _pod("server", {"command": ["sleep", "300"]}, restartPolicy="Always"),
    )
    running = wait_pod(namespace, "server", phases=("Running",))
    assert running.status.container_statuses[0].ready
    assert [c.status for c in running.status.conditions if c.type == "Ready"] == ["True"]
    core.delete_namespaced_pod("server", namespace)
    deadline = time.monotonic() + 30
    while True:  # SIGTERM, then the runner finishes the deletion
        try:
            core.read_namespaced_pod("server", namespace)
        except ApiException as exc:
            assert exc.status == 404
            break
        assert time.monotonic() < deadline, "pod was not deleted"
        time.sleep(0.2)
