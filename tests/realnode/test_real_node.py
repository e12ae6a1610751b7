"""What a user installs, on a real node: charts/schemaop with the image built from
the Dockerfile (pullPolicy Never), the operator pod under the chart's
securityContext, with its ServiceAccount and probes; the examples
(manifests/examples) reconciled to Ready through a real Job pod, running as the
chart's Job ServiceAccount, that reaches PostgreSQL over the pod network and the
API server through the ``kubernetes`` Service; the example app chart (its
``wait`` init container, ``helm upgrade`` then ``helm rollback``), the schema
sidecar beside an app reached through its Service, the kubectl plugin, the
operator pod deleted while its Job runs; the console (console.enabled) as a pod
with no token, reached through its Service with each person's token;
``--dry-run=server`` of install.yaml and the examples; and last, ``helm
upgrade`` of the operator (turning peering on: a rolling update) keeping the
CRDs and objects. One cluster-wide release serves the module.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from kubernetes import client

from devenv import cluster as devcluster
from devenv import pg as devpg
from devenv import realnode
from e2e.kube_support import (
    APP_CHART,
    CHART,
    EXAMPLES,
    GROUP,
    ROOT,
    VERSION,
    adopt_crds,
    create_namespace,
    delete_namespace,
    delete_schemaversions,
    helm,
    http_get,
    kubectl,
    migration_body,
    operator_pod,
    plugin,
    poll,
    schemaversion,
    schemaversion_body,
    secret_body,
    viewer_kubeconfig,
    wait_ready,
)

RELEASE = "schemaop"


@dataclasses.dataclass
class Release:
    namespace: str  # the operator's
    apps: str  # the SchemaVersions' and their Jobs'
    notes: str = ""  # what `helm install` printed


@pytest.fixture(scope="module")
def release(
    real_cluster: devcluster.Cluster, kube: Any, node_image: tuple[str, str]
) -> Iterator[Release]:
    ns, apps = create_namespace(kube, "schemaop"), create_namespace(kube, "apps")
    repository, tag = node_image
    adopt_crds(real_cluster, RELEASE, ns)
    notes = helm(
        real_cluster,
        "install",
        RELEASE,
        str(CHART),
        "--namespace",
        ns,
        "--set",
        f"image.repository={repository}",
        "--set",
        f"image.tag={tag}",
        "--set",
        "image.pullPolicy=Never",
        "--set",
        f"jobs.serviceAccount.namespaces={{{apps}}}",
        # The console as a pod of the release (its own tests below), where the
        # operator's objects are.
        "--set",
        "console.enabled=true",
        "--set",
        f"console.namespaces={{{apps}}}",
        "--wait",
        "--timeout",
        "150s",
    )
    try:
        yield Release(ns, apps, notes)
    finally:
        try:
            delete_schemaversions(kube, apps)
        finally:
            helm(
                real_cluster, "uninstall", RELEASE, "--namespace", ns, "--wait", "--timeout", "90s"
            )
            delete_namespace(kube, apps)
            delete_namespace(kube, ns)


def _exec(cluster: devcluster.Cluster, namespace: str, pod: str, *command: str) -> Any:
    return cluster.kubectl("exec", "-n", namespace, pod, "--", *command, check=False)


def test_operator_pod_runs_the_image_as_10001_on_a_read_only_root(
    release: Release, real_cluster: devcluster.Cluster, kube: Any, node_image: tuple[str, str]
) -> None:
    # Cluster-wide RBAC mode (test_chart_namespaced.py has the other).
    assert "Scope: every namespace (cluster-wide RBAC)" in release.notes, release.notes
    pod = operator_pod(kube, release.namespace, RELEASE)
    assert pod.spec.service_account_name == RELEASE
    assert pod.spec.containers[0].args[:2] == ["operator", "--all-namespaces"]
    assert pod.spec.node_name == real_cluster.node_name
    assert pod.status.pod_ip.startswith(realnode.POD_CIDR.rsplit(".", 1)[0] + ".")
    status = pod.status.container_statuses[0]
    assert status.image.endswith(f"{node_image[0].rsplit('/', 1)[-1]}:{node_image[1]}")
    assert status.ready, "the readiness probe did not pass"
    ident = _exec(real_cluster, release.namespace, pod.metadata.name, "id")
    assert ident.returncode == 0, ident.stderr
    assert ident.stdout.startswith("uid=10001(schemaop) gid=10001(schemaop)"), ident.stdout
    write = _exec(real_cluster, release.namespace, pod.metadata.name, "touch", "/probe")
    assert write.returncode != 0 and "Read-only file system" in write.stderr, write
    caps = _exec(
        real_cluster, release.namespace, pod.metadata.name, "grep", "CapEff", "/proc/1/status"
    )
    assert caps.stdout.split() == ["CapEff:", "0000000000000000"], caps.stdout
    # kubectl logs goes through the kubelet: the operator started and logged.
    logs = real_cluster.kubectl("logs", "-n", release.namespace, pod.metadata.name, check=False)
    assert logs.returncode == 0 and logs.stdout, logs.stderr


def test_operator_pod_has_the_charts_service_account_probes_and_crds(
    release: Release, real_cluster: devcluster.Cluster, kube: Any
) -> None:
    """The chart's ServiceAccount token mounted in the pod, its probes passing
    (the kubelet's) and answering from the pod network, its CRDs kept."""
    assert f"Migration Jobs run as ServiceAccount {RELEASE}-job (in: {release.apps})" in (
        release.notes
    )
    pod = operator_pod(kube, release.namespace, RELEASE)
    (container,) = pod.spec.containers
    assert container.security_context.read_only_root_filesystem is True
    assert container.security_context.run_as_non_root is True
    mounted = _exec(
        real_cluster,
        release.namespace,
        pod.metadata.name,
        "sh",
        "-c",
        "cd /var/run/secrets/kubernetes.io/serviceaccount && test -s token && cat namespace",
    )
    assert mounted.returncode == 0 and mounted.stdout == release.namespace, mounted.stderr
    health = container.liveness_probe.http_get
    assert container.readiness_probe.http_get.port == health.port
    assert any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions)
    port = next(p.container_port for p in container.ports if p.name == health.port)
    status, _ = poll(
        "the liveness endpoint from the node",
        lambda: _try_get(f"http://{pod.status.pod_ip}:{port}{health.path}"),
        30,
    )
    assert status == 200
    for name in ("schemaversions.schemaop.io", "schemamigrations.schemaop.io"):
        crd = client.ApiextensionsV1Api(kube).read_custom_resource_definition(name)
        assert crd.metadata.annotations["meta.helm.sh/release-name"] == RELEASE
        assert crd.metadata.annotations["helm.sh/resource-policy"] == "keep"


