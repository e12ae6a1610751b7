"""Benchmark: the operator on the local cluster (issue 4).

1. Latency from applying a new SchemaMigration to Ready, over N runs, split
   into operator time and Job time, from watch events seen by this script:
   T0 migration created, T1 Job seen, T2 Job Complete seen, T3 SchemaVersion
   Ready at the new version seen. Operator = (T1-T0) + (T3-T2); Job = T2-T1
   (pod start through the local pod runner, `schemaop job run`, Job controller),
   split into its steps from the watch of the Jobs' pods (created, bound,
   Succeeded) and, on a real node, containerd's log (sandbox asked for and
   ready, container started, exited); on a real node also the kubelet's CRI
   calls, its API client's rate-limiter waits and its volume operations.
2. Scale: D SchemaVersions (D databases on one PostgreSQL, three migrations
   each) created at once: time from the first apply until all are Ready, and
   each SchemaVersion's own apply-to-Ready time (percentiles), split like the
   latency into operator time (apply to Job seen, Job Complete to Ready) and
   Job time, and the Job's steps as in 1; CPU seconds used meanwhile by the
   operator, by the Job processes (the pod runner's reaped children; on a real
   node "pods", the cgroup of every container, /sys/fs/cgroup/cpuacct/k8s.io),
   by the control plane and the node's processes; the operator's
   memory (resident size sampled every 0.5 s, and VmHWM).
3. Idle: once all are Ready, for --idle-seconds (drift checks on, every
   SchemaVersion at its default interval): the operator's CPU (% of one core,
   from /proc/<pid>/stat; also every other component's), its API requests (its own counter
   schemaop_operator_api_requests_total, and the API server's
   apiserver_request_total, which also counts the other clients), per second.

    .venv/bin/python bench/reconcile/run.py [--runs 20] [--databases 200]
        [--idle-seconds 60] [--json]

``--runs 0`` skips the latency part (scale and idle only). ``--real-node`` runs
the Jobs as pods of the image built from the Dockerfile on a real node
(containerd, kubelet: tools/devenv/realnode.py; needs root) instead of the pod
runner; the operator stays a local process, so its CPU and memory are measured
the same way.

Everything runs on loopback: the control plane and PostgreSQL are started by
the script in a temporary directory and stopped at the end.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import dataclasses
import datetime
import itertools
import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import psycopg  # noqa: E402
from kubernetes import client, config, watch  # noqa: E402

from devenv import cluster as devcluster  # noqa: E402
from devenv import pg as devpg  # noqa: E402
from devenv.util import free_port  # noqa: E402

GROUP, VERSION = "schemaop.io", "v1alpha1"
NS = "bench"


def log(msg: str) -> None:
    print(f"[bench/reconcile] {msg}", file=sys.stderr, flush=True)


class Watcher:
    """Records when Jobs appear/complete and SchemaVersions become Ready."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.job_seen: dict[str, float] = {}
        self.job_done: dict[str, float] = {}
        self.ready: dict[tuple[str, str], float] = {}  # (sv, version) -> t
        # A Job's pod, by Job name: its name, when it was seen, seen bound to the
        # node, seen Succeeded or Failed.
        self.pod_name: dict[str, str] = {}
        self.pod_seen: dict[str, float] = {}
        self.pod_bound: dict[str, float] = {}
        self.pod_done: dict[str, float] = {}
        self.stop = False
        self.lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._jobs, daemon=True).start()
        threading.Thread(target=self._svs, daemon=True).start()
        threading.Thread(target=self._pods, daemon=True).start()

    def _pods(self) -> None:
        core = client.CoreV1Api(self.api)
        while not self.stop:
            stream = watch.Watch().stream(
                core.list_namespaced_pod,
                NS,
                label_selector="batch.kubernetes.io/job-name",
                timeout_seconds=300,
                deserialize=False,
            )
            for ev in _events(stream, "Pods"):
                now = time.monotonic()
                pod = ev["object"]
                meta = pod.get("metadata") or {}
                job = (meta.get("labels") or {}).get("batch.kubernetes.io/job-name", "")
                with self.lock:
                    self.pod_name.setdefault(job, str(meta.get("name")))
                    self.pod_seen.setdefault(job, now)
                    if (pod.get("spec") or {}).get("nodeName"):
                        self.pod_bound.setdefault(job, now)
                    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                        self.pod_done.setdefault(job, now)

    def _jobs(self) -> None:
        batch = client.BatchV1Api(self.api)
        while not self.stop:
            # deserialize=False: plain dicts, not models (this process shares the CPUs).
            stream = watch.Watch().stream(
                batch.list_namespaced_job, NS, timeout_seconds=300, deserialize=False
            )
            for ev in _events(stream, "Jobs"):
                now = time.monotonic()
                job = ev["object"]
                meta = job.get("metadata") or {}
                sv = (meta.get("labels") or {}).get("schemaop.io/schemaversion", "")
                key = f"{sv}/{meta.get('name')}"
                with self.lock:
                    self.job_seen.setdefault(key, now)
                    for c in (job.get("status") or {}).get("conditions") or []:
                        if c.get("type") == "Complete" and c.get("status") == "True":
                            self.job_done.setdefault(key, now)

    def _svs(self) -> None:
        custom = client.CustomObjectsApi(self.api)
        while not self.stop:
            stream = watch.Watch().stream(
                custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                NS,
                "schemaversions",
                timeout_seconds=300,
            )
            for ev in _events(stream, "SchemaVersions"):
                now = time.monotonic()
                obj = ev["object"]
                status = obj.get("status") or {}
                ready = [c for c in status.get("conditions") or [] if c["type"] == "Ready"]
                if ready and ready[0]["status"] == "True":
                    key = (obj["metadata"]["name"], str(status.get("currentVersion")))
                    with self.lock:
                        self.ready.setdefault(key, now)


