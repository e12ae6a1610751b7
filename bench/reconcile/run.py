"""Benchmark: the operator on the local cluster (issue 4).

1. Latency from applying a new SchemaMigration to Ready, over N runs, split
   into operator time and Job time, from watch events seen by this script:
   T0 migration created, T1 Job seen, T2 Job Complete seen, T3 SchemaVersion
   Ready at the new version seen. Operator = (T1-T0) + (T3-T2); Job = T2-T1
   (pod start through the local pod runner, `schemaop job run`, Job controller).
2. Scale: D SchemaVersions (D databases on one PostgreSQL, three migrations
   each) created at once, time until all are Ready, and the operator's peak
   memory (VmHWM of its process).

    .venv/bin/python bench/reconcile/run.py [--runs 20] [--databases 200] [--json]

Everything runs on loopback: the control plane and PostgreSQL are started by
the script in a temporary directory and stopped at the end.
"""

from __future__ import annotations

import argparse
import base64
import json
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
        self.stop = False
        self.lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._jobs, daemon=True).start()
        threading.Thread(target=self._svs, daemon=True).start()

    def _jobs(self) -> None:
        batch = client.BatchV1Api(self.api)
        while not self.stop:
            for ev in watch.Watch().stream(batch.list_namespaced_job, NS, timeout_seconds=30):
                now = time.monotonic()
                job = ev["object"]
                sv = (job.metadata.labels or {}).get("schemaop.io/schemaversion", "")
                key = f"{sv}/{job.metadata.name}"
                with self.lock:
                    self.job_seen.setdefault(key, now)
                    for c in (job.status and job.status.conditions) or []:
                        if c.type == "Complete" and c.status == "True":
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
                timeout_seconds=30,
            )
            for ev in stream:
                now = time.monotonic()
                obj = ev["object"]
                status = obj.get("status") or {}
                ready = [c for c in status.get("conditions") or [] if c["type"] == "Ready"]
                if ready and ready[0]["status"] == "True":
                    key = (obj["metadata"]["name"], str(status.get("currentVersion")))
                    with self.lock:
                        self.ready.setdefault(key, now)


def secret(name: str, url: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": {"url": base64.b64encode(url.encode()).decode()}}


def schemaversion(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SchemaVersion",
        "metadata": {"name": name},
        "spec": {
            "connection": {"urlFrom": {"secretKeyRef": {"name": name, "key": "url"}}},
            "snapshot": {"policy": "None"},
        },
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


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--databases", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="schemaop-bench-"))
    log(f"starting PostgreSQL and the control plane in {work}")
    pg = devpg.start(work / "pg", max_connections=max(300, args.databases + 100))
    cl = devcluster.start(work / "cluster", bin_dir=devcluster.testbins())
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
        env = {"KUBECONFIG": str(cl.kubeconfig), "PATH": f"{ROOT / '.venv/bin'}:/usr/bin:/bin"}
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
                    "schemaop:dev",
                    "--metrics-port",
                    str(free_port()),
                    "--health-port",
                    str(free_port()),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        watcher = Watcher(api)
        watcher.start()

        # 1. latency -------------------------------------------------------------
        log(f"latency: {args.runs} migrations applied one after another")
        url = pg.create_database("latency")
        core.create_namespaced_secret(NS, secret("lat", url))
        custom.create_namespaced_custom_object(
            GROUP, VERSION, NS, "schemamigrations", migration("lat", 1)
        )
        custom.create_namespaced_custom_object(
            GROUP, VERSION, NS, "schemaversions", schemaversion("lat")
        )
        wait("lat ready at 1", lambda: ("lat", "1") in watcher.ready, 120)
        total, operator_t, job_t = [], [], []
        for i in range(2, args.runs + 2):
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
            job_t.append(t2 - t1)
            operator_t.append((t1 - t0) + (t3 - t2))
            log(
                f"  run {i - 1}: total {t3 - t0:.3f}s"
                f" = operator {operator_t[-1]:.3f}s + job {t2 - t1:.3f}s"
            )
        results["latency"] = {
            "runs": len(total),
            "total_p50_s": round(statistics.median(total), 3),
            "total_p95_s": round(pct(total, 0.95), 3),
            "operator_p50_s": round(statistics.median(operator_t), 3),
            "operator_p95_s": round(pct(operator_t, 0.95), 3),
            "job_p50_s": round(statistics.median(job_t), 3),
            "job_p95_s": round(pct(job_t, 0.95), 3),
        }

        # 2. scale -----------------------------------------------------------------
        n = args.databases
        log(f"scale: creating {n} databases, Secrets, SchemaVersions and {3 * n} SchemaMigrations")
        urls = [pg.create_database(f"scale_{i}") for i in range(n)]
        t0 = time.monotonic()
        for i, u in enumerate(urls):
            name = f"db{i}"
            core.create_namespaced_secret(NS, secret(name, u))
            for v in (1, 2, 3):
                custom.create_namespaced_custom_object(
                    GROUP, VERSION, NS, "schemamigrations", migration(name, v)
                )
            custom.create_namespaced_custom_object(
                GROUP, VERSION, NS, "schemaversions", schemaversion(name)
            )
        created = time.monotonic() - t0
        log(f"  created in {created:.1f}s; waiting for all Ready")
        last = -1
        deadline = time.monotonic() + 900
        while True:
            done = sum(1 for i in range(n) if (f"db{i}", "3") in watcher.ready)
            if done != last and (done % 20 == 0 or done == n):
                log(f"  {done}/{n} Ready after {time.monotonic() - t0:.0f}s")
                last = done
            if done == n or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - t0
        results["scale"] = {
            "databases": n,
            "ready": done,
            "seconds_to_all_ready": round(elapsed, 1),
            "operator_peak_rss_mb": round(peak_rss_mb(op.pid), 1),
        }
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
    lat, sc = results["latency"], results["scale"]
    print(
        f"latency over {lat['runs']} runs: p50 {lat['total_p50_s']}s"
        f" (operator {lat['operator_p50_s']}s, "
        f"job {lat['job_p50_s']}s); p95 {lat['total_p95_s']}s (operator {lat['operator_p95_s']}s, "
        f"job {lat['job_p95_s']}s); goal: operator p50 < 1s"
    )
    print(
        f"scale: {sc['ready']}/{sc['databases']} databases Ready in {sc['seconds_to_all_ready']}s; "
        f"operator peak RSS {sc['operator_peak_rss_mb']} MB; goals: < 180s, < 250 MB"
    )
    if args.json:
        print(json.dumps(results, indent=2))
    return 0 if sc["ready"] == sc["databases"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