def _try_get(url: str) -> Any:
    try:
        return http_get(url)
    except OSError:
        return None


def _example(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((EXAMPLES / name).read_text()) if d]


@pytest.fixture(scope="module")
def examples(release: Release, kube: Any, node_postgres: devpg.Postgres) -> tuple[Any, str]:
    """manifests/examples applied to the release's namespace, its Secret's URL
    a fresh database on the node's bridge address; the SchemaVersion Ready at 3
    and the database's URL from here."""
    url, dsn = _database(node_postgres)
    core, custom = client.CoreV1Api(kube), client.CustomObjectsApi(kube)
    (secret,) = _example("00-secret.yaml")
    core.create_namespaced_secret(release.apps, secret_body(secret["metadata"]["name"], url))
    for doc in _example("10-schemaversion.yaml") + _example("20-migrations.yaml"):
        plural = "schemaversions" if doc["kind"] == "SchemaVersion" else "schemamigrations"
        custom.create_namespaced_custom_object(GROUP, VERSION, release.apps, plural, doc)
    return wait_ready(kube, release.apps, "orders", "3", timeout=240), dsn


def test_the_examples_reach_ready_through_a_real_job_pod_as_the_job_service_account(
    release: Release,
    real_cluster: devcluster.Cluster,
    kube: Any,
    examples: tuple[Any, str],
    node_image: tuple[str, str],
) -> None:
    sv, dsn = examples
    assert sv["status"]["pending"] == 0
    core = client.CoreV1Api(kube)
    jobs = client.BatchV1Api(kube).list_namespaced_job(
        release.apps, label_selector="schemaop.io/schemaversion=orders"
    )
    assert jobs.items, "no migration Job"
    for job in jobs.items:
        assert job.spec.template.spec.service_account_name == f"{RELEASE}-job"
        assert any(c.type == "Complete" and c.status == "True" for c in job.status.conditions)
    sa = core.read_namespaced_service_account(f"{RELEASE}-job", release.apps)
    assert sa.automount_service_account_token is False
    selector = f"job-name={jobs.items[0].metadata.name}"
    pod = poll(
        "a Succeeded migration Job pod",
        lambda: next(
            (
                p
                for p in core.list_namespaced_pod(release.apps, label_selector=selector).items
                if p.status.phase == "Succeeded"
            ),
            None,
        ),
        30,
    )
    assert pod.spec.node_name == real_cluster.node_name
    assert pod.spec.service_account_name == f"{RELEASE}-job"
    (container,) = pod.status.container_statuses
    assert container.image.endswith(node_image[1])
    assert container.state.terminated.exit_code == 0
    assert container.image_id, "not run by the container runtime"
    security = pod.spec.containers[0].security_context
    assert security.read_only_root_filesystem is True
    assert security.run_as_non_root is True
    logs = real_cluster.kubectl("logs", "-n", release.apps, pod.metadata.name, check=False)
    assert logs.returncode == 0, logs.stderr
    with psycopg.connect(dsn) as conn:
        columns = {
            r[0]
            for r in conn.execute(
                "select column_name from information_schema.columns where table_name = 'orders'"
            )
        }
    assert "note" in columns and "customer_id" in columns, columns


def test_pods_reach_the_api_server_through_the_kubernetes_service(
    real_cluster: devcluster.Cluster, namespace: str, node_image: tuple[str, str]
) -> None:
    """The operator's in-cluster login goes through 10.0.0.1, the `kubernetes`
    Service, which kube-proxy maps to the API server on the bridge address."""
    endpoints = real_cluster.kubectl(
        "get",
        "endpoints",
        "kubernetes",
        "-n",
        "default",
        "-o",
        "jsonpath={.subsets[0].addresses[0].ip}",
    )
    assert endpoints.stdout == realnode.NODE_IP
    script = (
        "import ssl, urllib.request, os;"
        "ca = '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt';"
        "url = 'https://%s:%s/version' % (os.environ['KUBERNETES_SERVICE_HOST'],"
        " os.environ['KUBERNETES_SERVICE_PORT']);"
        "print(urllib.request.urlopen(url, context=ssl.create_default_context(cafile=ca)).status)"
    )
    out = _run_python(real_cluster, namespace, node_image, script)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "200", out.stdout


def _database(server: devpg.Postgres) -> tuple[str, str]:
    """A fresh database and owner role; (its URL from pods, its URL from here)."""
    name, password = f"t_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    server.psql(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
    server.psql(f'CREATE DATABASE "{name}" OWNER {name}')
    return (
        f"postgresql://{name}:{password}@{realnode.NODE_IP}:{server.port}/{name}",
        server.dsn(name),
    )


