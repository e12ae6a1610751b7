"""Support for the Helm chart e2e tests (no tests here): helm, namespaces, waiting, API access
as a ServiceAccount.

The chart's operator runs as a pod of the local pod runner (image
``schemaop:dev``), with the chart's ServiceAccount token, so every API call it
makes is checked against the chart's own RBAC.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from devenv import cluster as devcluster
from devenv.util import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "schemaop"
APP_CHART = ROOT / "charts" / "examples" / "orders-app"
EXAMPLES = ROOT / "manifests" / "examples"
GROUP, VERSION = "schemaop.io", "v1alpha1"
CRD_NAMES = (
    "schemaversions.schemaop.io",
    "schemamigrations.schemaop.io",
    "schemamigrationruns.schemaop.io",
)
# The image the local pod runner runs (its repository ends in `schemaop`).
LOCAL_IMAGE = ("--set", "image.repository=schemaop", "--set", "image.tag=dev")


def apply_crds(cluster: devcluster.Cluster) -> None:
    """Apply crds/ (taking over fields a chart install may own) and wait until served."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        *(f"crd/{name}" for name in CRD_NAMES),
    )


def helm(cluster: devcluster.Cluster, *args: str, timeout: float = 180) -> str:
    """Run the pinned helm against the local cluster; its output, or an error with stderr."""
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "HELM_CACHE_HOME": str(cluster.directory / "helm" / "cache"),
        "HELM_CONFIG_HOME": str(cluster.directory / "helm" / "config"),
        "HELM_DATA_HOME": str(cluster.directory / "helm" / "data"),
    }
    result = subprocess.run(
        [str(cluster.bin_dir / "helm"), *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}{result.stdout}")
    return result.stdout


def kubectl(cluster: devcluster.Cluster, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(cluster.bin_dir / "kubectl"), "--kubeconfig", str(cluster.kubeconfig), *args],
        check=False,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stderr}{result.stdout}")
    return result.stdout


def poll(what: str, check: Callable[[], Any], timeout: float = 90.0, detail: Any = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            extra = f"\n{detail()}" if callable(detail) else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{extra}")
        time.sleep(0.3)


def create_namespace(kube: Any, prefix: str = "e2e") -> str:
    core = client.CoreV1Api(kube)
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name, "labels": {"schemaop.io/e2e": "true"}}})
    poll(
        f"ServiceAccount {name}/default",
        lambda: _exists(lambda: core.read_namespaced_service_account("default", name)),
        30,
    )
    return name


def delete_namespace(kube: Any, name: str) -> None:
    try:
        client.CoreV1Api(kube).delete_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise


def _exists(read: Callable[[], Any]) -> bool:
    try:
        read()
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def adopt_crds(cluster: devcluster.Cluster, release: str, namespace: str) -> None:
    """Let a release take over CRDs applied before by kubectl (other e2e tests do so).

    Helm refuses to take over objects it did not create unless they carry its
    ownership label and annotations; docs/install.md shows the same commands.
    """
    for name in CRD_NAMES:
        if not kubectl(cluster, "get", "crd", name, "--ignore-not-found", "-o", "name").strip():
            continue
        kubectl(cluster, "label", "--overwrite", "crd", name, "app.kubernetes.io/managed-by=Helm")
        kubectl(
            cluster,
            "annotate",
            "--overwrite",
            "crd",
            name,
            f"meta.helm.sh/release-name={release}",
            f"meta.helm.sh/release-namespace={namespace}",
        )


def operator_pod(kube: Any, namespace: str, release: str) -> Any:
    """The running pod of the release's operator Deployment (not its console's)."""
    core = client.CoreV1Api(kube)
    selector = f"app.kubernetes.io/instance={release},app.kubernetes.io/component=operator"

    def running() -> Any:
        pods = core.list_namespaced_pod(namespace, label_selector=selector).items
        live = [
            p for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp
        ]
        return live[0] if live else None

    return poll(f"the operator pod of {namespace}/{release}", running, 60)


def http_get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return int(response.status), response.read().decode()


def schemaversion(kube: Any, namespace: str, name: str) -> dict[str, Any]:
    return dict(
        client.CustomObjectsApi(kube).get_namespaced_custom_object(
            GROUP, VERSION, namespace, "schemaversions", name
        )
    )


def ready_at(sv: dict[str, Any], version: str) -> bool:
    """Ready=True at ``version``, for the SchemaVersion's current generation."""
    status = sv.get("status") or {}
    ready = [c for c in status.get("conditions") or [] if c["type"] == "Ready"]
    return bool(
        ready
        and ready[0]["status"] == "True"
        and status.get("currentVersion") == version
        and status.get("observedGeneration") == sv["metadata"]["generation"]
    )


def wait_ready(kube: Any, namespace: str, name: str, version: str, timeout: float = 120) -> Any:
    def check() -> Any:
        sv = schemaversion(kube, namespace, name)
        return sv if ready_at(sv, version) else None

    def detail() -> str:
        return str(schemaversion(kube, namespace, name).get("status") or {})[:3000]

    return poll(f"SchemaVersion {namespace}/{name} Ready at {version}", check, timeout, detail)


def delete_schemaversions(kube: Any, namespace: str, timeout: float = 60) -> None:
    """Delete every SchemaVersion of a namespace while the operator still runs (its finalizer)."""
    custom = client.CustomObjectsApi(kube)
    try:
        items = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "schemaversions")
    except ApiException as exc:
        if exc.status == 404:
            return
        raise
    for item in items["items"]:
        try:
            custom.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, "schemaversions", item["metadata"]["name"]
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
    poll(
        f"SchemaVersions in {namespace} to be gone",
        lambda: (
            not custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "schemaversions")[
                "items"
            ]
        ),
        timeout,
    )


