"""A local Kubernetes control plane for tests and `make dev`: etcd, kube-apiserver
and kube-controller-manager on loopback, plus the local pod runner.

Why: every e2e test and `make dev` needs a real API server (admission, RBAC, CRD
validation, the real Job controller), but this machine has no container runtime,
no kubelet and no registry. The binaries are built from the Go module proxy by
``tools/k8s-testbins/build.sh``; this module wires them together:

- a generated CA, an API server serving certificate (IP SAN 127.0.0.1, so the
  in-cluster config of pods works), an ECDSA service-account signing key pair;
- a static token file: ``admin`` (system:masters, written into the kubeconfig),
  one identity for the controller manager and one for the pod runner;
- etcd (no fsync: throwaway), kube-apiserver (TLS, token auth, Node+RBAC) and
  kube-controller-manager (the controllers Jobs, Deployments and namespaces
  need), each in its own process group, logging to ``<dir>/logs/<name>.log``;
- the pod runner (:mod:`devenv.podrunner`), which registers a Node and runs the
  pods bound to it as local processes; or, with ``real_node=True``, a real node
  (:mod:`devenv.realnode`: containerd, kubelet, kube-proxy, kube-scheduler and
  the project's image). Then the API server listens on the node's bridge
  address instead of 127.0.0.1, so pods reach it through the ``kubernetes``
  Service, and the controller manager also runs the node-lifecycle and
  endpoint controllers.

Every port is a free loopback port; nothing listens on another interface. The
running state is recorded in ``<dir>/cluster.json`` so another process (``make
dev-down``) can stop it; :func:`stop` leaves no process behind (SIGTERM to each
process group, SIGKILL after a timeout). Processes started for a test session
die with the process that started them (``PR_SET_PDEATHSIG``).

    python -m devenv.cluster start [--real-node] DIR   # prints the kubeconfig path
    python -m devenv.cluster stop DIR
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import dataclasses
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import yaml

from devenv import realnode
from devenv.util import free_port, log

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "tools" / "k8s-testbins" / "build.sh"
SERVICE_CIDR = "10.0.0.0/24"
ISSUER = "https://kubernetes.default.svc.cluster.local"
NODE_NAME = "schemaop-local"

# The controllers this project relies on; everything else stays off to keep
# start-up fast and the logs quiet. (No scheduler: the pod runner binds pods.)
CONTROLLERS = (
    "job-controller",
    "cronjob-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "ttl-after-finished-controller",
    "deployment-controller",
    "replicaset-controller",
    "root-ca-certificate-publisher-controller",
    "pod-garbage-collector-controller",
    "clusterrole-aggregation-controller",
)

# With a real node, also: nodes turn schedulable when Ready (the not-ready taint),
# Services get endpoints.
REAL_NODE_CONTROLLERS = (
    "node-lifecycle-controller",
    "endpoints-controller",
    "endpointslice-controller",
    "endpointslice-mirroring-controller",
)

# Start order; stop goes the other way.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "podrunner")
CONTROL_PLANE = COMPONENTS[:3]


class ClusterError(RuntimeError):
    """The control plane could not be started (the message says which part and why)."""


def testbins() -> Path:
    """The directory with kube-apiserver, kube-controller-manager, kubectl, etcd and helm.

    ``SCHEMAOP_TESTBINS`` overrides; otherwise build.sh prints it (instantly
    when cached, after a cold build otherwise).
    """
    override = os.environ.get("SCHEMAOP_TESTBINS")
    if override:
        return Path(override)
    out = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], check=False, stdout=subprocess.PIPE, text=True
    )
    if out.returncode != 0:
        raise ClusterError(f"{BUILD_SCRIPT} failed (exit {out.returncode}); see its output above")
    return Path(out.stdout.strip().splitlines()[-1])


@dataclasses.dataclass
class Cluster:
    """A running local control plane (a handle; :meth:`load` re-creates it from disk)."""

    directory: Path
    bin_dir: Path
    port: int
    etcd_port: int
    node_name: str
    pids: dict[str, int]
    # The API server's address: 127.0.0.1, or the real node's bridge address.
    address: str = "127.0.0.1"
    real_node: bool = False
    _procs: dict[str, subprocess.Popen[bytes]] = dataclasses.field(
        default_factory=dict, repr=False, compare=False
    )
    # How each component this handle started was spawned (argv, detached, env), so
    # that :meth:`restart` starts it again exactly as before.
    _spawned: dict[str, tuple[list[str], bool, dict[str, str] | None]] = dataclasses.field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def server(self) -> str:
        return f"https://{self.address}:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def ca_file(self) -> Path:
        return self.directory / "pki" / "ca.crt"

    @property
    def log_dir(self) -> Path:
        return self.directory / "logs"

    @property
    def pod_log_dir(self) -> Path:
        """Container logs: ``<pod_log_dir>/<namespace>/<pod>/<container>.log``."""
        return self.directory / "podrunner" / "logs"

    def admin_token(self) -> str:
        return (self.directory / "pki" / "admin.token").read_text().strip()

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            check=check,
            capture_output=True,
            text=True,
        )

    def alive(self) -> bool:
        names = set(CONTROL_PLANE) | set(self.pids)
        return all(_pid_alive(self.pids.get(name, 0)) for name in names) and _ready(
            self.server, self.ca_file
        )

    def save(self) -> None:
        state = {
            "bin_dir": str(self.bin_dir),
            "port": self.port,
            "etcd_port": self.etcd_port,
            "node_name": self.node_name,
            "address": self.address,
            "real_node": self.real_node,
            "pids": self.pids,
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
        }
        _write(self.directory / "cluster.json", json.dumps(state, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> Cluster | None:
        try:
            state = json.loads((directory / "cluster.json").read_text())
        except (OSError, ValueError):
            return None
        return cls(
            directory=directory,
            bin_dir=Path(state["bin_dir"]),
            port=int(state["port"]),
            etcd_port=int(state["etcd_port"]),
            node_name=str(state["node_name"]),
            pids={k: int(v) for k, v in state["pids"].items()},
            address=str(state.get("address", "127.0.0.1")),
            real_node=bool(state.get("real_node", False)),
        )

    def restart(self, name: str, down: float = 0.0, timeout: float = 60.0) -> None:
        """Kill one component (SIGKILL to its process group: a crash, not a shutdown),
        wait ``down`` seconds, start it again with the same arguments and ports, and
        wait until it serves again (the API server: ``/readyz``). Only for components
        this handle started (not one re-created by :meth:`load`)."""
        if name not in self._spawned:
            raise ClusterError(f"{name} was not started by this handle; cannot restart it")
        pid = self.pids.get(name, 0)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        proc = self._procs.get(name)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        time.sleep(down)
        argv, detached, env = self._spawned[name]
        t0 = time.monotonic()
        for _try in range(50):
            _spawn(self, name, argv, detached, env)
            try:
                if name == "kube-apiserver":
                    ready = lambda: _ready(self.server, self.ca_file)  # noqa: E731
                else:
                    ready = lambda: time.monotonic() - t0 > 0.5  # noqa: E731
                _wait(self, f"{name} to serve again", ready, t0, timeout)
            except _PortTaken:
                # The old process's port is still in TIME_WAIT or being released.
                time.sleep(0.2)
                continue
            break
        else:
            raise ClusterError(f"{name} could not bind its port again")
        self.save()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every component, newest first; nothing is left running."""
        if self.real_node:
            realnode.stop(self, timeout)
        for name in reversed(COMPONENTS):
            pid = self.pids.get(name)
            proc = self._procs.get(name)
            if pid and (proc is not None or _is_component(pid, name)):
                _terminate(pid, proc, timeout)
        self.pids = {}
        self._procs = {}
        _kill_leftover_containers(self.directory / "podrunner" / "running")
        with contextlib.suppress(FileNotFoundError):
            (self.directory / "cluster.json").unlink()