def _app_values(release: Release, url: str, image: tuple[str, str]) -> list[str]:
    repository, tag = image
    return [
        "--namespace",
        release.apps,
        "--set",
        f"database.url={url}",
        *("--set", f"image.repository={repository}", "--set", f"image.tag={tag}"),
        *("--set", f"wait.image.repository={repository}", "--set", f"wait.image.tag={tag}"),
        *("--set", "image.pullPolicy=Never", "--set", "wait.image.pullPolicy=Never"),
        "--set",
        "wait.timeoutSeconds=180",
        "--set-json",
        'command=["python","-c","import time; print(\\"app up\\", flush=True); time.sleep(3600)"]',
    ]


def _app_running(kube: Any, namespace: str, app_version: str) -> Any:
    pods = (
        client.CoreV1Api(kube)
        .list_namespaced_pod(
            namespace,
            label_selector=f"app.kubernetes.io/instance=shop,app.kubernetes.io/version={app_version}",
        )
        .items
    )
    running = [
        p
        for p in pods
        if not p.metadata.deletion_timestamp
        and p.status.container_statuses
        and p.status.container_statuses[0].state.running
    ]
    return running[0] if running else None


def _has_note_column(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        return bool(
            conn.execute(
                "select 1 from information_schema.columns "
                "where table_name = 'orders' and column_name = 'note'"
            ).fetchone()
        )


# Several Job pods and pod starts: minutes on a loaded machine (300 s was hit).
@pytest.mark.timeout(900)
def test_app_chart_waits_for_its_schema_and_helm_upgrade_then_rollback_move_it(
    release: Release,
    real_cluster: devcluster.Cluster,
    kube: Any,
    node_postgres: devpg.Postgres,
    node_image: tuple[str, str],
    tmp_path: Path,
) -> None:
    """The example app chart: its pods' `schemaop wait` init container holds the
    app until the chart's SchemaVersion is Ready at its target; `helm upgrade` to
    a release with a new migration migrates before the new pods start; `helm
    rollback` lowers the target and the operator runs the down step."""
    url, dsn = _database(node_postgres)
    values = _app_values(release, url, node_image)
    helm(real_cluster, "install", "shop", str(APP_CHART), *values)
    try:
        sv = wait_ready(kube, release.apps, "shop-orders-app", "2", timeout=240)
        pod = poll(
            "the app at 1.0.0 to run", lambda: _app_running(kube, release.apps, "1.0.0"), 180
        )
        (init,) = pod.status.init_container_statuses
        assert init.name == "wait-for-schema"
        assert init.state.terminated.exit_code == 0
        applied = max(h["appliedAt"] for h in sv["status"]["history"])
        started = pod.status.container_statuses[0].state.running.started_at
        assert started.strftime("%Y-%m-%dT%H:%M:%SZ") >= applied
        waited = real_cluster.kubectl(
            "logs", "-n", release.apps, pod.metadata.name, "-c", "wait-for-schema"
        )
        assert "Ready at or past 2" in waited.stdout, waited.stdout

        # The next release of the app adds a migration (slow enough to be seen waiting).
        chart = tmp_path / "orders-app"
        shutil.copytree(APP_CHART, chart)
        (chart / "migrations" / "3_add_order_note.up.sql").write_text(
            "SELECT pg_sleep(3);\nALTER TABLE orders ADD COLUMN note text;\n"
        )
        (chart / "migrations" / "3_add_order_note.down.sql").write_text(
            "-- schemaop:allow SO101 dropping the column this migration added\n"
            "ALTER TABLE orders DROP COLUMN note;\n"
        )
        meta = yaml.safe_load((chart / "Chart.yaml").read_text())
        meta.update(version="0.2.0", appVersion="1.1.0")
        (chart / "Chart.yaml").write_text(yaml.safe_dump(meta))
        helm(real_cluster, "upgrade", "shop", str(chart), *values)
        pod = poll(
            "the app at 1.1.0 to run", lambda: _app_running(kube, release.apps, "1.1.0"), 240
        )
        sv = wait_ready(kube, release.apps, "shop-orders-app", "3", timeout=240)
        applied = {h["version"]: h for h in sv["status"]["history"]}["3"]["appliedAt"]
        started = pod.status.container_statuses[0].state.running.started_at
        assert started.strftime("%Y-%m-%dT%H:%M:%SZ") >= applied
        waited = real_cluster.kubectl(
            "logs", "-n", release.apps, pod.metadata.name, "-c", "wait-for-schema"
        )
        assert "Ready at or past 3" in waited.stdout, waited.stdout
        assert _has_note_column(dsn)

        # helm rollback to the first release: its manifests lower the target to 2;
        # the kept SchemaMigration 3 (helm.sh/resource-policy: keep) has the down step.
        helm(real_cluster, "rollback", "shop", "1", "--namespace", release.apps)
        sv = wait_ready(kube, release.apps, "shop-orders-app", "2", timeout=240)
        assert sv["spec"]["targetVersion"] == "2"
        latest = sv["status"]["history"][0]
        assert (latest["version"], latest["direction"]) == ("3", "down")
        assert not _has_note_column(dsn)
        poll("the app at 1.0.0 to run", lambda: _app_running(kube, release.apps, "1.0.0"), 240)
        kept = client.CustomObjectsApi(kube).get_namespaced_custom_object(
            GROUP, VERSION, release.apps, "schemamigrations", "shop-orders-app-3"
        )
        assert kept["spec"]["version"] == "3"

        # Upgrading again adopts the kept SchemaMigration (same spec) and migrates.
        helm(real_cluster, "upgrade", "shop", str(chart), *values)
        wait_ready(kube, release.apps, "shop-orders-app", "3", timeout=240)
        assert _has_note_column(dsn)
    finally:
        helm(real_cluster, "uninstall", "shop", "--namespace", release.apps, "--wait")
        client.CustomObjectsApi(kube).delete_collection_namespaced_custom_object(
            GROUP,
            VERSION,
            release.apps,
            "schemamigrations",
            label_selector="app.kubernetes.io/instance=shop",
        )


def test_a_pod_reaches_the_operator_metrics_through_its_service(
    release: Release,
    real_cluster: devcluster.Cluster,
    kube: Any,
    namespace: str,
    node_image: tuple[str, str],
) -> None:
    """The chart's metrics Service: pod to ClusterIP to the operator pod on the
    same bridge (kube-proxy's DNAT, routed and masqueraded by this machine)."""
    services = client.CoreV1Api(kube).list_namespaced_service(release.namespace).items
    (service,) = [s for s in services if any(p.port == 8080 for p in s.spec.ports)]
    poll(
        "endpoints of the metrics Service",
        lambda: real_cluster.kubectl(
            "get", "endpoints", "-n", release.namespace, service.metadata.name,
            "-o", "jsonpath={.subsets[0].addresses[0].ip}",
        ).stdout,
        60,
    )  # fmt: skip
    url = f"http://{service.spec.cluster_ip}:8080/metrics"
    script = (
        f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=10).read().decode())"
    )
    out = _run_python(real_cluster, namespace, node_image, script)
    assert out.returncode == 0, out.stderr
    assert "schemaop_reconcile_errors_total" in out.stdout