def _events(stream: Any, what: str) -> Any:
    """A watch's events until it ends or fails (a loaded API server ends watches with
    an error, "410 Gone" among them, which the client raises, or fails to parse with
    deserialize=False): the caller watches again, and a new watch starts with every
    object as it is."""
    try:
        yield from stream
    except Exception as exc:
        log(f"  the watch of {what} ended ({type(exc).__name__}: {exc}); watching again")
        time.sleep(1.0)


def secret(name: str, url: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": {"url": base64.b64encode(url.encode()).decode()}}


def schemaversion(name: str, drift_check_interval: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "connection": {"urlFrom": {"secretKeyRef": {"name": name, "key": "url"}}},
        "snapshot": {"policy": "None"},
    }
    if drift_check_interval:
        spec["driftCheckInterval"] = drift_check_interval
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SchemaVersion",
        "metadata": {"name": name},
        "spec": spec,
    }


def migration(db: str, version: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SchemaMigration",
        "metadata": {"name": f"{db}-v{version}"},
        "spec": {
            "schemaVersionRef": {"name": db},
            "version": str(version),
            "description": f"table t{version}",
            "up": f"create table t{version} (id bigint primary key, v text)",
            "down": f"drop table t{version}",
        },
    }


def wait(what: str, check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.02)


def proc_status_mb(pid: int, field: str = "VmHWM") -> float:
    """A size field of /proc/<pid>/status (VmHWM: peak resident, VmRSS: resident), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def cpu_seconds(pid: int, children: bool = False) -> float:
    """CPU time (user + system) of a process, or of its reaped children, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3): utime, stime are 14, 15; cutime, cstime 16, 17.
    first = 13 if children else 11
    return (int(fields[first]) + int(fields[first + 1])) / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """Samples a process's resident size every ``period`` seconds; keeps the peak."""

    def __init__(self, pid: int, period: float = 0.5) -> None:
        self.pid, self.period, self.peak_mb, self.stop = pid, period, 0.0, False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self.stop:
            try:
                self.peak_mb = max(self.peak_mb, proc_status_mb(self.pid, "VmRSS"))
            except (OSError, ValueError):
                return
            time.sleep(self.period)


def metric_sum(text: str, name: str, by: str | None = None) -> dict[str, float]:
    """Sum of a Prometheus counter's samples, per value of label ``by`` (or under "")."""
    out: dict[str, float] = {}
    pattern = re.compile(rf"^{re.escape(name)}(?:{{(.*)}})? (\S+)$")
    for line in text.splitlines():
        m = pattern.match(line)
        if not m:
            continue
        key = ""
        if by is not None:
            lm = re.search(rf'(?:^|,){by}="([^"]*)"', m.group(1) or "")
            key = lm.group(1) if lm else ""
        out[key] = out.get(key, 0.0) + float(m.group(2))
    return out


def operator_metrics(port: int) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return str(response.read().decode())