# The API server's port, kept across stop and start of one directory: the
# `kubernetes` Service stored in etcd keeps the port it was created with (its
# targetPort and endpoints), so a restarted `make dev` must listen there again or
# every pod that logs in in-cluster reaches nothing.
API_PORT_FILE = "apiserver-port"


def _previous_api_port(directory: Path) -> int | None:
    """The port this directory's API server used before, if it is free now."""
    try:
        port = int((directory / API_PORT_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As the API server binds: connections of the last one in TIME_WAIT are fine.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError:
            return None
    return port


def start(
    directory: Path,
    *,
    bin_dir: Path | None = None,
    pod_runner: bool = True,
    real_node: bool = False,
    detached: bool = False,
    node_name: str = NODE_NAME,
    timeout: float = 90.0,
) -> Cluster:
    """Start the control plane (and the pod runner) with its state in ``directory``.

    ``real_node``: a real node (:mod:`devenv.realnode`) instead of the pod runner.

    ``detached``: the processes outlive the caller (``make dev``); otherwise they
    die with it and are also stopped at interpreter exit. Retries with new ports
    when a port was taken between choosing and binding it.
    """
    bin_dir = bin_dir or testbins()
    for binary in ("etcd", "kube-apiserver", "kube-controller-manager"):
        if not (bin_dir / binary).is_file():
            raise ClusterError(f"{bin_dir / binary} is missing; run tools/k8s-testbins/build.sh")
    directory = directory.resolve()
    if real_node:
        # Built (or found cached) before queueing for the node: nobody waits for a build.
        realnode.node_binaries()
        realnode.image()
    last: ClusterError | None = None
    for attempt in range(3):
        try:
            if real_node:
                realnode.queue(directory)  # waits while another session has the node
            return _start_once(
                directory, bin_dir, pod_runner, real_node, detached, node_name, timeout,
                reuse_port=attempt == 0,
            )  # fmt: skip
        except _PortTaken as exc:
            last = ClusterError(str(exc))
            log("cluster", f"retrying with new ports: {exc}")
        except BaseException:
            if real_node:
                realnode.release(directory)
            raise
    assert last is not None
    raise last


def stop(directory: Path, timeout: float = 15.0) -> bool:
    """Stop the cluster recorded in ``directory``; False if there was none."""
    cluster = Cluster.load(directory.resolve())
    if cluster is None:
        return False
    cluster.stop(timeout)
    return True


# --- internals -------------------------------------------------------------


class _PortTaken(ClusterError):
    pass


def _start_once(
    directory: Path,
    bin_dir: Path,
    pod_runner: bool,
    real_node: bool,
    detached: bool,
    node_name: str,
    timeout: float,
    *,
    reuse_port: bool = True,
) -> Cluster:
    t0 = time.monotonic()
    for sub in ("pki", "logs", "etcd"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    pki = directory / "pki"
    address = "127.0.0.1"
    identities = dict(IDENTITIES)
    if real_node:
        address = realnode.NODE_IP
        pod_runner = False
        identities.update(_real_node_identities(node_name))
    _make_pki(pki, identities)
    if real_node:
        _issue(pki, "kubelet-serving", f"/CN={node_name}", "serverAuth",
               (f"IP:{address}", "IP:127.0.0.1"))  # fmt: skip
    port = (_previous_api_port(directory) if reuse_port else None) or free_port()
    (directory / API_PORT_FILE).write_text(f"{port}\n")
    etcd_port, peer_port = free_port(), free_port()
    _write_kubeconfigs(directory, address, port, identities)
    cluster = Cluster(
        directory=directory,
        bin_dir=bin_dir,
        port=port,
        etcd_port=etcd_port,
        node_name=node_name,
        pids={},
        address=address,
        real_node=real_node,
    )
    if not detached:
        atexit.register(cluster.stop)
    try:
        if real_node:
            realnode.prepare_network(directory)
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        _spawn(
            cluster,
            "etcd",
            [
                str(bin_dir / "etcd"),
                "--name=local",
                f"--data-dir={directory / 'etcd' / 'data'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=local={peer_url}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            detached,
        )
        _spawn(
            cluster,
            "kube-apiserver",
            [
                str(bin_dir / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                f"--bind-address={address}",
                f"--advertise-address={address}",
                f"--secure-port={port}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--token-auth-file={pki / 'tokens.csv'}",
                "--authorization-mode=Node,RBAC",
                f"--service-account-issuer={ISSUER}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # `kubectl logs` goes through the pod runner's kubelet endpoint.
                "--kubelet-preferred-address-types=InternalIP",
                f"--kubelet-certificate-authority={pki / 'ca.crt'}",
                f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
                # Loopback addresses are invalid in Endpoints; pods of the pod
                # runner reach the API server through KUBERNETES_SERVICE_HOST
                # instead. A real node's pods use the `kubernetes` Service.
                f"--endpoint-reconciler-type={'lease' if real_node else 'none'}",
                "--enable-priority-and-fairness=false",
                # /debug/pprof for a measurement (docs/benchmarks.md); off otherwise.
                "--profiling="
                + ("true" if os.environ.get("SCHEMAOP_APISERVER_PROFILING") == "1" else "false"),
                f"--cert-dir={pki}",
                "--v=0",
            ],
            detached,
        )
        _wait(
            cluster,
            "kube-apiserver /readyz",
            lambda: _ready(cluster.server, cluster.ca_file),
            t0,
            timeout,
        )
        controllers = CONTROLLERS + (REAL_NODE_CONTROLLERS if real_node else ())
        _spawn(
            cluster,
            "kube-controller-manager",
            [
                str(bin_dir / "kube-controller-manager"),
                f"--kubeconfig={directory / 'controller-manager.kubeconfig'}",
                f"--controllers={','.join(controllers)}",
                f"--root-ca-file={pki / 'ca.crt'}",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                "--leader-elect=false",
                "--secure-port=0",
                "--concurrent-job-syncs=10",
                "--v=0",
            ],
            detached,
        )
        if pod_runner:
            _spawn(
                cluster,
                "podrunner",
                [
                    sys.executable,
                    "-m",
                    "devenv.podrunner",
                    "--server",
                    cluster.server,
                    "--ca-file",
                    str(cluster.ca_file),
                    "--token-file",
                    str(pki / "podrunner.token"),
                    "--node-name",
                    node_name,
                    "--state-dir",
                    str(directory / "podrunner"),
                    "--extra-path",
                    str(bin_dir),
                    "--serving-cert",
                    str(pki / "podrunner-serving.crt"),
                    "--serving-key",
                    str(pki / "podrunner-serving.key"),
                ],
                detached,
                env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "tools")},
            )
        cluster.save()
        waited_from = t0
        if real_node:
            realnode.start(cluster, detached, timeout=max(timeout, 180.0))
            waited_from = time.monotonic()  # the node's start has its own time limit
        token = cluster.admin_token()
        _wait(
            cluster,
            "the default ServiceAccount",
            lambda: _get(cluster, "/api/v1/namespaces/default/serviceaccounts/default", token),
            waited_from,
            timeout,
        )
        if pod_runner:
            _wait(
                cluster,
                f"Node {node_name}",
                lambda: _get(cluster, f"/api/v1/nodes/{node_name}", token),
                t0,
                timeout,
            )
    except BaseException:
        cluster.stop()
        raise
    log("cluster", f"control plane ready at {cluster.server} in {time.monotonic() - t0:.1f}s")
    return cluster


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


_EC = ("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out")
_API_SANS = (
    "IP:127.0.0.1",
    "IP:10.0.0.1",
    f"IP:{realnode.NODE_IP}",
    "DNS:localhost",
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
)


# openssl's spelling of the real node's address in a certificate's SANs.
_REAL_NODE_SAN = f"IP Address:{realnode.NODE_IP}"


def _issue(pki: Path, name: str, subject: str, usage: str, sans: tuple[str, ...] = ()) -> None:
    """``<name>.key`` and ``<name>.crt`` signed by the local CA (ECDSA P-256, fast)."""
    if (pki / f"{name}.crt").exists():
        return
    _openssl(*_EC, str(pki / f"{name}.key"))
    _openssl("req", "-new", "-key", str(pki / f"{name}.key"), "-subj", subject,
             "-out", str(pki / f"{name}.csr"))  # fmt: skip
    ext = f"extendedKeyUsage={usage}\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
    if sans:
        ext = f"subjectAltName={','.join(sans)}\n" + ext
    (pki / f"{name}.ext").write_text(ext)
    _openssl(
        "x509", "-req", "-in", str(pki / f"{name}.csr"), "-CA", str(pki / "ca.crt"),
        "-CAkey", str(pki / "ca.key"), "-CAcreateserial", "-days", "3650",
        "-extfile", str(pki / f"{name}.ext"), "-out", str(pki / f"{name}.crt"),
    )  # fmt: skip


# Static token identities: short name -> (user, group). All in system:masters but
# a real node's, which get exactly the rights Kubernetes' bootstrap policy gives
# those users.
IDENTITIES = {
    "admin": ("admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", "system:masters"),
    "podrunner": ("schemaop:podrunner", "system:masters"),
}


def _real_node_identities(node_name: str) -> dict[str, tuple[str, str]]:
    return {
        "kubelet": (f"system:node:{node_name}", "system:nodes"),
        "kube-proxy": ("system:kube-proxy", "system:node-proxiers"),
        "kube-scheduler": ("system:kube-scheduler", "system:kube-scheduler"),
        "coredns": ("system:coredns", "system:coredns"),  # bound by realnode.start_dns
    }


def _make_pki(pki: Path, identities: dict[str, tuple[str, str]] = IDENTITIES) -> None:
    """CA, serving and client certificates, service-account keys and tokens.

    Kept across restarts of the same directory, so `make dev` keeps working
    kubeconfigs and service-account tokens after `make dev-down`.
    """
    if not (pki / "ca.crt").exists():
        _openssl(*_EC, str(pki / "ca.key"))
        _openssl(
            "req", "-x509", "-new", "-key", str(pki / "ca.key"), "-subj", "/CN=schemaop-local-ca",
            "-days", "3650", "-out", str(pki / "ca.crt"),
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        )  # fmt: skip
    if (pki / "apiserver.crt").exists() and _REAL_NODE_SAN not in _sans(pki / "apiserver.crt"):
        (pki / "apiserver.crt").unlink()  # made before the real node's address was a SAN
    _issue(pki, "apiserver", "/CN=kube-apiserver", "serverAuth", _API_SANS)
    # The pod runner's kubelet endpoint (`kubectl logs`), and the API server's
    # client certificate for it.
    _issue(pki, "podrunner-serving", "/CN=schemaop-local", "serverAuth", ("IP:127.0.0.1",))
    _issue(pki, "apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver", "clientAuth")
    if not (pki / "sa.key").exists():
        _openssl(*_EC, str(pki / "sa.key"))
        _openssl("pkey", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))
    tokens = pki / "tokens.csv"
    rows = tokens.read_text().splitlines() if tokens.exists() else []
    missing = [short for short in identities if not (pki / f"{short}.token").exists()]
    if missing or not tokens.exists():
        for short in missing:
            user, group = identities[short]
            token = secrets.token_hex(24)
            _write(pki / f"{short}.token", token + "\n", 0o600)
            rows.append(f'{token},{user},{user},"{group}"')
        _write(tokens, "\n".join(rows) + "\n", 0o600)


def _sans(cert: Path) -> str:
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(cert)],
        check=False,
        capture_output=True,
        text=True,
    )
    return out.stdout


