"""What a user installs, on a real node: charts/schemaop with the image built from
the Dockerfile (pullPolicy Never), the operator pod under the chart's
securityContext, a SchemaVersion reconciled to Ready through a real Job pod that
reaches PostgreSQL over the pod network and the API server through the
``kubernetes`` Service.
"""

from __future__ import annotations

import dataclasses
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from kubernetes import client

from devenv import cluster as devcluster
from devenv import pg as devpg
from devenv import realnode
from e2e.kube_support import (
    APP_CHART,
    CHART,
    GROUP,
    VERSION,
    adopt_crds,
    create_namespace,
    delete_namespace,
    delete_schemaversions,
    helm,
    migration_body,
    operator_pod,
    poll,
    schemaversion_body,
    secret_body,
    wait_ready,
)

RELEASE = "schemaop"


@dataclasses.dataclass
class Release:
    namespace: str  # the operator's
    apps: str  # the SchemaVersions' and their Jobs'


@pytest.fixture(scope="module")
def release(
    real_cluster: devcluster.Cluster, kube: Any, node_image: tuple[str, str]
) -> Iterator[Release]:
    ns, apps = create_namespace(kube, "schemaop"), create_namespace(kube, "apps")
    repository, tag = node_image
    adopt_crds(real_cluster, RELEASE, ns)
    helm(
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
        "--wait",
        "--timeout",
        "150s",
    )
    try:
        yield Release(ns, apps)
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
    pod = operator_pod(kube, release.namespace, RELEASE)
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


def test_schemaversion_ready_through_a_real_job_pod(
    release: Release,
    real_cluster: devcluster.Cluster,
    kube: Any,
    node_postgres: devpg.Postgres,
    node_image: tuple[str, str],
) -> None:
    name, password = f"t_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    node_postgres.psql(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
    node_postgres.psql(f'CREATE DATABASE "{name}" OWNER {name}')
    # The pod reaches PostgreSQL on the node's bridge address, with a password.
    url = f"postgresql://{name}:{password}@{realnode.NODE_IP}:{node_postgres.port}/{name}"
    core, custom = client.CoreV1Api(kube), client.CustomObjectsApi(kube)
    core.create_namespaced_secret(release.apps, secret_body("db", url))
    custom.create_namespaced_custom_object(
        GROUP, VERSION, release.apps, "schemaversions", schemaversion_body(targetVersion="2")
    )
    for version, up in (
        ("1", "CREATE TABLE orders (id bigint PRIMARY KEY)"),
        ("2", "ALTER TABLE orders ADD COLUMN note text"),
    ):
        custom.create_namespaced_custom_object(
            GROUP, VERSION, release.apps, "schemamigrations", migration_body(version, up)
        )
    wait_ready(kube, release.apps, "db", "2", timeout=240)

    jobs = client.BatchV1Api(kube).list_namespaced_job(
        release.apps, label_selector="schemaop.io/schemaversion=db"
    )
    assert jobs.items, "no migration Job"
    pods = core.list_namespaced_pod(
        release.apps, label_selector=f"job-name={jobs.items[0].metadata.name}"
    ).items
    pod = poll(
        "a Succeeded migration Job pod",
        lambda: next((p for p in pods if p.status.phase == "Succeeded"), None),
        30,
    )
    assert pod.spec.node_name == real_cluster.node_name
    (container,) = pod.status.container_statuses
    assert container.image.endswith(node_image[1])
    assert container.state.terminated.exit_code == 0
    assert container.image_id, "not run by the container runtime"
    security = pod.spec.containers[0].security_context
    assert security.read_only_root_filesystem is True
    assert security.run_as_non_root is True
    logs = real_cluster.kubectl("logs", "-n", release.apps, pod.metadata.name, check=False)
    assert logs.returncode == 0, logs.stderr
    with psycopg.connect(node_postgres.dsn(name)) as conn:
        columns = {
            r[0]
            for r in conn.execute(
                "select column_name from information_schema.columns where table_name = 'orders'"
            )
        }
    assert columns == {"id", "note"}


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
    out = _run_pod(real_cluster, namespace, node_image, "python", "-c", script)
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


def test_app_chart_waits_for_the_schema_in_its_init_container(
    release: Release,
    real_cluster: devcluster.Cluster,
    kube: Any,
    node_postgres: devpg.Postgres,
    node_image: tuple[str, str],
) -> None:
    """The example app chart: its pods' `schemaop wait` init container holds the
    app until the chart's SchemaVersion is Ready at its target."""
    url, _ = _database(node_postgres)
    repository, tag = node_image
    values = [
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
    helm(real_cluster, "install", "shop", str(APP_CHART), *values)
    try:
        sv = wait_ready(kube, release.apps, "shop-orders-app", "2", timeout=240)
        core = client.CoreV1Api(kube)

        def app_running() -> Any:
            pods = core.list_namespaced_pod(
                release.apps, label_selector="app.kubernetes.io/instance=shop"
            ).items
            running = [
                p
                for p in pods
                if p.status.container_statuses and p.status.container_statuses[0].state.running
            ]
            return running[0] if running else None

        pod = poll("the app to run", app_running, 180)
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
    out = _run_pod(real_cluster, namespace, node_image, "python", "-c", script)
    assert out.returncode == 0, out.stderr
    assert "schemaop_reconcile_errors_total" in out.stdout


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
    out = _run_pod(real_cluster, namespace, node_image, "python", "-c", script)
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