def create_databases(admin_dsn: str, names: list[str], workers: int = 4) -> None:
    """CREATE DATABASE for each name, over a few connections (psql per database is slow)."""

    def create(part: list[str]) -> None:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            for name in part:
                conn.execute(f'CREATE DATABASE "{name}" STRATEGY FILE_COPY')

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(create, [names[i::workers] for i in range(workers)]))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--databases", type=int, default=200)
    parser.add_argument(
        "--idle-seconds", type=float, default=60.0, help="length of the idle measurement"
    )
    parser.add_argument(
        "--drift-check-interval",
        default="1m",
        help="spec.driftCheckInterval of the scale SchemaVersions (default 1m: every one is"
        " checked within a 60 s idle measurement; the product's default is 5m)",
    )
    parser.add_argument(
        "--apply-threads",
        type=int,
        default=24,
        help="threads applying the scale objects (each with its own connection)",
    )
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=1200.0,
        help="seconds from the first apply to wait for all Ready (default 1200)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    parser.add_argument(
        "--real-node",
        action="store_true",
        help="the Jobs as pods of the image built from the Dockerfile on a real node (root)",
    )
    args = parser.parse_args()
    # SIGTERM (and SIGINT, ignored in a background job) end the run through its
    # cleanup: the control plane and PostgreSQL are stopped.
    signal.signal(signal.SIGTERM, _interrupted)

    work = Path(tempfile.mkdtemp(prefix="schemaop-bench-"))
    log(f"starting PostgreSQL and the control plane in {work}")
    if args.real_node:
        pg, cl, job_image, db = start_real_node(work, max(300, args.databases + 100))
    else:
        pg = devpg.start(work / "pg", max_connections=max(300, args.databases + 100))
        cl = devcluster.start(work / "cluster", bin_dir=devcluster.testbins())
        job_image, db = "schemaop:dev", pg
    op: subprocess.Popen[bytes] | None = None
    results: dict[str, Any] = {}
    try:
        cl.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
        cl.kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/schemaversions.schemaop.io",
            "crd/schemamigrations.schemaop.io",
        )
        cl.kubectl("create", "namespace", NS)
        wait(
            "default ServiceAccount",
            lambda: cl.kubectl("-n", NS, "get", "sa", "default", check=False).returncode == 0,
            30,
        )
        api = config.new_client_from_config(config_file=str(cl.kubeconfig))
        core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
        env = {
            "KUBECONFIG": str(cl.kubeconfig),
            "PATH": f"{ROOT / '.venv/bin'}:/usr/bin:/bin",
            # To measure another checkout's operator: PYTHONPATH=<checkout>/operator:tools.
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        }
        metrics_port = free_port()
        with (work / "operator.log").open("wb") as out:
            op = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "schemaop",
                    "operator",
                    "-n",
                    NS,
                    "--job-image",
                    job_image,
                    "--metrics-port",
                    str(metrics_port),
                    "--health-port",
                    str(free_port()),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        watcher = Watcher(api)
        watcher.start()
        rss = RssSampler(op.pid)

        # 1. latency -------------------------------------------------------------
        if args.runs > 0:
            results["latency"] = latency(args.runs, db, core, custom, watcher, cl, args.real_node)

        # 2. scale -----------------------------------------------------------------
        results["scale"] = scale(
            args.databases,
            args.drift_check_interval,
            db,
            watcher,
            op.pid,
            cl,
            rss,
            args.apply_threads,
            args.ready_timeout,
            args.real_node,
        )

        # 3. idle ------------------------------------------------------------------
        if results["scale"]["ready"] == args.databases and args.idle_seconds > 0:
            results["idle"] = idle(args.idle_seconds, op.pid, metrics_port, cl)
        results["scale"]["operator_peak_rss_sampled_mb"] = round(rss.peak_mb, 1)
        results["scale"]["operator_vmhwm_mb"] = round(proc_status_mb(op.pid), 1)
        rss.stop = True
        watcher.stop = True
    finally:
        if op is not None:
            op.terminate()
            try:
                op.wait(15)
            except subprocess.TimeoutExpired:
                op.kill()
        cl.stop()
        pg.destroy()
    report(results)
    if args.json:
        print(json.dumps(results, indent=2))
    sc = results["scale"]
    return 0 if sc["ready"] == sc["databases"] else 1


def start_real_node(work: Path, max_connections: int) -> tuple[Any, Any, str, Any]:
    """``--real-node``: PostgreSQL also on the node's bridge address, the control
    plane with a real node. Returns (PostgreSQL, cluster, the Jobs' image, the
    PostgreSQL as pods reach it: the bridge address, with a password)."""
    from devenv import realnode

    # The cluster first: PostgreSQL can listen on the bridge address once it exists.
    cl = devcluster.start(work / "cluster", bin_dir=devcluster.testbins(), real_node=True)
    pg = devpg.start(
        work / "pg",
        max_connections=max_connections,
        networks=((realnode.NODE_IP, realnode.POD_CIDR),),
    )
    password = secrets.token_hex(16)
    pg.psql(f"ALTER ROLE {pg.user} PASSWORD '{password}'")
    return pg, cl, realnode.image()[1], _PodsPostgres(pg, password, realnode.NODE_IP)


@dataclasses.dataclass
class _PodsPostgres:
    """``dsn`` and ``create_database`` of a devenv PostgreSQL, as pods reach it."""

    pg: Any
    password: str
    host: str

    def dsn(self, dbname: str = "postgres") -> str:
        return str(dataclasses.replace(self.pg, host=self.host).dsn(dbname, password=self.password))

    def create_database(self, name: str) -> str:
        self.pg.create_database(name)
        return self.dsn(name)