# Prepended to the Python a probe pod runs: a Service's ClusterIP refuses
# connections until kube-proxy has written its endpoints, which can lag the pod's
# readiness by seconds on a loaded node; clients retry, as in-cluster clients do.
_PATIENT_URLOPEN = """
import time as _time, urllib.error as _error, urllib.request as _request
_urlopen = _request.urlopen
def _patient(*args, **kwargs):
    deadline = _time.monotonic() + 90
    while True:
        try:
            return _urlopen(*args, **kwargs)
        except _error.HTTPError:
            raise
        except _error.URLError as exc:
            if not isinstance(exc.reason, ConnectionRefusedError) or _time.monotonic() > deadline:
                raise
            _time.sleep(1)
_request.urlopen = _patient
"""


# The same for PostgreSQL reached through a Service (psycopg.connect), as the
# operator and the Jobs retry a refused connection.
_PATIENT_CONNECT = """
import time as _time, psycopg as _psycopg
_connect = _psycopg.connect
def _patient_connect(*args, **kwargs):
    deadline = _time.monotonic() + 90
    while True:
        try:
            return _connect(*args, **kwargs)
        except _psycopg.OperationalError as exc:
            if "Connection refused" not in str(exc) or _time.monotonic() > deadline:
                raise
            _time.sleep(1)
_psycopg.connect = _patient_connect
"""


