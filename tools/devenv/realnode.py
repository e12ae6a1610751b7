"""A real node for the local control plane: containerd, runc, kubelet, kube-proxy
and kube-scheduler, running the project's image built from its Dockerfile.

Why: the pod runner (:mod:`devenv.podrunner`) runs containers as local
processes, so nothing it runs shows that the image, the chart's securityContext,
real volumes, probes or Services work. This module runs the real thing on this
machine, wired to the control plane of :mod:`devenv.cluster`
(``start(..., real_node=True)``):

- a Linux bridge ``schemaop0`` with the address :data:`NODE_IP` and the pod
  network :data:`POD_CIDR` behind it, and no uplink: pods get a route to the
  Service network only, nothing routes off the machine. The API server, the
  kubelet and PostgreSQL (for pods) listen on the bridge address; everything
  else on 127.0.0.1;
- containerd (Debian's) with its own root, state and socket under
  ``<dir>/node``, runc, the CNI plugins bridge/host-local/portmap/loopback
  (Debian's ``containernetworking-plugins``), ``restrict_oom_score_adj`` (this
  machine's root lacks CAP_SYS_RESOURCE) and a static ``pause`` sandbox image;
- kubelet (token of ``system:node:<name>``, serving certificate from the
  cluster CA with the bridge address, webhook authorization), kube-proxy
  (iptables mode, masquerading all Service traffic: pod-to-Service-to-pod on one
  bridge needs it), kube-scheduler; all three from ``tools/realnode/build.sh``,
  the same Kubernetes release as the control plane;
- the image from ``tools/realnode/image.sh`` (debootstrap base, buildah build of
  the unmodified Dockerfile), imported into containerd.

One real node at a time per machine: kube-proxy's iptables chains and the
bridge are global. Starting one queues for it (:func:`queue`: an ``flock`` on
:data:`LOCK_FILE`, held for the node's life by the process that started it, or
for a detached node by a small keeper process), so concurrent test sessions
take turns instead of failing; a holder killed with -9 frees the lock with its
process, and the next one cleans up the node it left. :func:`stop` removes the
pods (sandboxes, network namespaces, veths), stops the processes, unmounts what is left under the
node's directories, runs ``kube-proxy --cleanup``, removes new iptables chains,
the bridge and restores ``net.ipv4.ip_forward``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devenv.util import free_port, log, spawn_detached

if TYPE_CHECKING:
    from devenv.cluster import Cluster

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "tools" / "realnode"
BRIDGE = "schemaop0"
POD_CIDR = "10.244.0.0/24"
NODE_IP = "10.244.0.1"
CLUSTER_DOMAIN = "cluster.local"
# The cluster DNS: the `kube-dns` Service's ClusterIP (the kubelet's clusterDNS),
# led to CoreDNS on the bridge address (see start_dns).
DNS_IP = "10.0.0.10"
# Where a node records that it runs (one per machine), and what it changed; and
# the file whose exclusive flock its holder has. (SCHEMAOP_REALNODE_RUN: another
# directory, for the tests of the queue only: the bridge and chains stay global.)
RUN_DIR = Path(os.environ.get("SCHEMAOP_REALNODE_RUN", "/run"))
OWNER_FILE = RUN_DIR / "schemaop-realnode.json"
LOCK_FILE = RUN_DIR / "schemaop-realnode.lock"
# How long :func:`queue` waits for the node by default (seconds), and how often
# it says so.
WAIT_TIMEOUT = float(os.environ.get("SCHEMAOP_REALNODE_WAIT", "3600"))
WAIT_REPORT = 30.0
COMPONENTS = ("containerd", "kubelet", "kube-proxy", "kube-scheduler", "coredns")
# The node's pods and their CPU weight. containerd puts every container in the
# cgroup /k8s.io/<id> (its namespace), where the kubelet gives a pod without CPU
# requests cpu.shares 2; without the kubelet's QoS cgroups (cgroupsPerQOS, off
# here) nothing weighs that parent as a node's `kubepods` is weighed, so all the
# node's pods together competed with every other process of this shared machine
# like one process (cpu.shares 1024): at a load average of 70 they got 7% of one
# core, and a Job's 0.5 CPU-seconds took minutes. The parent weighs MAX_PODS
# processes instead (:func:`weigh_pods`): a pod gets at least the share of one
# process, as a Job of the pod runner does.
MAX_PODS = 110
PODS_CGROUP = "k8s.io"
CGROUP_ROOT = Path("/sys/fs/cgroup")
CPU_SHARES_DEFAULT = 1024
CACHE = Path(os.environ.get("SCHEMAOP_CACHE", Path.home() / ".cache" / "schemaop")) / "realnode"
CONTAINERD_ROOT = CACHE / "containerd"
DEBIAN_PACKAGES = {
    "containerd": "containerd",
    "runc": "runc",
    "iptables": "iptables",
    "/usr/lib/cni/bridge": "containernetworking-plugins",
}


class RealNodeError(RuntimeError):
    """The real node could not be started (the message says which part and why)."""


class RealNodeBusy(RealNodeError):
    """Another node kept the machine's real node past the waiting time."""


