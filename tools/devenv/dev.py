"""`make dev` / `make dev-down`: a local PostgreSQL and Kubernetes that outlive the command.

Why: a developer wants both running in the background while they work, reachable
with plain ``kubectl`` and ``psql``, and one command to stop them. ``up`` starts
(or reuses, if already running) a throwaway PostgreSQL (:mod:`devenv.pg`) and the
local control plane with a real node (:mod:`devenv.cluster`,
:mod:`devenv.realnode`: containerd, kubelet, kube-proxy, CoreDNS; detached), all
state under ``.dev/`` (``SCHEMAOP_DEV_DIR`` overrides), then writes
``.dev/env.sh`` with KUBECONFIG, DATABASE_URL, ORDERS_URL and a PATH holding
kubectl, helm and the venv's schemaop. It installs the operator the way users
do: ``helm upgrade --install`` of charts/schemaop into the namespace
``schemaop-system`` with the image built from the Dockerfile (pullPolicy
Never). PostgreSQL also listens on the node's bridge address, and pods reach it
by name: the Service ``postgres`` in the namespace ``databases``, the host the
example Secret names. It applies the examples of ``manifests/examples/`` (the
Secret's credentials replaced by the local database's), waits until the
SchemaVersion is Ready and prints ``kubectl get`` of the result and how to open
the console (``kubectl schemaop console``, with the dev kubeconfig). ``down`` stops
everything and keeps the data, so the next ``up`` finds the same objects and
databases.

With ``SCHEMAOP_DEV_NODE=podrunner`` (``make dev-local``: no root, no image
build) the cluster has the pod runner (:mod:`devenv.podrunner`) instead, the
operator runs as a local ``schemaop operator`` process (log in
``.dev/operator.log``) and the example Secret points at 127.0.0.1.

    python -m devenv.dev up|down|env
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from devenv import cluster as devcluster
from devenv import pg as devpg
from devenv import realnode
from devenv.util import log, spawn_detached, state_dir

OPERATOR_NAMESPACE = "schemaop-system"
# Where pods find the local PostgreSQL on the real node: the host and port the
# example Secret (manifests/examples/00-secret.yaml) names.
PG_SERVICE, PG_NAMESPACE, PG_SERVICE_PORT = "postgres", "databases", 5432


def _real_node() -> bool:
    node = os.environ.get("SCHEMAOP_DEV_NODE", "real")
    if node not in {"real", "podrunner"}:
        raise ValueError(f"SCHEMAOP_DEV_NODE={node!r}: expected 'real' or 'podrunner'")
    return node == "real"


def _pg_running(base: Path) -> devpg.Postgres | None:
    if not (base / "postgres.json").exists():
        return None
    server = devpg.load(base)
    try:
        server.psql("SELECT 1")
    except (subprocess.CalledProcessError, OSError):
        return None
    return server


def _env_sh(state: Path, server: devpg.Postgres, running: devcluster.Cluster) -> Path:
    venv_bin = Path(sys.executable).parent
    lines = [
        "# Written by `make dev` (python -m devenv.dev up). Source it: . .dev/env.sh",
        f"export KUBECONFIG={shlex.quote(str(running.kubeconfig))}",
        f"export DATABASE_URL={shlex.quote(server.dsn())}",
        # The example database as this machine reaches it (pods use the Secret's URL).
        f"export ORDERS_URL={shlex.quote(server.dsn('orders', 'orders', DEV_PASSWORD))}",
        f"export SCHEMAOP_DEV_DIR={shlex.quote(str(state))}",
        f'export PATH={shlex.quote(str(running.bin_dir))}:{shlex.quote(str(venv_bin))}:"$PATH"',
    ]
    path = state / "env.sh"
    path.write_text("\n".join(lines) + "\n")
    return path


def up(state: Path) -> int:
    real = _real_node()
    if real and os.geteuid() != 0:
        print(
            "error: make dev runs a real node (containerd, network namespaces, iptables),"
            " which needs root; `make dev-local` runs without it (the pod runner)",
            file=sys.stderr,
        )
        return 1
    state.mkdir(parents=True, exist_ok=True)
    cluster_dir = state / "cluster"
    running = devcluster.Cluster.load(cluster_dir)
    if running is not None and running.alive() and running.real_node == real:
        log("dev", f"control plane already running at {running.server}")
    else:
        if running is not None:
            running.stop()  # a partial, stale or other kind: nothing may be left behind
        running = devcluster.start(cluster_dir, detached=True, real_node=real)
    # After the cluster: with a real node PostgreSQL also listens on its bridge.
    networks = ((realnode.NODE_IP, realnode.POD_CIDR),) if real else ()
    server = _pg_running(state / "pg")
    if server is not None and (realnode.NODE_IP in server.listen.split(",")) != real:
        server.stop()
        server = None
    if server is None:
        server = devpg.start(state / "pg", networks=networks)
    else:
        log("dev", f"PostgreSQL already running on {server.listen} port {server.port}")
    env_sh = _env_sh(state, server, running)
    rel = _relative(env_sh)
    if real:
        summary = _chart_and_examples(state, server, running)
    else:
        summary = _operator_and_examples(state, server, running)
    print(
        f"""
