"""The chart's console (console.enabled) rendered with the pinned helm (no cluster):
off by default; when on, a hardened Deployment with no API token, a ServiceAccount
bound to nothing, a ClusterIP Service, an Ingress only when asked, and values
checked by the schema. tests/e2e/test_chart_console.py installs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from chart_support import pinned_helm, render

import chart_values  # tools/ is on pytest's pythonpath

CONSOLE = {"app.kubernetes.io/component": "console"}
RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")


@pytest.fixture(scope="module")
def helm() -> Path:
    return pinned_helm()


def _console_objects(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found = {}
    for doc in docs:
        labels = doc["metadata"].get("labels") or {}
        if labels.get("app.kubernetes.io/component") == "console":
            assert doc["kind"] not in found, f"two console {doc['kind']}s"
            found[doc["kind"]] = doc
    return found


def _console(helm: Path, *extra: str) -> dict[str, dict[str, Any]]:
    return _console_objects(render(helm, *chart_values.OPERATOR["console"], *extra))


def test_the_console_is_off_by_default(helm: Path) -> None:
    docs = render(helm)
    assert _console_objects(docs) == {}
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"] == ["schemaop"]


def test_the_console_deployment_is_hardened_and_carries_no_token(helm: Path) -> None:
    objects = _console(helm)
    assert set(objects) == {"Deployment", "Service", "ServiceAccount", "Ingress"}
    dep = objects["Deployment"]
    assert dep["metadata"]["name"] == "schemaop-console"
    assert dep["spec"]["selector"]["matchLabels"].items() >= CONSOLE.items()
    pod = dep["spec"]["template"]["spec"]
    # No power of its own: no API token in the pod, an account bound to nothing.
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "schemaop-console"
    assert objects["ServiceAccount"]["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["runAsNonRoot"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert container["args"] == [
        "console",
        "--listen=0.0.0.0:18087",
        "--api-server=https://127.0.0.1:6443",
        "--ca-file=/var/run/schemaop/api-server-ca/ca.crt",
        "--namespaces=apps",
        "--max-watches-per-stream=64",
        "--max-watches-per-session=128",
    ]
    assert "env" not in container and "envFrom" not in container
    assert container["ports"] == [{"name": "http", "containerPort": 18087, "protocol": "TCP"}]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["resources"]["limits"]["memory"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts == {"/tmp": "tmp", "/var/run/schemaop/api-server-ca": "api-server-ca"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["tmp"]["emptyDir"] == {"sizeLimit": "64Mi"}
    # The API server's CA, public: the ConfigMap Kubernetes puts in every namespace.
    assert volumes["api-server-ca"]["configMap"] == {"name": "kube-root-ca.crt"}
    assert all(set(v) <= {"name", "emptyDir", "configMap"} for v in volumes.values())


def test_the_console_gets_no_rbac(helm: Path) -> None:
    with_console = render(helm, *chart_values.OPERATOR["console"])
    without = render(helm, *chart_values.OPERATOR["console"], "--set", "console.enabled=false")

    def rbac(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [d for d in docs if d["kind"] in RBAC_KINDS]

    assert rbac(with_console) == rbac(without)
    for doc in rbac(with_console):
        assert (doc["metadata"].get("labels") or {}).get("app.kubernetes.io/component") != (
            "console"
        )
        for subject in doc.get("subjects") or []:
            assert "console" not in subject["name"], doc["metadata"]["name"]


def test_the_console_service_and_ingress(helm: Path) -> None:
    objects = _console(helm)
    service = objects["Service"]["spec"]
    assert service["type"] == "ClusterIP"
    assert service["selector"].items() >= CONSOLE.items()
    assert service["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    (rule,) = objects["Ingress"]["spec"]["rules"]
    assert rule["host"] == "console.example.com"
    (path,) = rule["http"]["paths"]
    assert path["backend"]["service"] == {"name": "schemaop-console", "port": {"name": "http"}}
    # The operator's metrics Service does not reach the console's pods.
    metrics = [
        d
        for d in render(helm, *chart_values.OPERATOR["console"])
        if d["kind"] == "Service" and d["metadata"]["name"] == "schemaop-metrics"
    ]
    assert metrics[0]["spec"]["selector"]["app.kubernetes.io/component"] == "operator"
    # The Ingress only when asked; the defaults: the in-cluster API server, no namespace list.
    plain = _console_objects(render(helm, "--set", "console.enabled=true"))
    assert set(plain) == {"Deployment", "Service", "ServiceAccount"}
    args = plain["Deployment"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--api-server=https://kubernetes.default.svc" in args
    assert not any(a.startswith("--namespaces") for a in args)


def test_the_console_can_use_an_existing_account_and_no_ca_file(helm: Path) -> None:
    objects = _console(
        helm,
        "--set",
        "console.serviceAccount.create=false",
        "--set",
        "console.serviceAccount.name=viewer",
        "--set",
        "console.apiServerCA.configMap=",
    )
    assert "ServiceAccount" not in objects
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "viewer"
    assert pod["automountServiceAccountToken"] is False
    assert not any(a.startswith("--ca-file") for a in pod["containers"][0]["args"])
    assert [v["name"] for v in pod["volumes"]] == ["tmp"]


@pytest.mark.parametrize(
    "bad",
    [
        ["--set", "console.bogus=1"],
        ["--set", "console.enabled=yes"],
        ["--set", "console.port=0"],
        ["--set", "console.apiServer=kubernetes.default.svc"],
        ["--set", "console.namespaces={Not_A_Namespace}"],
        ["--set", "console.ingress.path=console"],
        ["--set", "console.service.type=LoadBalancer"],
        ["--set", "console.maxWatchesPerStream=0"],
        ["--set", "console.maxWatchesPerSession=-1"],
        ["--set-string", "console.maxWatchesPerSession=many"],
        ["--set", "console.maxWatchesPerStream=1.5"],
        # null deletes the key: it would render 0, a console that exits 2 in a loop.
        ["--set", "console.maxWatchesPerStream=null"],
        ["--set", "console.maxWatchesPerSession=null"],
    ],
)
def test_values_schema_refuses_bad_console_values(helm: Path, bad: list[str]) -> None:
    with pytest.raises(RuntimeError, match="values don't meet the specifications"):
        render(helm, *bad)


def test_the_watch_limits_reach_the_console(helm: Path) -> None:
    objects = _console(
        helm,
        "--set",
        "console.maxWatchesPerStream=200",
        "--set",
        "console.maxWatchesPerSession=1000",
    )
    args = objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[-2:] == ["--max-watches-per-stream=200", "--max-watches-per-session=1000"]
    # Each limit alone passes the schema; together they must fit (or the pod would exit 2).
    with pytest.raises(RuntimeError, match=r"maxWatchesPerStream \(200\) must not be more"):
        _console(helm, "--set", "console.maxWatchesPerStream=200")