def latency(
    runs: int, pg: Any, core: Any, custom: Any, watcher: Watcher, cl: Any, real_node: bool
) -> dict[str, Any]:
    """Apply-to-Ready of one SchemaMigration at a time, ``runs`` times; the Job's
    part split into its steps (see :func:`_job_steps`)."""
    log(f"latency: {runs} migrations applied one after another")
    url = pg.create_database("latency")
    core.create_namespaced_secret(NS, secret("lat", url))
    custom.create_namespaced_custom_object(
        GROUP, VERSION, NS, "schemamigrations", migration("lat", 1)
    )
    custom.create_namespaced_custom_object(
        GROUP, VERSION, NS, "schemaversions", schemaversion("lat")
    )
    wait("lat ready at 1", lambda: ("lat", "1") in watcher.ready, 120)
    kubelet0 = _kubelet_metrics(cl) if real_node else {}
    total, operator_t, job_t, jobs = [], [], [], []
    loads = [os.getloadavg()[0]]
    for i in range(2, runs + 2):
        before = set(watcher.job_seen)
        t0 = time.monotonic()
        custom.create_namespaced_custom_object(
            GROUP, VERSION, NS, "schemamigrations", migration("lat", i)
        )
        wait(f"lat ready at {i}", lambda i=i: ("lat", str(i)) in watcher.ready, 120)
        new = [k for k in watcher.job_seen if k not in before and k.startswith("lat/")]
        t1, t2, t3 = (
            watcher.job_seen[new[0]],
            watcher.job_done[new[0]],
            watcher.ready[("lat", str(i))],
        )
        total.append(t3 - t0)
        jobs.append(new[0].split("/", 1)[1])
        loads.append(os.getloadavg()[0])
        job_t.append(t2 - t1)
        operator_t.append((t1 - t0) + (t3 - t2))
        log(
            f"  run {i - 1}: total {t3 - t0:.3f}s"
            f" = operator {operator_t[-1]:.3f}s + job {t2 - t1:.3f}s"
        )
    steps = _job_steps(watcher, jobs, cl if real_node else None)
    result: dict[str, Any] = {
        "runs": len(total),
        "total_p50_s": round(statistics.median(total), 3),
        "total_p95_s": round(pct(total, 0.95), 3),
        "operator_p50_s": round(statistics.median(operator_t), 3),
        "operator_p95_s": round(pct(operator_t, 0.95), 3),
        "job_p50_s": round(statistics.median(job_t), 3),
        "job_p95_s": round(pct(job_t, 0.95), 3),
        "job_steps_p50_s": {
            step: round(statistics.median(values), 3) for step, values in steps.items()
        },
        "job_steps_p95_s": {step: round(pct(values, 0.95), 3) for step, values in steps.items()},
        "load_average_1m": _load(loads),
    }
    if real_node:
        result["kubelet"] = _kubelet_delta(kubelet0, _kubelet_metrics(cl))
    return result


# Wall-clock time = this process's monotonic time + WALL (containerd logs wall-clock time).
WALL = time.time() - time.monotonic()
_CONTAINERD = re.compile(r'^time="([^"]+)" level=\w+ msg="(.*?)(?<!\\)"(.*)$')
_SANDBOX = re.compile(
    r'RunPodSandbox for &PodSandboxMetadata\{Name:([^,]+),[^}]*\}(?: returns sandbox id \\"(\w+))?'
)
_CREATE = re.compile(
    r'CreateContainer within sandbox \\"(\w+)\\" for (?:container|&ContainerMetadata)'
    r'(?:.* returns container id \\"(\w+))?'
)
_STARTED = re.compile(r'StartContainer for \\"(\w+)\\" returns successfully')


def _wall_to_monotonic(stamp: str) -> float:
    """An RFC 3339 time with nanoseconds (containerd's, crictl's) as this process's
    monotonic time."""
    m = re.fullmatch(r"([^.]+?)(\.\d+)?(Z|[+-]\d\d:\d\d)", stamp)
    if not m:
        raise ValueError(f"not an RFC 3339 time: {stamp!r}")
    whole, fraction, zone = m.groups()
    when = datetime.datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    return when.timestamp() + float("0" + (fraction or "")) - WALL