def node_binaries() -> Path:
    """kubelet, kube-proxy, kube-scheduler, pause and pause.oci.tar (built if needed)."""
    return Path(_script("build.sh").splitlines()[-1])


def image() -> tuple[Path, str]:
    """The project's image: (OCI archive, image reference), built if its inputs changed."""
    archive, ref = _script("image.sh").splitlines()[-1].split()
    return Path(archive), ref


def coredns_binary() -> Path:
    """The cluster DNS server: a minimal CoreDNS (built if needed)."""
    return Path(_script("coredns.sh").splitlines()[-1])


def _script(name: str) -> str:
    out = subprocess.run(
        ["bash", str(SCRIPTS / name)], check=False, stdout=subprocess.PIPE, text=True
    )
    if out.returncode != 0:
        raise RealNodeError(f"{SCRIPTS / name} failed (exit {out.returncode}); see its output")
    return out.stdout.strip()


def ensure_packages() -> None:
    """Install Debian's containerd, runc, iptables and CNI plugins if missing."""
    missing = sorted(
        {
            package
            for command, package in DEBIAN_PACKAGES.items()
            if not (Path(command).exists() if command.startswith("/") else shutil.which(command))
        }
    )
    if missing:
        log("realnode", f"installing {' '.join(missing)} from Debian")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True, env=env)


# --- network ---------------------------------------------------------------------