schemaop dev environment is up (state in {_relative(state)}/)
  Kubernetes   {running.server}  (node {running.node_name})
  kubeconfig   {_relative(running.kubeconfig)}
  PostgreSQL   {server.dsn()}
  Pod logs     {
            "kubectl logs <pod>"
            if real
            else _relative(running.pod_log_dir) + "/<namespace>/<pod>/<container>.log"
        }
  Server logs  {_relative(running.log_dir)}/

{summary}
Use them from a shell:
  source {rel}
  kubectl schemaop console   (the migration console in your browser: docs/console.md)
  kubectl get schemaversions,schemamigrations
  kubectl describe schemaversion orders
  psql "$DATABASE_URL"
  schemaop status --database-url "$ORDERS_URL"

Stop everything: make dev-down
"""
    )
    return 0


ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ("00-secret.yaml", "10-schemaversion.yaml", "20-migrations.yaml")
DEV_PASSWORD = "orders-dev"  # a throwaway local database: not a secret worth keeping


def _operator_pid(state: Path) -> int | None:
    pid_file = state / "operator.pid"
    if not pid_file.exists():
        return None
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (ValueError, OSError):
        return None
    return pid


def _operator_and_examples(state: Path, server: devpg.Postgres, running: devcluster.Cluster) -> str:
    """CRDs, the operator, the examples; returns `kubectl get` of the result."""
    url = _example_database(server, server.host)

    log("dev", "installing the CRDs")
    running.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    running.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/schemaversions.schemaop.io",
        "crd/schemamigrations.schemaop.io",
        "crd/schemamigrationruns.schemaop.io",
    )
    if _operator_pid(state) is None:
        log("dev", "starting the operator (log: .dev/operator.log)")
        env = {**os.environ, "KUBECONFIG": str(running.kubeconfig)}
        with (state / "operator.log").open("ab") as out:
            # It outlives `make dev` on purpose (`make dev-down` stops it by its pid).
            pid = spawn_detached(
                [
                    sys.executable,
                    "-m",
                    "schemaop",
                    "operator",
                    "-n",
                    "default",
                    "--job-image",
                    "schemaop:dev",
                    "--metrics-port",
                    "18080",
                    "--health-port",
                    "18081",
                ],
                stdout=out,
                env=env,
            )
        (state / "operator.pid").write_text(str(pid))
    else:
        log("dev", "operator already running")
    return _examples(state, running, url)


def _examples(state: Path, running: devcluster.Cluster, url: str) -> str:
    """Apply manifests/examples with the Secret pointed at ``url``; `kubectl get` after."""
    log("dev", "applying manifests/examples (Secret pointed at the local database 'orders')")
    secret = (ROOT / "manifests/examples" / EXAMPLES[0]).read_text()
    secret = "\n".join(
        f"  url: {url}" if line.strip().startswith("url:") else line for line in secret.splitlines()
    )
    (state / "00-secret.yaml").write_text(secret + "\n")
    running.kubectl("apply", "-n", "default", "-f", str(state / "00-secret.yaml"))
    for name in EXAMPLES[1:]:
        running.kubectl("apply", "-n", "default", "-f", str(ROOT / "manifests/examples" / name))
    log("dev", "waiting for SchemaVersion orders to be Ready (up to 120 s)")
    waited = running.kubectl(
        "wait",
        "-n",
        "default",
        "--for=condition=Ready",
        "--timeout=120s",
        "schemaversion/orders",
        check=False,
    )
    if waited.returncode != 0:
        log(
            "dev",
            "not Ready yet; see `kubectl describe schemaversion orders` and .dev/operator.log",
        )
    got = running.kubectl(
        "get", "-n", "default", "schemaversions,schemamigrations,jobs", check=False
    )
    return got.stdout


def _example_database(server: devpg.Postgres, host: str) -> str:
    """The example database and its owner role (once); its URL as seen from ``host``."""
    server.psql(
        "DO $$ BEGIN CREATE ROLE orders LOGIN PASSWORD "
        f"'{DEV_PASSWORD}'; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    if server.psql("SELECT 1 FROM pg_database WHERE datname = 'orders'") != "1":
        server.psql('CREATE DATABASE "orders" OWNER orders')
    return f"postgresql://orders:{DEV_PASSWORD}@{host}:{server.port}/orders"


def _chart_and_examples(state: Path, server: devpg.Postgres, running: devcluster.Cluster) -> str:
    """charts/schemaop on the real node with the built image, then the examples."""
    _example_database(server, realnode.NODE_IP)
    # Pods reach PostgreSQL by name, through the cluster DNS and a Service.
    if running.kubectl("get", "namespace", PG_NAMESPACE, check=False).returncode != 0:
        running.kubectl("create", "namespace", PG_NAMESPACE)
    realnode.expose_host_service(
        running, PG_NAMESPACE, PG_SERVICE, [("postgres", "TCP", PG_SERVICE_PORT, server.port)]
    )
    host = f"{PG_SERVICE}.{PG_NAMESPACE}.svc"
    url = f"postgresql://orders:{DEV_PASSWORD}@{host}:{PG_SERVICE_PORT}/orders"
    _archive, ref = realnode.image()
    repository, tag = ref.rsplit(":", 1)
    log("dev", f"installing charts/schemaop into {OPERATOR_NAMESPACE} ({ref})")
    env = {
        **os.environ,
        "KUBECONFIG": str(running.kubeconfig),
        "HELM_CACHE_HOME": str(state / "helm" / "cache"),
        "HELM_CONFIG_HOME": str(state / "helm" / "config"),
        "HELM_DATA_HOME": str(state / "helm" / "data"),
    }
    subprocess.run(
        [
            str(running.bin_dir / "helm"),
            "upgrade",
            "--install",
            "schemaop",
            str(ROOT / "charts" / "schemaop"),
            "--namespace",
            OPERATOR_NAMESPACE,
            "--create-namespace",
            "--set",
            f"image.repository={repository}",
            "--set",
            f"image.tag={tag}",
            "--set",
            "image.pullPolicy=Never",
            "--set",
            "jobs.serviceAccount.namespaces={default}",
            "--wait",
            "--timeout",
            "180s",
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    service = running.kubectl(
        "get", "service", "-n", OPERATOR_NAMESPACE, "-l", "app.kubernetes.io/instance=schemaop",
        "-o", "jsonpath={.items[0].spec.clusterIP}", check=False,
    ).stdout.strip()  # fmt: skip
    reach = (
        f"Operator (chart schemaop in {OPERATOR_NAMESPACE}, image {ref}):\n"
        f"  kubectl -n {OPERATOR_NAMESPACE} logs deploy/schemaop\n"
        f"  curl http://{service}:8080/metrics   (its Service, through kube-proxy)\n"
        f"  helm -n {OPERATOR_NAMESPACE} status schemaop\n"
        f"PostgreSQL from pods: {host}:{PG_SERVICE_PORT} (Service {PG_NAMESPACE}/{PG_SERVICE};"
        f" cluster DNS {realnode.DNS_IP}, CoreDNS)\n\n"
    )
    return reach + _examples(state, running, url)


def _stop_operator(state: Path) -> bool:
    pid = _operator_pid(state)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    (state / "operator.pid").unlink(missing_ok=True)
    return True


def down(state: Path) -> int:
    operator_stopped = _stop_operator(state)
    stopped = devcluster.stop(state / "cluster") or operator_stopped
    server = _pg_running(state / "pg")
    if server is not None:
        server.stop()
        stopped = True
    log("dev", "stopped" if stopped else "nothing was running")
    return 0


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in {"up", "down", "env"}:
        print("usage: python -m devenv.dev up|down|env", file=sys.stderr)
        return 2
    state = state_dir().resolve()
    try:
        if argv[0] == "up":
            return up(state)
        if argv[0] == "down":
            return down(state)
        print(state / "env.sh")
        return 0
    except (
        ValueError,
        devcluster.ClusterError,
        realnode.RealNodeError,
        subprocess.CalledProcessError,
        OSError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