def secret_body(name: str, url: str, key: str = "url") -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "data": {key: base64.b64encode(url.encode()).decode()},
    }


def schemaversion_body(name: str = "db", secret: str = "db", **spec: Any) -> dict[str, Any]:
    """A SchemaVersion reading its URL from ``secret`` (key ``url``), no snapshots."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SchemaVersion",
        "metadata": {"name": name},
        "spec": {
            "connection": {"urlFrom": {"secretKeyRef": {"name": secret, "key": "url"}}},
            "snapshot": {"policy": "None"},
            **spec,
        },
    }


def migration_body(
    version: str,
    up: str,
    down: str | None = None,
    db: str = "db",
    name: str | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A SchemaMigration of SchemaVersion ``db``; named ``<db>-v<version>`` by default."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SchemaMigration",
        "metadata": {"name": name or f"{db}-v{version.replace('.', '-')}"},
        "spec": {
            "schemaVersionRef": {"name": db},
            "version": version,
            "up": up,
            "description": f"migration {version}",
            **({"down": down} if down is not None else {}),
            **spec,
        },
    }


@contextmanager
def as_service_account(kube: Any, namespace: str, name: str) -> Iterator[Any]:
    """An ApiClient that authenticates with a fresh token of a ServiceAccount."""
    core = client.CoreV1Api(kube)
    token = core.create_namespaced_service_account_token(
        name, namespace, {"spec": {"expirationSeconds": 600}}
    ).status.token
    configuration = client.Configuration()
    configuration.host = kube.configuration.host
    configuration.ssl_ca_cert = kube.configuration.ssl_ca_cert
    configuration.verify_ssl = True
    configuration.api_key = {"authorization": token}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    api = client.ApiClient(configuration)
    try:
        yield api
    finally:
        api.close()


def forbidden(call: Callable[[], Any]) -> bool:
    """True when the call is refused with 403; raises on success or another error."""
    try:
        call()
    except ApiException as exc:
        if exc.status == 403:
            return True
        raise
    return False


@contextmanager
def kubeconfig_set(running: devcluster.Cluster) -> Iterator[devcluster.Cluster]:
    """The session's cluster as $KUBECONFIG (for kubectl, helm and the plugin the
    tests run) while in use; the previous value is put back and the cluster stopped
    at the end."""
    previous = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = str(running.kubeconfig)
    try:
        yield running
    finally:
        if previous is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = previous
        running.stop()


class Operator:
    """A `schemaop operator` process watching one namespace (kill: SIGKILL, a crash)."""

    def __init__(self, namespace: str, log_path: Path, *extra_args: str) -> None:
        self.namespace = namespace
        self.log_path = log_path
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port = free_port()
        self.health_port = free_port()

    def get(self, port: int, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return str(response.read().decode())

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "schemaop",
                    "operator",
                    "-n",
                    self.namespace,
                    "--job-image",
                    "schemaop:dev",
                    "--metrics-port",
                    str(self.metrics_port),
                    "--health-port",
                    str(self.health_port),
                    *self.extra_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        if self.proc:
            stop_process(self.proc, signal.SIGKILL)

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def operator_fixture(
    namespace: str, log_path: Path, *args: str, tail: int = 60
) -> Iterator[Operator]:
    """The body of a test's operator fixture (``yield from`` it): an Operator started
    with ``args``, stopped after the test whatever happened, and the last ``tail``
    lines of its log printed (shown in the report of a test that failed)."""
    op = Operator(namespace, log_path, *args)
    op.start()
    try:
        yield op
    finally:
        op.stop()
        print("---- operator log (tail) ----\n" + "\n".join(op.log().splitlines()[-tail:]))


def plugin(
    cluster: devcluster.Cluster, *args: str, kubeconfig: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`kubectl schemaop ARGS` through the real kubectl (plugin found on PATH)."""
    venv_bin = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{venv_bin}:{cluster.bin_dir}:{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(kubeconfig or cluster.kubeconfig),
    }
    return subprocess.run(
        [str(cluster.bin_dir / "kubectl"), "schemaop", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def viewer_kubeconfig(cluster: devcluster.Cluster, kube: Any, namespace: str, path: Path) -> Path:
    """A kubeconfig for a ServiceAccount that may only read SchemaVersions."""
    core, rbac = client.CoreV1Api(kube), client.RbacAuthorizationV1Api(kube)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "viewer"}})
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "schemaop-viewer"},
            "rules": [
                {
                    "apiGroups": [GROUP],
                    "resources": ["schemaversions", "schemamigrations"],
                    "verbs": ["get", "list", "watch"],
                }
            ],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "schemaop-viewer"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "schemaop-viewer",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": namespace}],
        },
    )
    token = core.create_namespaced_service_account_token(
        "viewer", namespace, {"spec": {"expirationSeconds": 600}}
    ).status.token
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": admin["clusters"],
        "users": [{"name": "viewer", "user": {"token": token}}],
        "contexts": [
            {
                "name": "viewer",
                "context": {
                    "cluster": admin["clusters"][0]["name"],
                    "user": "viewer",
                    "namespace": namespace,
                },
            }
        ],
        "current-context": "viewer",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path