def prepare_network(directory: Path) -> None:
    """Claim the machine's real node for ``directory`` and create the bridge.

    Called before the API server starts: it listens on the bridge address. The
    caller holds the node (:func:`queue`); a node left by a holder that is gone
    is cleaned up first.
    """
    if os.geteuid() != 0:
        raise RealNodeError("a real node needs root (containerd, network namespaces, iptables)")
    ensure_packages()
    queue(directory)  # at once if the caller queued already
    owner = _owner()
    if owner is not None:
        other = Path(owner["directory"])
        log("realnode", f"cleaning up after the node of {other}")
        cleanup(other, owner)
    state = {
        "directory": str(directory),
        "holder": os.getpid(),
        "holder_start": _start_time(os.getpid()),
        "ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text().strip(),
        "chains": sorted(_iptables_chains()),
        "pids": {},
    }
    _write_owner(state)
    _ip("link", "add", BRIDGE, "type", "bridge")
    _ip("addr", "add", f"{NODE_IP}/{POD_CIDR.split('/')[1]}", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")
    _guard()
    # Service traffic from a pod to another pod is routed by this machine.
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")


# --- the machine's one node: a queue ---------------------------------------------
#
# An exclusive flock on LOCK_FILE says who owns the node. The process that
# starts a node takes it (waiting for its turn) and keeps it for the node's
# life: a test session until it stops its cluster or dies (the lock dies with
# its file descriptor, even on kill -9), a detached node (`make dev`)
# through a keeper process (`python -m devenv.realnode keep`) that exits when
# the node is stopped or gone. OWNER_FILE says which directory's node runs,
# who holds it ("holder") and who is stopping it ("stopping"). Whoever takes the
# lock and finds a node there whose holder is gone cleans it up; it waits while
# the node is being stopped, or while it runs without a holder (started by a
# version of this module without the lock).

# The node's directory and the locked file descriptor, while this process holds it.
_HELD: dict[Path, int] = {}


def queue(directory: Path, timeout: float | None = None) -> None:
    """Wait until the machine's real node is free and take it for ``directory``.

    Prints a line every :data:`WAIT_REPORT` seconds while it waits; raises
    :class:`RealNodeBusy` after ``timeout`` (default :data:`WAIT_TIMEOUT`,
    ``SCHEMAOP_REALNODE_WAIT``). Released by :func:`stop` (or by the death of
    this process).
    """
    if directory in _HELD:
        return
    if _HELD:
        raise RealNodeError(f"this process already runs the real node of {next(iter(_HELD))}")
    limit = WAIT_TIMEOUT if timeout is None else timeout
    t0 = time.monotonic()
    report = t0
    fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        while True:
            why = _busy(fd, directory)
            if why is None:
                break
            now = time.monotonic()
            if now - t0 > limit:
                raise RealNodeBusy(
                    f"the machine's real node was still busy after {limit:.0f}s: {why}"
                    " (SCHEMAOP_REALNODE_WAIT sets the waiting time)"
                )
            if now >= report:
                log("realnode", f"waiting for the machine's real node ({now - t0:.0f}s): {why}")
                report = now + WAIT_REPORT
            time.sleep(1.0)
    except BaseException:
        os.close(fd)
        raise
    if time.monotonic() - t0 > 1:
        log("realnode", f"the real node is ours after waiting {time.monotonic() - t0:.0f}s")
    _HELD[directory] = fd


def _busy(fd: int, directory: Path) -> str | None:
    """Why the node cannot be taken now, or None once ``fd`` holds the lock and
    no other node needs waiting for (a stale one is left for the caller)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return _describe(_owner(), "held by")
    owner = _owner()
    if owner is None or Path(owner["directory"]) == directory:
        return None
    stopping = int(owner.get("stopping", 0))
    if stopping and _pid_alive(stopping):
        why = _describe(owner, f"being stopped by pid {stopping}:")
    elif "holder" not in owner and _node_alive(owner):
        why = _describe(owner, "running without the lock (an older devenv.realnode):")
    elif "holder" in owner and _same_process(int(owner["holder"]), owner.get("holder_start")):
        # Alive but not holding the lock: never take a node from a live holder.
        why = _describe(owner, "its holder runs but let the lock go:")
    else:
        return None  # its holder is gone: stale, cleaned up by prepare_network
    # Not ours yet: let the lock go so that the one stopping it is not blocked.
    fcntl.flock(fd, fcntl.LOCK_UN)
    return why


def _describe(owner: dict[str, Any] | None, prefix: str) -> str:
    if owner is None:
        return f"{prefix} a node that is starting or stopping"
    holder = owner.get("holder", "?")
    keeper = " (a detached node: `make dev-down` there frees it)" if owner.get("keeper") else ""
    return f"{prefix} the node of {owner['directory']}, pid {holder}{keeper}"


def release(directory: Path) -> None:
    """Let the machine's real node go, if this process holds it for ``directory``."""
    fd = _HELD.pop(directory, None)
    if fd is not None:
        os.close(fd)


def _hand_over(cluster: Cluster) -> None:
    """A detached node outlives this process: a keeper process takes the lock
    over (the same open file description) and holds it while the node runs."""
    fd = _HELD.get(cluster.directory)
    if fd is None:
        return
    with (cluster.log_dir / "node-keeper.log").open("ab") as out:
        # It outlives this process on purpose: not a child of it (spawn_detached).
        keeper = spawn_detached(
            [sys.executable, "-m", "devenv.realnode", "keep", str(cluster.directory), str(fd)],
            stdout=out,
            pass_fds=(fd,),
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "tools")},
        )
    owner = _owner() or {}
    owner.update(holder=keeper, holder_start=_start_time(keeper), keeper=True)
    _write_owner(owner)
    release(cluster.directory)