def _run_python(
    cluster: devcluster.Cluster, namespace: str, image: tuple[str, str], script: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """``python -c script args`` in a pod of the image, its HTTP requests retried
    while a Service refuses connections (see _PATIENT_URLOPEN)."""
    return _run_pod(cluster, namespace, image, "python", "-c", _PATIENT_URLOPEN + script, *args)


def _run_pod(
    cluster: devcluster.Cluster, namespace: str, image: tuple[str, str], *command: str
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in a pod of the image to its end; its log as stdout and its
    exit code. (Not `kubectl run --attach`: it loses the output of a container
    that ends before the attach.)"""
    name = f"probe-{uuid.uuid4().hex[:6]}"
    cluster.kubectl(
        "run", name, "-n", namespace, f"--image={image[0]}:{image[1]}",
        "--image-pull-policy=Never", "--restart=Never", "--command", "--", *command,
    )  # fmt: skip

    def finished() -> Any:
        phase = cluster.kubectl(
            "get", "pod", name, "-n", namespace, "-o", "jsonpath={.status.phase}"
        ).stdout
        return phase if phase in ("Succeeded", "Failed") else None

    phase = poll(f"pod {name} to finish", finished, 120)
    logs = cluster.kubectl("logs", "-n", namespace, name, check=False)
    cluster.kubectl("delete", "pod", name, "-n", namespace, "--wait=false")
    return subprocess.CompletedProcess(
        [name], 0 if phase == "Succeeded" else 1, logs.stdout, logs.stderr
    )


def test_operator_pod_deleted_while_its_job_runs_converges_with_one_job(
    release: Release,
    real_cluster: devcluster.Cluster,
    kube: Any,
    node_postgres: devpg.Postgres,
) -> None:
    """The Deployment's next operator pod adopts the running Job: one Job, the
    migration applied once, Ready."""
    url, dsn = _database(node_postgres)
    core, custom = client.CoreV1Api(kube), client.CustomObjectsApi(kube)
    batch = client.BatchV1Api(kube)
    core.create_namespaced_secret(release.apps, secret_body("slow", url))
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        release.apps,
        "schemamigrations",
        migration_body(
            "1", "select pg_sleep(8); create table a (id int)", "drop table a", db="slow"
        ),
    )
    custom.create_namespaced_custom_object(
        GROUP, VERSION, release.apps, "schemaversions", schemaversion_body("slow", secret="slow")
    )

    def job_pod_running() -> Any:
        pods = core.list_namespaced_pod(
            release.apps, label_selector="schemaop.io/schemaversion=slow"
        ).items
        return next((p for p in pods if p.status.phase == "Running"), None)

    poll("the migration Job's pod to run", job_pod_running, 120)
    old = operator_pod(kube, release.namespace, RELEASE)
    core.delete_namespaced_pod(old.metadata.name, release.namespace)
    poll(
        "a new operator pod",
        lambda: operator_pod(kube, release.namespace, RELEASE).metadata.uid != old.metadata.uid,
        120,
    )
    sv = wait_ready(kube, release.apps, "slow", "1", timeout=240)
    jobs = batch.list_namespaced_job(release.apps, label_selector="schemaop.io/schemaversion=slow")
    assert len(jobs.items) == 1, [
        (j.metadata.name, j.metadata.creation_timestamp, j.status.conditions) for j in jobs.items
    ]
    assert [h["version"] for h in sv["status"]["history"]] == ["1"]
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select count(*) from a").fetchone() == (0,)


# Several Job pods and pod starts: minutes on a loaded machine (300 s was hit).
@pytest.mark.timeout(900)
def test_the_sidecar_beside_an_app_serves_the_schema_through_its_service(
    release: Release,
    real_cluster: devcluster.Cluster,
    kube: Any,
    namespace: str,
    node_postgres: devpg.Postgres,
    node_image: tuple[str, str],
) -> None:
    """manifests/examples/sidecar-deployment.yaml with the built image: the
    sidecar, a second container beside the app, connects with its read-only
    role; a pod reads the schema through the Service, and after the operator
    applies a migration the sidecar serves the new version."""
    url, dsn = _database(node_postgres)
    core, custom = client.CoreV1Api(kube), client.CustomObjectsApi(kube)
    core.create_namespaced_secret(release.apps, secret_body("side", url))
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        release.apps,
        "schemamigrations",
        migration_body("1", "create table orders (id bigint primary key)", db="side"),
    )
    custom.create_namespaced_custom_object(
        GROUP, VERSION, release.apps, "schemaversions", schemaversion_body("side", secret="side")
    )
    wait_ready(kube, release.apps, "side", "1", timeout=240)
    # The read-only role of docs/sidecar.md.
    role, password = f"ro_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    database = dsn.rsplit("/", 1)[1].split("?")[0]
    node_postgres.psql(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    for grant in (
        f'GRANT CONNECT ON DATABASE "{database}" TO {role}',
        f"ALTER ROLE {role} SET default_transaction_read_only = on",
    ):
        node_postgres.psql(grant)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"GRANT USAGE ON SCHEMA schemaop TO {role}")
        conn.execute(f"GRANT SELECT ON schemaop.schema_history TO {role}")
    readonly = f"postgresql://{role}:{password}@{realnode.NODE_IP}:{node_postgres.port}/{database}"

    image = f"{node_image[0]}:{node_image[1]}"
    docs = [d for d in yaml.safe_load_all((EXAMPLES / "sidecar-deployment.yaml").read_text()) if d]
    for doc in docs:
        if doc["kind"] == "Secret":
            doc["stringData"]["url"] = readonly
        elif doc["kind"] == "Deployment":
            doc["spec"]["replicas"] = 1
            web, sidecar = doc["spec"]["template"]["spec"]["containers"]
            web.update(image=image, imagePullPolicy="Never")
            web["command"] = ["python", "-c", "import time; time.sleep(3600)"]
            sidecar.update(image=image, imagePullPolicy="Never")
    applied = subprocess.run(
        [str(real_cluster.bin_dir / "kubectl"), "--kubeconfig", str(real_cluster.kubeconfig),
         "apply", "-n", namespace, "-f", "-"],
        input=yaml.safe_dump_all(docs), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    rollout = real_cluster.kubectl(
        "rollout", "status", "-n", namespace, "deployment/orders-web", "--timeout=180s", check=False
    )
    assert rollout.returncode == 0, rollout.stderr + _describe(real_cluster, namespace)
    service = core.read_namespaced_service("orders-web", namespace)
    base = f"http://{service.spec.cluster_ip}:8081/api/v1"
    schema_at = (
        "import json, sys, time, urllib.request\n"
        f"base = {base!r}\n"
        "deadline = time.time() + 90\n"
        "while True:\n"
        "    v = json.load(urllib.request.urlopen(base + '/version', timeout=10))\n"
        "    if v['version'] == sys.argv[1] or time.time() > deadline: break\n"
        "    time.sleep(1)\n"
        "t = json.load(urllib.request.urlopen(base + '/schema/tables/public/orders', timeout=10))\n"
        "print(json.dumps({'version': v['version'],"
        " 'columns': sorted(c['name'] for c in t['table']['columns'])}))\n"
    )
    out = _run_python(real_cluster, namespace, node_image, schema_at, "1")
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"version": "1", "columns": ["id"]}

    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        release.apps,
        "schemamigrations",
        migration_body("2", "alter table orders add column note text", db="side"),
    )
    wait_ready(kube, release.apps, "side", "2", timeout=240)
    out = _run_python(real_cluster, namespace, node_image, schema_at, "2")
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "version": "2",
        "columns": ["id", "note"],
    }


def _describe(cluster: devcluster.Cluster, namespace: str) -> str:
    return cluster.kubectl("describe", "pods", "-n", namespace, check=False).stdout[-4000:]


# Several Job pods and pod starts: minutes on a loaded machine (300 s was hit).
@pytest.mark.timeout(900)
def test_kubectl_plugin_plans_approves_and_rolls_back_with_the_users_rbac(
    release: Release,
    real_cluster: devcluster.Cluster,
    kube: Any,
    node_postgres: devpg.Postgres,
    tmp_path: Path,
) -> None:
    """`kubectl schemaop` against the real node's cluster, with the chart's
    operator doing the work: an approver approves the shown plan and rolls back;
    a viewer reads status but the API server refuses its approval."""
    url, _ = _database(node_postgres)
    ns = release.apps
    custom = client.CustomObjectsApi(kube)
    client.CoreV1Api(kube).create_namespaced_secret(ns, secret_body("manual", url))
    for version, up, down in (
        ("1", "create table a (id int)", "drop table a"),
        ("2", "create table b (id int)", "drop table b"),
    ):
        body = migration_body(version, up, down, db="manual", description=f"table {version}")
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, "schemamigrations", body)
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        ns,
        "schemaversions",
        schemaversion_body("manual", secret="manual", approval="Manual"),
    )
    poll(
        "a plan waiting for approval",
        lambda: (schemaversion(kube, ns, "manual").get("status") or {}).get("plan", {}).get("hash"),
        120,
    )
    plan_hash = schemaversion(kube, ns, "manual")["status"]["plan"]["hash"]
    shown = plugin(real_cluster, "plan", "manual", "-n", ns)
    assert shown.returncode == 0, shown.stderr
    assert plan_hash[:12] in shown.stdout and "up   2  table 2" in shown.stdout

    viewer = viewer_kubeconfig(real_cluster, kube, ns, tmp_path / "viewer.kubeconfig")
    listed = plugin(real_cluster, "status", kubeconfig=viewer)
    assert listed.returncode == 0, listed.stderr
    assert "manual" in listed.stdout and "Pending" in listed.stdout
    refused = plugin(real_cluster, "approve", "manual", "--plan", plan_hash[:12], kubeconfig=viewer)
    assert refused.returncode == 1
    assert "403" in refused.stderr and "RBAC" in refused.stderr
    assert "Traceback" not in refused.stderr

    stale = plugin(real_cluster, "approve", "manual", "-n", ns, "--plan", "deadbeefdead")
    assert stale.returncode == 1 and "review it again" in stale.stderr
    approved = plugin(real_cluster, "approve", "manual", "-n", ns, "--plan", plan_hash[:12])
    assert approved.returncode == 0, approved.stderr
    wait_ready(kube, ns, "manual", "2", timeout=240)
    history = plugin(real_cluster, "history", "manual", "-n", ns)
    assert history.returncode == 0
    assert [line.split()[0] for line in history.stdout.splitlines()[1:3]] == ["2", "1"]
    refused = plugin(real_cluster, "rollback", "manual", "-n", ns, "--to", "1")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    rolled = plugin(real_cluster, "rollback", "manual", "-n", ns, "--to", "1", "--yes")
    assert rolled.returncode == 0, rolled.stderr
    assert "down 2" in rolled.stdout
    poll(
        "the rollback plan",
        lambda: (
            (schemaversion(kube, ns, "manual").get("status") or {}).get("plan", {}).get("direction")
            == "down"
        ),
        120,
    )
    assert plugin(real_cluster, "approve", "manual", "-n", ns).returncode == 0
    wait_ready(kube, ns, "manual", "1", timeout=240)
    detail = plugin(real_cluster, "status", "manual", "-n", ns)
    assert "current version:  1" in detail.stdout


def test_pods_resolve_service_names_through_the_cluster_dns(
    real_cluster: devcluster.Cluster,
    namespace: str,
    node_postgres: devpg.Postgres,
    node_image: tuple[str, str],
) -> None:
    """CoreDNS behind the `kube-dns` Service: a pod's resolv.conf names it, full
    and short Service names resolve to their ClusterIPs, and a pod reaches
    PostgreSQL through a Service name (a Service without selector for the
    server on the bridge address, as a user would write for an outside database)."""
    realnode.expose_host_service(
        real_cluster, namespace, "postgres", [("postgres", "TCP", 5432, node_postgres.port)]
    )
    url, _ = _database(node_postgres)
    by_name = url.replace(f"@{realnode.NODE_IP}:{node_postgres.port}/", "@postgres:5432/")
    script = (
        "import socket, psycopg;"
        "print(open('/etc/resolv.conf').read());"
        "name = lambda n: socket.getaddrinfo(n, 443, socket.AF_INET)[0][4][0];"
        "print('full', name('kubernetes.default.svc.cluster.local'));"
        "print('short', name('kubernetes.default'));"
        "print('postgres', name('postgres'));"
        f"print('select', psycopg.connect({by_name!r}).execute('select 41 + 1').fetchone()[0])"
    )
    # Retried while refused: kube-proxy writes the new Service's rules a moment later.
    out = _run_pod(real_cluster, namespace, node_image, "python", "-c", _PATIENT_CONNECT + script)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert f"nameserver {realnode.DNS_IP}" in lines, out.stdout
    assert any(
        line.startswith(f"search {namespace}.svc.cluster.local svc.cluster.local") for line in lines
    ), out.stdout
    postgres_ip = real_cluster.kubectl(
        "get", "service", "postgres", "-n", namespace, "-o", "jsonpath={.spec.clusterIP}"
    ).stdout
    assert "full 10.0.0.1" in lines and "short 10.0.0.1" in lines, out.stdout
    assert f"postgres {postgres_ip}" in lines, out.stdout
    assert "select 42" in lines, out.stdout


def test_the_operator_and_its_job_reach_postgresql_by_service_name(
    release: Release,
    real_cluster: devcluster.Cluster,
    kube: Any,
    node_postgres: devpg.Postgres,
) -> None:
    """The Secret's URL names the database by its Service: the operator (which
    reads the database's state) and the migration Job both resolve it."""
    realnode.expose_host_service(
        real_cluster, release.apps, "pg", [("postgres", "TCP", 5432, node_postgres.port)]
    )
    url, dsn = _database(node_postgres)
    by_name = url.replace(
        f"@{realnode.NODE_IP}:{node_postgres.port}/", f"@pg.{release.apps}.svc.cluster.local:5432/"
    )
    core, custom = client.CoreV1Api(kube), client.CustomObjectsApi(kube)
    core.create_namespaced_secret(release.apps, secret_body("byname", by_name))
    custom.create_namespaced_custom_object(
        GROUP, VERSION, release.apps, "schemamigrations",
        migration_body("1", "create table by_name (id int)", "drop table by_name", db="byname"),
    )  # fmt: skip
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        release.apps,
        "schemaversions",
        schemaversion_body("byname", secret="byname"),
    )
    sv = wait_ready(kube, release.apps, "byname", "1", timeout=240)
    assert [h["version"] for h in sv["status"]["history"]] == ["1"]
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select count(*) from by_name").fetchone() == (0,)


CONSOLE = f"{RELEASE}-console"  # the console's Deployment, Service and ServiceAccount


def _console_pod(kube: Any, namespace: str) -> Any:
    def running() -> Any:
        pods = client.CoreV1Api(kube).list_namespaced_pod(
            namespace,
            label_selector=(
                f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=console"
            ),
        )
        return next(
            (
                p
                for p in pods.items
                if p.status.phase == "Running" and not p.metadata.deletion_timestamp
            ),
            None,
        )

    return poll("the console pod to run", running, 90)


def test_the_console_pod_runs_with_no_token_and_its_account_has_no_rbac(
    release: Release, real_cluster: devcluster.Cluster, kube: Any
) -> None:
    """console.enabled: the console's pod runs the image under the chart's
    securityContext with no API token in it; its ServiceAccount is bound to nothing."""
    assert f"Console (docs/console.md): Service {CONSOLE}, port 80" in release.notes
    pod = _console_pod(kube, release.namespace)
    assert pod.spec.node_name == real_cluster.node_name
    assert pod.spec.service_account_name == CONSOLE
    assert pod.spec.automount_service_account_token is False
    # No token volume was added (the ServiceAccount admission plugin adds one otherwise).
    for volume in pod.spec.volumes:
        assert volume.projected is None and volume.secret is None, volume.name
    (container,) = pod.spec.containers
    assert container.args[0] == "console"
    assert container.security_context.read_only_root_filesystem is True
    assert pod.status.container_statuses[0].ready, "the readiness probe did not pass"
    inside = _exec(
        real_cluster,
        release.namespace,
        pod.metadata.name,
        "sh",
        "-c",
        "id; test -e /var/run/secrets/kubernetes.io/serviceaccount || echo no-token;"
        " touch /probe 2>&1 || true",
    )
    assert inside.returncode == 0, inside.stderr
    lines = inside.stdout.splitlines()
    assert lines[0].startswith("uid=10001(schemaop) gid=10001(schemaop)"), lines
    assert "no-token" in lines and "Read-only file system" in inside.stdout, lines
    sa = client.CoreV1Api(kube).read_namespaced_service_account(CONSOLE, release.namespace)
    assert sa.automount_service_account_token is False
    rbac = client.RbacAuthorizationV1Api(kube)
    bindings = list(rbac.list_cluster_role_binding().items) + list(
        rbac.list_role_binding_for_all_namespaces().items
    )
    for binding in bindings:
        for subject in binding.subjects or []:
            assert not (subject.kind == "ServiceAccount" and subject.name == CONSOLE), (
                binding.metadata.name
            )
    service = client.CoreV1Api(kube).read_namespaced_service(CONSOLE, release.namespace)
    assert service.spec.type == "ClusterIP"


# A client pod's requests to the console's Service: each line "<status> <body>".
_CONSOLE_CLIENT = """
import json, sys, urllib.error, urllib.request
base, tokens = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])
def get(path, token=None):
    request = urllib.request.Request(base + path)
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
for who, path in (("", "/healthz"), ("", "/api/session"), ("", "/api/v1/schemaversions"),
                  ("alice", "/api/session"), ("alice", "/api/v1/schemaversions"),
                  ("bob", "/api/v1/schemaversions"), ("forged", "/api/session")):
    status, body = get(path, tokens.get(who))
    print(json.dumps([who, path, status, body]))
"""


def _service_account_token(kube: Any, namespace: str, name: str) -> str:
    core = client.CoreV1Api(kube)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    return str(
        core.create_namespaced_service_account_token(
            name, namespace, {"spec": {"expirationSeconds": 600}}
        ).status.token
    )


def test_the_console_through_its_service_acts_with_each_persons_rbac(
    release: Release,
    real_cluster: devcluster.Cluster,
    kube: Any,
    namespace: str,
    node_image: tuple[str, str],
) -> None:
    """A pod reaches the console through its Service (kube-proxy) and the console
    reaches the API server as https://kubernetes.default.svc (cluster DNS, the
    kube-root-ca.crt CA). Without a token: 401. ServiceAccounts stand in for
    people: alice, bound to the chart's approver ClusterRole in the namespace,
    sees its SchemaVersions; bob, bound to nothing, sees none and is told where
    he may not look; a token the API server rejects is no way in."""
    apps = release.apps
    client.CustomObjectsApi(kube).create_namespaced_custom_object(
        GROUP,
        VERSION,
        apps,
        "schemaversions",
        # Only to be seen: its Secret does not exist, so nothing runs.
        schemaversion_body("console-view", secret="console-view-db"),
    )
    alice = _service_account_token(kube, apps, "alice")
    client.RbacAuthorizationV1Api(kube).create_namespaced_role_binding(
        apps,
        {
            "metadata": {"name": "alice-approves"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"{RELEASE}-approver",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "alice", "namespace": apps}],
        },
    )
    bob = _service_account_token(kube, apps, "bob")
    service = client.CoreV1Api(kube).read_namespaced_service(CONSOLE, release.namespace)
    out = _run_python(
        real_cluster, namespace, node_image, _CONSOLE_CLIENT,
        f"http://{service.spec.cluster_ip}:{service.spec.ports[0].port}",
        f"alice={alice}", f"bob={bob}", f"forged={alice[:-4]}AAAA",
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    answers = {
        (who, path): (status, body)
        for who, path, status, body in (
            json.loads(line) for line in out.stdout.splitlines() if line.startswith("[")
        )
    }
    status, body = answers["", "/healthz"]
    assert status == 200 and body.strip() == "ok", body
    status, body = answers["", "/api/session"]
    assert status == 401 and json.loads(body)["error"]["code"] == "Unauthenticated", body
    assert answers["", "/api/v1/schemaversions"][0] == 401
    status, body = answers["alice", "/api/session"]
    assert status == 200, body
    assert json.loads(body)["user"] == f"system:serviceaccount:{apps}:alice"
    status, body = answers["alice", "/api/v1/schemaversions"]
    assert status == 200, body
    listed = json.loads(body)
    names = {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in listed["items"]}
    assert (apps, "console-view") in names and {ns for ns, _ in names} == {apps}, names
    assert listed["namespacesDenied"] == []
    status, body = answers["bob", "/api/v1/schemaversions"]
    assert status == 200, body
    assert json.loads(body) == {"items": [], "namespacesDenied": [apps]}, body
    assert answers["forged", "/api/session"][0] == 401


def test_install_yaml_and_every_example_pass_a_server_side_dry_run(
    release: Release, real_cluster: devcluster.Cluster, kube: Any
) -> None:
    """API-server checks (admission, the CRD schemas) on the node's control plane."""
    core = client.CoreV1Api(kube)
    created = False
    try:
        core.create_namespace({"metadata": {"name": "schemaop-system"}})
        created = True
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    try:
        out = kubectl(
            real_cluster,
            "apply",
            "--dry-run=server",
            "-f",
            str(ROOT / "manifests" / "install.yaml"),
        )
        assert "deployment.apps/schemaop" in out
    finally:
        if created:
            delete_namespace(kube, "schemaop-system")
    for path in sorted(EXAMPLES.glob("*.yaml")):
        kubectl(real_cluster, "apply", "--dry-run=server", "-n", release.apps, "-f", str(path))
    rendered = helm(real_cluster, "template", "shop", str(APP_CHART), "--namespace", release.apps)
    kubectl(
        real_cluster, "apply", "--dry-run=server", "-n", release.apps, "-f", "-", stdin=rendered
    )


# Last in the module: from here on the operator runs with peering.
def test_helm_upgrade_of_the_operator_rolls_its_pod_and_keeps_crds_and_objects(
    release: Release,
    real_cluster: devcluster.Cluster,
    kube: Any,
    examples: tuple[Any, str],
) -> None:
    """`helm upgrade --reuse-values` turning kopf peering on: a rolling update
    replaces the operator pod; the CRDs, the examples' SchemaVersion and its
    history stay; the new pod keeps itself alive in the ClusterKopfPeering."""
    old = operator_pod(kube, release.namespace, RELEASE)
    helm(
        real_cluster,
        "upgrade",
        RELEASE,
        str(CHART),
        "--namespace",
        release.namespace,
        "--reuse-values",
        "--set",
        "peering.enabled=true",
        "--wait",
        "--timeout",
        "180s",
        timeout=240,
    )
    history = yaml.safe_load(
        helm(real_cluster, "history", RELEASE, "--namespace", release.namespace, "-o", "yaml")
    )
    assert [h["status"] for h in history][-1] == "deployed" and len(history) == 2
    crd = client.ApiextensionsV1Api(kube).read_custom_resource_definition(
        "schemamigrations.schemaop.io"
    )
    assert crd.metadata.annotations["meta.helm.sh/release-name"] == RELEASE

    def replaced() -> Any:
        pod = operator_pod(kube, release.namespace, RELEASE)
        return pod if pod.metadata.uid != old.metadata.uid else None

    pod = poll("the upgraded operator pod", replaced, 120)
    assert pod.spec.containers[0].args[:3] == [
        "operator",
        "--all-namespaces",
        f"--peering={RELEASE}",
    ]
    # The peering object the chart made holds the new operator's keep-alive.
    peering = poll(
        "a keep-alive in the ClusterKopfPeering",
        lambda: (
            client.CustomObjectsApi(kube)
            .get_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", RELEASE)
            .get("status")
        ),
        60,
    )
    assert len(peering) == 1, peering
    peer_id, peer = next(iter(peering.items()))
    assert pod.metadata.name in peer_id, peering
    # --peering-priority=auto gave this replica its own priority (kopf's default is 0).
    assert peer["priority"] > 0
    # The examples' SchemaVersion is untouched, and the new operator still reconciles it.
    sv, dsn = examples
    now = schemaversion(kube, release.apps, "orders")
    assert now["metadata"]["uid"] == sv["metadata"]["uid"]
    assert [h["version"] for h in now["status"]["history"]] == [
        h["version"] for h in sv["status"]["history"]
    ]
    assert now["status"]["history"][0]["version"] == "3"
    wait_ready(kube, release.apps, "orders", "3", timeout=120)
    assert _has_note_column(dsn)