def _kubeconfig(server: str, ca: bytes, token: str, user: str) -> str:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "schemaop-local",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca).decode(),
                },
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {
                "name": "schemaop-local",
                "context": {"cluster": "schemaop-local", "user": user, "namespace": "default"},
            }
        ],
        "current-context": "schemaop-local",
        "preferences": {},
    }
    return str(yaml.safe_dump(config, sort_keys=False))


def _write_kubeconfigs(
    directory: Path, address: str, port: int, identities: dict[str, tuple[str, str]]
) -> None:
    pki = directory / "pki"
    server = f"https://{address}:{port}"
    ca = (pki / "ca.crt").read_bytes()
    for short in identities:
        if short == "podrunner":
            continue
        filename = "kubeconfig" if short == "admin" else f"{short}.kubeconfig"
        token = (pki / f"{short}.token").read_text().strip()
        _write(directory / filename, _kubeconfig(server, ca, token, short), 0o600)


def _die_with_parent() -> None:
    """preexec_fn: SIGTERM this child when the process that started it exits."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def _spawn(
    cluster: Cluster,
    name: str,
    argv: list[str],
    detached: bool,
    env: dict[str, str] | None = None,
) -> None:
    logfile = cluster.log_dir / f"{name}.log"
    with logfile.open("ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {name}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=None if detached else _die_with_parent,  # noqa: PLW1509 - prctl only
            env=env,
            cwd=cluster.directory,
        )
    cluster.pids[name] = proc.pid
    cluster._procs[name] = proc
    cluster._spawned[name] = (argv, detached, env)


def _wait(
    cluster: Cluster, what: str, check: Callable[[], bool], t0: float, timeout: float
) -> None:
    while True:
        for name, proc in cluster._procs.items():
            if proc.poll() is not None:
                tail = _tail(cluster.log_dir / f"{name}.log")
                message = f"{name} exited with {proc.returncode} while waiting for {what}:\n{tail}"
                if "address already in use" in tail:
                    raise _PortTaken(message)
                raise ClusterError(message)
        try:
            if check():
                return
        except Exception:
            pass
        if time.monotonic() - t0 > timeout:
            raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _ssl_context(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


def _ready(server: str, ca_file: Path) -> bool:
    try:
        with urllib.request.urlopen(
            f"{server}/readyz", context=_ssl_context(ca_file), timeout=2
        ) as resp:
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _get(cluster: Cluster, path: str, token: str) -> bool:
    request = urllib.request.Request(
        cluster.server + path, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(
            request, context=_ssl_context(cluster.ca_file), timeout=2
        ) as resp:
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _pid_alive(pid: int) -> bool:
    """True if ``pid`` runs (not a zombie) and is one of ours."""
    if pid <= 0:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _is_component(pid: int, name: str) -> bool:
    """Guard against a recycled pid: the process must still be that component."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    needle = b"devenv.podrunner" if name == "podrunner" else name.encode()
    return needle in cmdline and _pid_alive(pid)