def _keep(directory: Path, fd: int, interval: float = 2.0) -> int:
    """The keeper: hold ``fd``'s lock until the node of ``directory`` is stopped
    (its owner record is gone or marked stopping) or all its processes died."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log("realnode", f"keeper {os.getpid()} holds the real node of {directory}")
    while True:
        owner = _owner()
        if owner is None or Path(owner["directory"]) != directory or owner.get("stopping"):
            break
        if owner.get("pids") and not _node_alive(owner):
            log("realnode", "the node's processes are gone; the next node cleans up")
            break
        time.sleep(interval)
    os.close(fd)
    log("realnode", f"keeper {os.getpid()} let the real node go")
    return 0


def _pid_alive(pid: int) -> bool:
    from devenv.cluster import _pid_alive as alive

    return alive(pid)


def _start_time(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot): with the pid, a process's identity."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _same_process(pid: int, started: str | None) -> bool:
    """``pid`` runs and is the process recorded (not a recycled pid)."""
    return _pid_alive(pid) and (started is None or _start_time(pid) == started)


# The pod network talks to this machine and to itself only: nothing from
# another interface reaches the bridge address (the API server, the kubelet and
# PostgreSQL listen there) or is forwarded to or from a pod. Removed at cleanup
# with every chain the node added.
_GUARD = {
    "INPUT": (
        "SCHEMAOP-NODE-IN",
        (("-i", "lo", "-j", "RETURN"), ("-i", BRIDGE, "-j", "RETURN"),
         ("-d", POD_CIDR, "-j", "DROP")),
    ),
    "FORWARD": (
        "SCHEMAOP-NODE-FWD",
        (("-i", BRIDGE, "-o", BRIDGE, "-j", "RETURN"), ("-i", BRIDGE, "-j", "DROP"),
         ("-o", BRIDGE, "-j", "DROP")),
    ),
}  # fmt: skip


def _guard() -> None:
    for hook, (chain, rules) in _GUARD.items():
        _iptables("-N", chain)
        for rule in rules:
            _iptables("-A", chain, *rule)
        _iptables("-I", hook, "1", "-j", chain)


def _iptables(*args: str) -> None:
    out = subprocess.run(["iptables", "-w", *args], check=False, capture_output=True, text=True)
    if out.returncode != 0:
        raise RealNodeError(f"iptables {' '.join(args)}: {out.stderr.strip()}")


def _ip(*args: str, check: bool = True) -> None:
    out = subprocess.run(["ip", *args], check=False, capture_output=True, text=True)
    if check and out.returncode != 0:
        raise RealNodeError(f"ip {' '.join(args)}: {out.stderr.strip()}")


def _owner() -> dict[str, Any] | None:
    try:
        return dict(json.loads(OWNER_FILE.read_text()))
    except (OSError, ValueError):
        return None


def _write_owner(state: dict[str, Any]) -> None:
    tmp = OWNER_FILE.with_name(OWNER_FILE.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(OWNER_FILE)


def _node_alive(owner: dict[str, Any]) -> bool:
    return any(_pid_alive(int(pid)) for pid in owner.get("pids", {}).values())


def _iptables_chains() -> set[str]:
    """``table/chain`` of every iptables chain (to remove only the ones we added)."""
    chains = set()
    for table in ("filter", "nat", "mangle"):
        out = subprocess.run(
            ["iptables", "-w", "-t", table, "-S"], check=False, capture_output=True, text=True
        )
        for line in out.stdout.splitlines():
            if line.startswith("-N "):
                chains.add(f"{table}/{line.split()[1]}")
    return chains


# --- start -----------------------------------------------------------------------


def start(cluster: Cluster, detached: bool, timeout: float = 120.0) -> None:
    """Start containerd, kubelet, kube-proxy and kube-scheduler for ``cluster``."""
    from devenv.cluster import _spawn, _wait

    bins = node_binaries()
    archive, ref = image()
    coredns = coredns_binary()
    t0 = time.monotonic()  # builds, when needed, take their own time
    owner = _owner() or {}
    owner["bins"] = str(bins)  # for stop and cleanup, which never build
    _write_owner(owner)
    node = cluster.directory / "node"
    for sub in ("containerd", "kubelet", "cni/net.d", "cni/ipam", "pod-logs"):
        (node / sub).mkdir(parents=True, exist_ok=True)
    sock = node / "containerd" / "containerd.sock"
    pause_ref = _pause_ref(bins)
    _write_containerd_config(node, sock, pause_ref)
    _write_cni_config(node)
    _write_kubelet_config(cluster, node, sock)
    _spawn(
        cluster,
        "containerd",
        ["containerd", "--config", str(node / "containerd" / "config.toml")],
        detached,
    )
    _record_pids(cluster)
    _wait(cluster, "containerd's socket", sock.exists, t0, timeout)
    # The socket comes before the CRI plugin has recovered its state (seconds with a
    # killed node's sandboxes in the cached root, on a loaded machine): a kubelet
    # started meanwhile exits ("server is not initialized yet").
    _wait(cluster, "containerd's CRI", lambda: _cri_ready(sock, bins), t0, timeout)
    # Sandboxes a killed node left in containerd's cached root go before the
    # kubelet comes (it would adopt nothing of them).
    _remove_pods(sock, bins)
    _import_images(sock, {pause_ref: bins / "pause.oci.tar", ref: archive})
    # An import (about 40 s, minutes on a loaded machine) is not the node's start.
    t0 = time.monotonic()
    weigh_pods(CPU_SHARES_DEFAULT * MAX_PODS)
    _spawn(
        cluster,
        "kubelet",
        [
            str(bins / "kubelet"),
            f"--config={node / 'kubelet' / 'config.yaml'}",
            f"--kubeconfig={cluster.directory / 'kubelet.kubeconfig'}",
            f"--root-dir={node / 'kubelet' / 'root'}",
            f"--cert-dir={node / 'kubelet' / 'pki'}",
            f"--node-ip={NODE_IP}",
            f"--hostname-override={cluster.node_name}",
            "--v=1",
        ],
        detached,
    )
    _spawn(
        cluster,
        "kube-proxy",
        [
            str(bins / "kube-proxy"),
            f"--kubeconfig={cluster.directory / 'kube-proxy.kubeconfig'}",
            f"--hostname-override={cluster.node_name}",
            "--proxy-mode=iptables",
            "--masquerade-all",
            f"--cluster-cidr={POD_CIDR}",
            f"--nodeport-addresses={NODE_IP}/32",
            f"--healthz-bind-address=127.0.0.1:{free_port()}",
            f"--metrics-bind-address=127.0.0.1:{free_port()}",
            # The machine's conntrack settings are not ours to change.
            "--conntrack-max-per-core=0",
            "--conntrack-tcp-timeout-established=0",
            "--conntrack-tcp-timeout-close-wait=0",
            "--v=1",
        ],
        detached,
    )
    _spawn(
        cluster,
        "kube-scheduler",
        [
            str(bins / "kube-scheduler"),
            f"--kubeconfig={cluster.directory / 'kube-scheduler.kubeconfig'}",
            f"--authentication-kubeconfig={cluster.directory / 'kube-scheduler.kubeconfig'}",
            f"--authorization-kubeconfig={cluster.directory / 'kube-scheduler.kubeconfig'}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
            f"--cert-dir={node / 'scheduler-pki'}",
            "--v=1",
        ],
        detached,
    )
    start_dns(cluster, coredns, detached)
    _record_pids(cluster)
    cluster.save()
    token = cluster.admin_token()
    _wait(
        cluster,
        f"Node {cluster.node_name} Ready without taints",
        lambda: _node_ready(cluster, token),
        t0,
        timeout,
    )
    _wait(cluster, "the cluster DNS (CoreDNS /ready)", lambda: _dns_ready(cluster), t0, timeout)
    log("realnode", f"node {cluster.node_name} ready in {time.monotonic() - t0:.1f}s ({ref})")
    if detached:
        _hand_over(cluster)


def weigh_pods(shares: int, root: Path = CGROUP_ROOT) -> None:
    """Give the cgroup of the node's containers the CPU weight of ``shares``
    (cgroup v1 cpu.shares; on cgroup v2 cpu.weight in proportion, the default
    100 for 1024, at most 10000). Best effort: a machine that does not allow it
    keeps its default, with a line saying so."""
    if (root / "cpu" / "cpu.shares").exists():  # v1 (or hybrid): the cpu hierarchy
        group, name, value = root / "cpu" / PODS_CGROUP, "cpu.shares", shares
    elif (root / "cgroup.controllers").exists():  # v2
        group, name = root / PODS_CGROUP, "cpu.weight"
        value = max(1, min(10000, shares * 100 // CPU_SHARES_DEFAULT))
    else:
        return
    try:
        group.mkdir(exist_ok=True)
        (group / name).write_text(f"{value}\n")
    except OSError as exc:
        log("realnode", f"the pods' CPU weight stays as it is ({group / name}: {exc})")


def _record_pids(cluster: Cluster) -> None:
    owner = _owner() or {}
    owner["pids"] = {name: cluster.pids[name] for name in COMPONENTS if name in cluster.pids}
    _write_owner(owner)


def _import_images(sock: Path, images: dict[str, Path]) -> None:
    """Import the images containerd's (cached) root lacks; remove other versions."""
    present = set(_ctr(sock, "images", "list", "--quiet").split())
    for ref, tar in images.items():
        if ref in present:
            continue
        t1 = time.monotonic()
        _ctr(sock, "images", "import", "--snapshotter", "overlayfs", str(tar))
        log("realnode", f"imported {ref} into containerd in {time.monotonic() - t1:.1f}s")
    for ref in present - set(images):
        if ref.startswith(("localhost/schemaop:realnode-", "localhost/schemaop-pause:")):
            _ctr(sock, "images", "remove", ref)