def _cri_exits(cl: Any, pods: set[str]) -> dict[str, float]:
    """When the container of each pod of ``pods`` exited (the CRI's finishedAt, in
    nanoseconds; the API server's pod status has it in seconds)."""
    from devenv import realnode

    crictl = [
        str(realnode.node_binaries() / "crictl"),
        "--runtime-endpoint",
        f"unix://{cl.directory / 'node' / 'containerd' / 'containerd.sock'}",
        # Its default, 2 s a call, is too short on a loaded machine (seen at 200 pods).
        "--timeout",
        "60s",
    ]
    listed = subprocess.run(
        [*crictl, "ps", "-a", "-o", "json", "--label", f"io.kubernetes.pod.namespace={NS}"],
        check=True,
        capture_output=True,
        text=True,
    )
    ids = {
        c["id"]: c["labels"]["io.kubernetes.pod.name"]
        for c in json.loads(listed.stdout)["containers"]
        if c["labels"].get("io.kubernetes.pod.name") in pods
    }
    exits: dict[str, float] = {}
    chunk = sorted(ids)
    for i in range(0, len(chunk), 50):
        # One container: an object; more: a list ("-q": without the runtime's details).
        out = subprocess.run(
            [*crictl, "inspect", "-q", "-o", "json", *chunk[i : i + 50]],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        docs = json.loads(out)
        for doc in docs if isinstance(docs, list) else [docs]:
            status = doc.get("status") or {}
            finished = str(status.get("finishedAt", ""))
            # Not finished: Go's zero time, 0001-01-01.
            if status.get("id") in ids and finished and not finished.startswith("0001-"):
                exits[ids[status["id"]]] = _wall_to_monotonic(finished)
    return exits


def _containerd_times(log_file: Path, pods: set[str]) -> dict[str, dict[str, float]]:
    """Per pod of ``pods``, from containerd's log: when its sandbox was asked for
    ("sandbox") and ready ("sandbox_ready"), its container asked for ("create")
    and started ("started"), and its shim gone ("exited": containerd removes the
    task once it saw the process exit)."""
    times: dict[str, dict[str, float]] = {}
    pod_of: dict[str, str] = {}  # sandbox ids -> pod
    container_of: dict[str, str] = {}  # container ids -> pod
    for line in log_file.read_text(errors="replace").splitlines():
        m = _CONTAINERD.match(line)
        if not m:
            continue
        stamp, msg, rest = m.groups()
        if msg == "shim disconnected":
            cid = re.search(r"\bid=(\w+)", rest)
            if cid and cid.group(1) in container_of:
                times[container_of[cid.group(1)]].setdefault("exited", _wall_to_monotonic(stamp))
        elif (sb := _SANDBOX.search(msg)) and sb.group(1) in pods:
            pod = sb.group(1)
            step = "sandbox_ready" if sb.group(2) else "sandbox"
            times.setdefault(pod, {}).setdefault(step, _wall_to_monotonic(stamp))
            if sb.group(2):
                pod_of[sb.group(2)] = pod
        elif (cr := _CREATE.search(msg)) and cr.group(1) in pod_of:
            pod = pod_of[cr.group(1)]
            times[pod].setdefault("create", _wall_to_monotonic(stamp))
            if cr.group(2):
                container_of[cr.group(2)] = pod
        elif (st := _STARTED.search(msg)) and st.group(1) in container_of:
            times[container_of[st.group(1)]].setdefault("started", _wall_to_monotonic(stamp))
    return times


def _job_steps(watcher: Watcher, jobs: list[str], cl: Any = None) -> dict[str, list[float]]:
    """The Job's part (Job seen to Job Complete seen) of each of ``jobs``, step by step:
    the Job controller creating the pod ("job->pod"), its binding ("pod->bound":
    kube-scheduler, or the pod runner); then on a real node ``cl`` (containerd's
    log and the CRI) the kubelet until it asks for the sandbox ("bound->sandbox":
    pod seen, volumes), the sandbox ("sandbox->sandbox_ready": pause container,
    network namespace, CNI), the container's creation and start under runc
    ("sandbox_ready->started"), the process ("started->finished": `schemaop job
    run`), containerd's handling of its exit ("finished->exited": the task
    deleted, its shim gone), until the pod is seen Succeeded ("exited->pod_done":
    the kubelet's relist, once a second, and status write); with the pod runner,
    "bound->pod_done" instead; last the Job controller until Complete
    ("pod_done->complete": it syncs a Job one second after a pod's change)."""
    with watcher.lock:
        pods = {job: watcher.pod_name[job] for job in jobs if job in watcher.pod_name}
    containerd: dict[str, dict[str, float]] = {}
    if cl is not None:
        # Diagnostics: a failure here leaves these steps out, not the run.
        try:
            containerd = _containerd_times(cl.log_dir / "containerd.log", set(pods.values()))
            for pod, t in _cri_exits(cl, set(pods.values())).items():
                containerd.setdefault(pod, {})["finished"] = t
        except (OSError, ValueError, KeyError, subprocess.SubprocessError) as exc:
            log(f"  the node's steps left out ({type(exc).__name__}: {exc})")
    steps: dict[str, list[float]] = {}
    for job in jobs:
        node = containerd.get(pods.get(job, ""), {})
        with watcher.lock:
            key = next(k for k in watcher.job_seen if k.split("/", 1)[1] == job)
            marks = [
                ("job", watcher.job_seen[key]),
                ("pod", watcher.pod_seen.get(job)),
                ("bound", watcher.pod_bound.get(job)),
                *(
                    (step, node.get(step))
                    for step in ("sandbox", "sandbox_ready", "started", "finished", "exited")
                ),
                ("pod_done", watcher.pod_done.get(job)),
                ("complete", watcher.job_done.get(key)),
            ]
        known = [(name, t) for name, t in marks if t is not None]
        for (a, ta), (b, tb) in itertools.pairwise(known):
            steps.setdefault(f"{a}->{b}", []).append(tb - ta)
    return steps


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "p50": round(statistics.median(values), 1),
        "p95": round(pct(values, 0.95), 1),
        "max": round(max(values), 1),
    }


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        try:
            out[name] = cpu_seconds(pid)
            if name == "podrunner":  # the Job processes: its reaped children
                out["jobs"] = cpu_seconds(pid, children=True)
        except (OSError, IndexError, ValueError):
            continue
    if "kubelet" in pids and PODS_CGROUP.exists():  # a real node: its containers
        out["pods"] = int(PODS_CGROUP.read_text()) / 1e9
    return out