def _kill_leftover_containers(running: Path) -> None:
    """Container process groups a runner could not stop (it was SIGKILLed, say).

    Each file is named after a container's pid, which led its own session and
    process group; the group may outlive its leader (``sh -c`` children)."""
    if not running.is_dir():
        return
    for entry in running.iterdir():
        with contextlib.suppress(ValueError, OSError):
            os.killpg(int(entry.name), signal.SIGKILL)
        entry.unlink(missing_ok=True)


def _terminate(pid: int, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM the process group led by ``pid``; SIGKILL it after ``timeout``."""
    if proc is None and not _pid_alive(pid):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                break
        elif not _pid_alive(pid):
            break
        time.sleep(0.05)
    # The leader may be gone while others in its group still run: kill the group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def main(argv: list[str]) -> int:
    real_node = "--real-node" in argv
    argv = [a for a in argv if a != "--real-node"]
    if len(argv) != 2 or argv[0] not in {"start", "stop"}:
        print("usage: python -m devenv.cluster start [--real-node] DIR | stop DIR", file=sys.stderr)
        return 2
    directory = Path(argv[1])
    try:
        if argv[0] == "start":
            print(start(directory, detached=True, real_node=real_node).kubeconfig)
        else:
            stop(directory)
    except (ClusterError, realnode.RealNodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