def _pause_ref(bins: Path) -> str:
    """The reference the pause archive was saved under (from its index.json)."""
    out = subprocess.run(
        ["tar", "-xOf", str(bins / "pause.oci.tar"), "index.json"],
        check=True,
        capture_output=True,
        text=True,
    )
    manifest = json.loads(out.stdout)["manifests"][0]
    return str(manifest["annotations"]["org.opencontainers.image.ref.name"])


def _ctr(sock: Path, *args: str) -> str:
    out = subprocess.run(
        ["ctr", "--address", str(sock), "--namespace", "k8s.io", *args],
        check=False,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RealNodeError(f"ctr {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def _write_containerd_config(node: Path, sock: Path, pause_ref: str) -> None:
    base = node / "containerd"
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    config = f"""\
version = 2
# The content store and snapshots outlive the node (a cache: importing the image
# takes most of a minute); containers, sandboxes and mounts live in state.
root = "{CONTAINERD_ROOT}"
state = "{base / "state"}"
# Snapshotters and plugins this machine cannot or need not use.
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{sock}"

[ttrpc]
  address = "{sock}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[{cri}]
  sandbox_image = "{pause_ref}"
  # The kubelet asks for negative oom_score_adj values; without
  # CAP_SYS_RESOURCE (absent here) runc then fails every sandbox.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "{free_port()}"
  enable_selinux = false
  max_container_log_line_size = 16384

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  BinaryName = "{shutil.which("runc") or "/usr/sbin/runc"}"
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{node / "cni" / "net.d"}"
  max_conf_num = 1
"""
    (base / "config.toml").write_text(config)


def _write_cni_config(node: Path) -> None:
    from devenv.cluster import SERVICE_CIDR

    conflist = {
        "cniVersion": "1.0.0",
        "name": "schemaop",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                    # No default route: a pod reaches this machine's bridge
                    # address, other pods and Services, and nothing else.
                    "routes": [{"dst": SERVICE_CIDR}],
                    "dataDir": str(node / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    (node / "cni" / "net.d" / "10-schemaop.conflist").write_text(json.dumps(conflist, indent=2))


def _write_kubelet_config(cluster: Cluster, node: Path, sock: Path) -> None:
    import yaml

    pki = cluster.directory / "pki"
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": free_port(),
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": free_port(),
        "tlsCertFile": str(pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{sock}",
        "podLogsDir": str(node / "pod-logs"),
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [DNS_IP],
        "resolvConf": "",
        # This machine: cgroup v1 (hybrid), no systemd, root without
        # CAP_SYS_RESOURCE, swap allowed, the host's iptables left alone.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupsPerQOS": False,
        "enforceNodeAllocatable": [],
        "failSwapOn": False,
        "localStorageCapacityIsolation": False,
        "makeIPTablesUtilChains": False,
        "serializeImagePulls": False,
        # A shared test machine: never evict pods for its disk or memory.
        "evictionHard": {
            "memory.available": "1Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "nodeStatusUpdateFrequency": "5s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "20s",
        "staticPodPath": "",
        "maxPods": MAX_PODS,
        "shutdownGracePeriod": "0s",
    }
    (node / "kubelet").mkdir(parents=True, exist_ok=True)
    (node / "kubelet" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def _node_ready(cluster: Cluster, token: str) -> bool:
    import ssl
    import urllib.request

    request = urllib.request.Request(
        f"{cluster.server}/api/v1/nodes/{cluster.node_name}",
        headers={"Authorization": f"Bearer {token}"},
    )
    context = ssl.create_default_context(cafile=str(cluster.ca_file))
    with urllib.request.urlopen(request, context=context, timeout=2) as resp:
        node = json.load(resp)
    ready = any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in node.get("status", {}).get("conditions", [])
    )
    return ready and not node.get("spec", {}).get("taints")


# --- cluster DNS -----------------------------------------------------------------
#
# CoreDNS runs as a process of the node, as kube-proxy does, not as a pod: it
# starts and stops with the node (nothing in kube-system for a test or a user
# to delete or wait for), needs no image of its own, and answers once its
# informers have synced rather than after a pod was scheduled and started.
# Pods meet it the way they would anywhere: the kubelet's clusterDNS is the
# ClusterIP of the `kube-dns` Service in kube-system, which kube-proxy leads to
# CoreDNS on the bridge address (a Service without selector and an
# EndpointSlice of the node's own, as for any server on this machine that pods
# reach by name: see expose_host_service). CoreDNS logs in with a token of its
# own (`system:coredns`), allowed to list and watch Services, EndpointSlices
# and namespaces only.

_DNS_RBAC = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:coredns
rules:
  - apiGroups: [""]
    resources: [services, namespaces]
    verbs: [list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:coredns
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:coredns
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: User
    name: system:coredns
"""


def start_dns(cluster: Cluster, binary: Path, detached: bool) -> None:
    """CoreDNS on the bridge address, port 53, for the zone ``cluster.local`` (and
    reverse lookups), with the ``kube-dns`` Service (:data:`DNS_IP`) led to it.

    Names outside the cluster's zones are refused: nothing routes off the machine.
    """
    from devenv.cluster import _spawn

    corefile = _write_corefile(cluster.directory)
    _apply(cluster, "the cluster DNS's RBAC", _DNS_RBAC)
    expose_host_service(
        cluster, "kube-system", "kube-dns", [("dns", "UDP", 53, 53), ("dns-tcp", "TCP", 53, 53)],
        cluster_ip=DNS_IP, labels={"k8s-app": "kube-dns"},
    )  # fmt: skip
    _spawn(cluster, "coredns", [str(binary), "-conf", str(corefile)], detached)


def _write_corefile(directory: Path) -> Path:
    """``node/dns/Corefile`` (and the loopback ports of /health and /ready)."""
    dns = directory / "node" / "dns"
    dns.mkdir(parents=True, exist_ok=True)
    ports = {"health": free_port(), "ready": free_port()}
    (dns / "ports.json").write_text(json.dumps(ports) + "\n")
    zones = f"{CLUSTER_DOMAIN} in-addr.arpa ip6.arpa"
    corefile = f"""\
{" ".join(f"{zone}:53" for zone in zones.split())} {{
    bind {NODE_IP}
    errors
    health 127.0.0.1:{ports["health"]}
    ready 127.0.0.1:{ports["ready"]}
    kubernetes {zones} {{
        kubeconfig {directory / "coredns.kubeconfig"} schemaop-local
        ttl 5
    }}
}}
"""
    (dns / "Corefile").write_text(corefile)
    return dns / "Corefile"


def _dns_ready(cluster: Cluster) -> bool:
    import urllib.request

    ports = json.loads((cluster.directory / "node" / "dns" / "ports.json").read_text())
    with urllib.request.urlopen(f"http://127.0.0.1:{ports['ready']}/ready", timeout=2) as resp:
        return bool(resp.status == 200)


def expose_host_service(
    cluster: Cluster,
    namespace: str,
    name: str,
    ports: list[tuple[str, str, int, int]],
    *,
    cluster_ip: str | None = None,
    labels: dict[str, str] | None = None,
) -> None:
    """A Service ``name`` for a server of this machine listening on the bridge
    address, so pods reach it by name (``<name>.<namespace>.svc.cluster.local``).

    ``ports``: (name, protocol, Service port, port on the bridge address). A
    Service without selector and an EndpointSlice naming :data:`NODE_IP`, as a
    user would write for a database outside the cluster. Applied (idempotent).
    """
    manifest = _host_service_manifest(namespace, name, ports, cluster_ip, labels)
    _apply(cluster, f"Service {namespace}/{name}", manifest)


def _host_service_manifest(
    namespace: str,
    name: str,
    ports: list[tuple[str, str, int, int]],
    cluster_ip: str | None,
    labels: dict[str, str] | None,
) -> str:
    service: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {
            "ports": [
                {"name": n, "protocol": proto, "port": port, "targetPort": target}
                for n, proto, port, target in ports
            ],
        },
    }
    if cluster_ip:
        service["spec"]["clusterIP"] = cluster_ip
    endpoints = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{name}-node",
            "namespace": namespace,
            "labels": {
                "kubernetes.io/service-name": name,
                "endpointslice.kubernetes.io/managed-by": "realnode.schemaop.io",
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [NODE_IP], "conditions": {"ready": True}}],
        "ports": [
            {"name": n, "protocol": proto, "port": target} for n, proto, _port, target in ports
        ],
    }
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": [service, endpoints]})


def _apply(cluster: Cluster, what: str, manifest: str) -> None:
    out = subprocess.run(
        [str(cluster.bin_dir / "kubectl"), "--kubeconfig", str(cluster.kubeconfig),
         "apply", "--server-side", "--force-conflicts", "--field-manager=schemaop-realnode",
         "-f", "-"],
        input=manifest, check=False, capture_output=True, text=True,
    )  # fmt: skip
    if out.returncode != 0:
        raise RealNodeError(f"kubectl apply ({what}): {out.stderr.strip()}")


# --- stop ------------------------------------------------------------------------


def stop(cluster: Cluster, timeout: float = 15.0) -> None:
    """Stop the node's processes and remove everything the node made."""
    from devenv.cluster import _is_component, _terminate

    owner = _owner()
    ours = owner is not None and Path(owner["directory"]) == cluster.directory
    if ours and owner is not None and cluster.directory not in _HELD:
        # A detached node stopped from another process: say so first (whoever
        # takes the lock meanwhile waits), then end its keeper.
        owner["stopping"] = os.getpid()
        _write_owner(owner)
        keeper = int(owner.get("holder", 0))
        if owner.get("keeper") and _is_component(keeper, "devenv.realnode"):
            _terminate(keeper, None, 5.0)
    try:
        _stop(cluster, timeout)
    finally:
        release(cluster.directory)


def _stop(cluster: Cluster, timeout: float) -> None:
    from devenv.cluster import _is_component, _terminate

    for name in ("coredns", "kube-scheduler", "kube-proxy", "kubelet"):
        pid = cluster.pids.pop(name, 0)
        proc = cluster._procs.pop(name, None)
        if pid and (proc is not None or _is_component(pid, name)):
            _terminate(pid, proc, timeout)
    sock = cluster.directory / "node" / "containerd" / "containerd.sock"
    owner = _owner()
    if owner is not None and Path(owner["directory"]) == cluster.directory and "bins" in owner:
        _remove_pods(sock, Path(owner["bins"]))
    pid = cluster.pids.pop("containerd", 0)
    proc = cluster._procs.pop("containerd", None)
    if pid and (proc is not None or _is_component(pid, "containerd")):
        _terminate(pid, proc, timeout)
    if owner is not None and Path(owner["directory"]) == cluster.directory:
        cleanup(cluster.directory, owner)


def _cri_ready(sock: Path, bins: Path) -> bool:
    """containerd's CRI answers (the Version call the kubelet makes first)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return (
            subprocess.run(
                [str(bins / "crictl"), "--runtime-endpoint", f"unix://{sock}", "version"],
                check=False,
                capture_output=True,
                timeout=20,
            ).returncode
            == 0
        )
    return False


def _remove_pods(sock: Path, bins: Path) -> None:
    """Stop and remove every pod sandbox through the CRI (network teardown by CNI)."""
    if not sock.exists():
        return
    crictl = [
        str(bins / "crictl"),
        "--runtime-endpoint",
        f"unix://{sock}",
        "--timeout",
        "20s",
    ]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run([*crictl, "rmp", "--all", "--force"], check=False, capture_output=True)


def cleanup(directory: Path, owner: dict[str, Any]) -> None:
    """Remove what a node made: shims, mounts, iptables chains, the bridge; the
    pods' CPU weight back to the default."""
    from devenv.cluster import _is_component, _terminate

    try:
        node = directory / "node"
        for name, pid in owner.get("pids", {}).items():
            if _is_component(int(pid), name):
                _terminate(int(pid), None, 5.0)
        # containerd-shim processes of this node (their cmdline names its socket).
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                cmdline = (proc / "cmdline").read_bytes()
                if b"containerd-shim" in cmdline and str(node).encode() in cmdline:
                    os.kill(int(proc.name), 9)
        _unmount_under(node)
        _unmount_under(CONTAINERD_ROOT)
        if "bins" in owner:
            kube_proxy = Path(owner["bins"]) / "kube-proxy"
            subprocess.run([str(kube_proxy), "--cleanup"], check=False, capture_output=True)
        before = set(owner.get("chains", []))
        for entry in sorted(_iptables_chains() - before):
            table, chain = entry.split("/", 1)
            _drop_chain(table, chain)
        _ip("link", "delete", BRIDGE, check=False)
    finally:
        # Whatever failed above, the machine's other processes get their share back.
        weigh_pods(CPU_SHARES_DEFAULT)
    with contextlib.suppress(OSError):
        Path("/proc/sys/net/ipv4/ip_forward").write_text(owner.get("ip_forward", "0") + "\n")
    OWNER_FILE.unlink(missing_ok=True)


def _unmount_under(path: Path) -> None:
    """Lazily unmount every mount point below ``path``, deepest first."""
    prefix = str(path.resolve()) + "/"
    points = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix):
                points.append(point)
    for point in sorted(set(points), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def _drop_chain(table: str, chain: str) -> None:
    """Delete the rules that jump to ``chain``, then the chain itself."""
    out = subprocess.run(
        ["iptables", "-w", "-t", table, "-S"], check=False, capture_output=True, text=True
    )
    for line in out.stdout.splitlines():
        parts = line.split()
        if parts[:1] == ["-A"] and "-j" in parts and parts[parts.index("-j") + 1] == chain:
            subprocess.run(
                ["iptables", "-w", "-t", table, "-D", *parts[1:]], check=False, capture_output=True
            )
    subprocess.run(["iptables", "-w", "-t", table, "-F", chain], check=False, capture_output=True)
    subprocess.run(["iptables", "-w", "-t", table, "-X", chain], check=False, capture_output=True)


def main(argv: list[str]) -> int:
    """``keep DIR FD``: the keeper of a detached node (started by :func:`start`)."""
    if len(argv) != 3 or argv[0] != "keep":
        print("usage: python -m devenv.realnode keep DIR FD", file=sys.stderr)
        return 2
    return _keep(Path(argv[1]), int(argv[2]))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