# The containers of a real node (containerd's default cgroup parent, cgroup v1): its
# CPU time counts that of every container, removed ones included.
PODS_CGROUP = Path("/sys/fs/cgroup/cpuacct/k8s.io/cpuacct.usage")


def _kubelet_metrics(cl: Any) -> dict[str, dict[str, float]]:
    """The real node's kubelet: its CRI calls (seconds and number, by operation),
    its API client's waits for its rate limiter, its volume operations by status."""
    out = cl.kubectl("get", "--raw", f"/api/v1/nodes/{cl.node_name}/proxy/metrics", check=False)
    if out.returncode != 0:  # diagnostics: left out, not the run
        log(f"  the kubelet's metrics left out: {out.stderr.strip()}")
    text = out.stdout if out.returncode == 0 else ""
    runtime = "kubelet_runtime_operations_duration_seconds"
    waits = "rest_client_rate_limiter_duration_seconds"
    return {
        "runtime_s": metric_sum(text, f"{runtime}_sum", "operation_type"),
        "runtime_n": metric_sum(text, f"{runtime}_count", "operation_type"),
        "throttled_s": metric_sum(text, f"{waits}_sum"),
        "throttled_n": metric_sum(text, f"{waits}_count"),
        "volume_operations": metric_sum(text, "storage_operation_duration_seconds_count", "status"),
    }


def _kubelet_delta(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]
) -> dict[str, Any]:
    def delta(name: str) -> dict[str, float]:
        return {k: v - before[name].get(k, 0.0) for k, v in after[name].items()}

    seconds, calls = delta("runtime_s"), delta("runtime_n")
    return {
        "cri_call_mean_s": {
            op: round(seconds[op] / n, 3) for op, n in sorted(calls.items()) if n >= 1
        },
        "cri_calls": {op: int(n) for op, n in sorted(calls.items()) if n >= 1},
        "api_client_rate_limiter_wait_s": round(sum(delta("throttled_s").values()), 2),
        "api_client_requests": int(sum(delta("throttled_n").values())),
        "volume_operations_by_status": {
            k: int(v) for k, v in sorted(delta("volume_operations").items()) if v >= 1
        },
    }


def _requests(cl: Any) -> dict[str, float]:
    """apiserver_request_total by "VERB resource" (every client)."""
    out: dict[str, float] = {}
    text = cl.kubectl("get", "--raw", "/metrics").stdout
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        key = f"{labels.get('verb', '')} {labels.get('resource', '')}".strip()
        if labels.get("subresource"):
            key += f"/{labels['subresource']}"
        out[key] = out.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def apply_client(kubeconfig: Path, connections: int) -> client.ApiClient:
    """An API client keeping ``connections`` connections (the default keeps ten: more
    threads would open a TLS connection per request)."""
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    configuration.connection_pool_maxsize = connections
    return client.ApiClient(configuration)


def scale(
    n: int,
    drift_check_interval: str,
    pg: Any,
    watcher: Watcher,
    op_pid: int,
    cl: Any,
    rss: RssSampler,
    threads: int = 24,
    ready_timeout: float = 1200.0,
    real_node: bool = False,
) -> dict[str, Any]:
    """n SchemaVersions with three SchemaMigrations each, applied at once by
    ``threads`` threads; the time counts from the first apply."""
    log(f"scale: creating {n} databases")
    names = [f"db{i}" for i in range(n)]
    t = time.monotonic()
    create_databases(pg.dsn(), [f"scale_{i}" for i in range(n)])
    log(f"  {n} databases created in {time.monotonic() - t:.0f}s")
    log(f"scale: applying {n} Secrets, {3 * n} SchemaMigrations and {n} SchemaVersions")
    applied: dict[str, float] = {}
    pids = {"operator": op_pid, **cl.pids}
    cpu0 = _cpu(pids)
    requests0 = _requests(cl)
    kubelet0 = _kubelet_metrics(cl) if real_node else {}

    api = apply_client(cl.kubeconfig, threads)
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    # _preload_content=False: the responses are not parsed into models (this process
    # shares the CPUs with what it measures).
    raw = {"_preload_content": False}

    def apply_one(i: int) -> None:
        name = names[i]
        core.create_namespaced_secret(NS, secret(name, pg.dsn(f"scale_{i}")), **raw)
        for v in (1, 2, 3):
            custom.create_namespaced_custom_object(
                GROUP, VERSION, NS, "schemamigrations", migration(name, v), **raw
            )
        custom.create_namespaced_custom_object(
            GROUP, VERSION, NS, "schemaversions", schemaversion(name, drift_check_interval), **raw
        )
        applied[name] = time.monotonic()

    t0 = time.monotonic()
    pool = concurrent.futures.ThreadPoolExecutor(threads)
    try:
        list(pool.map(apply_one, range(n)))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # interrupted: stop applying
    created = time.monotonic() - t0
    log(f"  applied in {created:.1f}s; waiting for all Ready")
    last = -1
    deadline = t0 + ready_timeout
    loads = [os.getloadavg()[0]]
    stopped = False
    try:
        while True:
            loads.append(os.getloadavg()[0])
            done = sum(1 for name in names if (name, "3") in watcher.ready)
            if done != last and (done % max(20, n // 20) == 0 or done == n):
                log(
                    f"  {done}/{n} Ready after {time.monotonic() - t0:.0f}s;"
                    f" operator RSS {proc_status_mb(op_pid, 'VmRSS'):.0f} MB"
                )
                last = done
            if done == n or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    except KeyboardInterrupt:  # SIGTERM: the figures so far, then no idle part
        log(f"  stopped after {time.monotonic() - t0:.0f}s: the figures so far")
        done = sum(1 for name in names if (name, "3") in watcher.ready)
        stopped = True
    elapsed = time.monotonic() - t0
    cpu1 = _cpu(pids)
    requests1 = _requests(cl)
    kubelet1 = _kubelet_metrics(cl) if real_node else {}
    # Per SchemaVersion: its apply (SchemaVersion created), its Job seen and Complete, Ready.
    with watcher.lock:
        jobs_of: dict[str, list[str]] = {}
        for key in watcher.job_seen:
            jobs_of.setdefault(key.split("/", 1)[0], []).append(key)
        per_sv, to_job, job_t, after_job, single = [], [], [], [], []
        for name in names:
            ready = watcher.ready.get((name, "3"))
            if ready is None:
                continue
            per_sv.append(ready - applied[name])
            keys = [k for k in jobs_of.get(name, []) if k in watcher.job_done]
            if len(keys) == 1:
                seen, complete = watcher.job_seen[keys[0]], watcher.job_done[keys[0]]
                single.append(keys[0].split("/", 1)[1])
                to_job.append(seen - applied[name])
                job_t.append(complete - seen)
                after_job.append(ready - complete)
    steps = _job_steps(watcher, single, cl if real_node else None)
    result = {
        "databases": n,
        "ready": done,
        "stopped_early": stopped,
        "seconds_to_apply_all": round(created, 1),
        "seconds_to_all_ready": round(elapsed, 1),
        "per_schemaversion_apply_to_ready_s": _percentiles(per_sv),
        "of_which_apply_to_job_s": _percentiles(to_job),
        "of_which_job_s": _percentiles(job_t),
        "of_which_job_complete_to_ready_s": _percentiles(after_job),
        "job_steps_s": {step: _percentiles(values) for step, values in steps.items()},
        "cpu_seconds": {k: round(cpu1[k] - cpu0.get(k, 0.0), 1) for k in cpu1},
        "apiserver_requests_by_verb_resource": {
            k: int(v - requests0.get(k, 0.0))
            for k, v in sorted(requests1.items(), key=lambda kv: -kv[1] + requests0.get(kv[0], 0))
            if v - requests0.get(k, 0.0) >= 1
        },
        "operator_peak_rss_during_scale_mb": round(rss.peak_mb, 1),
        # The machine's 1-minute load average (shared: it moves every figure).
        "load_average_1m": _load(loads),
    }
    if real_node:
        result["kubelet"] = _kubelet_delta(kubelet0, kubelet1)
    return result


def _load(samples: list[float]) -> dict[str, float]:
    return {
        "start": round(samples[0], 1),
        "max": round(max(samples), 1),
        "end": round(samples[-1], 1),
    }


def idle(seconds: float, op_pid: int, metrics_port: int, cl: Any) -> dict[str, Any]:
    """The operator's CPU and API requests while everything is Ready."""
    settle = 15.0
    log(f"idle: settling {settle:.0f}s, then measuring for {seconds:.0f}s")
    time.sleep(settle)

    def sample() -> tuple[float, float, dict[str, float], dict[str, float], dict[str, float]]:
        server = cl.kubectl("get", "--raw", "/metrics").stdout
        return (
            time.monotonic(),
            cpu_seconds(op_pid),
            metric_sum(
                operator_metrics(metrics_port), "schemaop_operator_api_requests_total", "verb"
            ),
            metric_sum(server, "apiserver_request_total", "verb"),
            metric_sum(server, "apiserver_request_total", "resource"),
        )

    pids = {"operator": op_pid, **cl.pids}
    components0 = _cpu(pids)
    t0, c0, own0, verbs0, res0 = sample()
    loads = [os.getloadavg()[0]]
    while time.monotonic() < t0 + seconds:
        time.sleep(min(5.0, max(0.0, t0 + seconds - time.monotonic())))
        loads.append(os.getloadavg()[0])
    t1, c1, own1, verbs1, res1 = sample()
    components1 = _cpu(pids)
    span = t1 - t0

    def rates(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
        out = {k: round((v - before.get(k, 0.0)) / span, 2) for k, v in after.items()}
        return {k: v for k, v in sorted(out.items()) if v}

    own = rates(own1, own0)
    server_verbs = rates(verbs1, verbs0)
    return {
        "seconds": round(span, 1),
        "operator_cpu_percent_of_one_core": round(100 * (c1 - c0) / span, 2),
        "cpu_percent_of_one_core_by_component": {
            k: round(100 * (v - components0.get(k, 0.0)) / span, 2) for k, v in components1.items()
        },
        "operator_api_requests_per_s": round(sum(own.values()), 2),
        "operator_api_requests_per_s_by_verb": own,
        "apiserver_requests_per_s_all_clients": round(sum(server_verbs.values()), 2),
        "apiserver_requests_per_s_by_verb": server_verbs,
        "apiserver_requests_per_s_by_resource": rates(res1, res0),
        "load_average_1m": _load(loads),
    }


def report(results: dict[str, Any]) -> None:
    lat = results.get("latency")
    if lat:
        print(
            f"latency over {lat['runs']} runs: p50 {lat['total_p50_s']}s"
            f" (operator {lat['operator_p50_s']}s, job {lat['job_p50_s']}s);"
            f" p95 {lat['total_p95_s']}s (operator {lat['operator_p95_s']}s,"
            f" job {lat['job_p95_s']}s); goal: operator p50 < 1s;"
            f" load average {lat['load_average_1m']}"
        )
        print(f"  the Job's steps, p50: {lat['job_steps_p50_s']}")
        if "kubelet" in lat:
            print(f"  kubelet: {lat['kubelet']}")
    sc = results["scale"]
    per = sc["per_schemaversion_apply_to_ready_s"]
    print(
        f"scale: {sc['ready']}/{sc['databases']} databases Ready in {sc['seconds_to_all_ready']}s"
        f" from the first apply (goal < 300s; applying took {sc['seconds_to_apply_all']}s);"
        f" per SchemaVersion apply-to-Ready {per}; apply-to-Job {sc['of_which_apply_to_job_s']},"
        f" Job {sc['of_which_job_s']}, Job-to-Ready {sc['of_which_job_complete_to_ready_s']};"
        f" CPU seconds {sc['cpu_seconds']};"
        f" operator peak RSS {sc.get('operator_peak_rss_sampled_mb')} MB sampled,"
        f" VmHWM {sc.get('operator_vmhwm_mb')} MB (goal < 300 MB);"
        f" load average {sc['load_average_1m']}"
    )
    print(f"  the Job's steps: {sc['job_steps_s']}")
    if "kubelet" in sc:
        print(f"  kubelet: {sc['kubelet']}")
    idle_ = results.get("idle")
    if idle_:
        print(
            f"idle over {idle_['seconds']}s: operator CPU"
            f" {idle_['operator_cpu_percent_of_one_core']}% of one core (goal < 5%);"
            f" operator API requests {idle_['operator_api_requests_per_s']}/s"
            f" {idle_['operator_api_requests_per_s_by_verb']};"
            f" API server, all clients {idle_['apiserver_requests_per_s_all_clients']}/s"
            f" {idle_['apiserver_requests_per_s_by_resource']};"
            f" load average {idle_['load_average_1m']}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
