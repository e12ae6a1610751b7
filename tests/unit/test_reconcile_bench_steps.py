"""bench/reconcile's split of a Job's time into its steps (docs/benchmarks.md, "On the
real node"): containerd's log read for a pod's sandbox, container start and exit,
the steps between the marks that exist, and the kubelet's metrics as differences."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "reconcile" / "run.py"


@pytest.fixture(scope="module")
def bench() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("reconcile_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


SANDBOX = "95a3b98451a639b47aced46ca9a36d1fd7a712a5bd5f4f44391f7d6ddf076851"
CONTAINER = "8b32dc7b7e45e8b28ceb9cd9ecc69da58b588d2d5c1a0a6abdf87497c396f746"
POD = "lat-2d44c4e044-2-vwmvx"
META = f"&PodSandboxMetadata{{Name:{POD},Uid:295a724b,Namespace:bench,Attempt:0,}}"

# The lines of containerd 1.6 (Debian's) that the bench reads, in its format, with
# another pod's and other lines in between: (time, msg with its quotes escaped, rest).
Q = '\\"'
LINES = [
    ("16.5", f"RunPodSandbox for {META}", ""),
    ("16.6", "RunPodSandbox for &PodSandboxMetadata{Name:other,Uid:1,Namespace:b,Attempt:0,}", ""),
    ("16.718470688", f"loading plugin {Q}io.containerd.event.v1.publisher{Q}...", " type=x"),
    ("16.9", f"RunPodSandbox for {META} returns sandbox id {Q}{SANDBOX}{Q}", ""),
    ("16.95", f"CreateContainer within sandbox {Q}{SANDBOX}{Q} for container &Container{{}}", ""),
    (
        "16.97",
        f"CreateContainer within sandbox {Q}{SANDBOX}{Q} for &ContainerMetadata{{Name:migrate,}}"
        f" returns container id {Q}{CONTAINER}{Q}",
        "",
    ),
    ("16.98", f"StartContainer for {Q}{CONTAINER}{Q}", ""),
    ("17.2", f"StartContainer for {Q}{CONTAINER}{Q} returns successfully", ""),
    ("18.3", "shim disconnected", f" id={SANDBOX}"),
    ("18.4", "shim disconnected", f" id={CONTAINER}"),
]
LOG = "=== 2026-12-02T00:39:45 starting containerd\n" + "".join(
    f'time="2026-12-02T00:40:{at}Z" level=info msg="{msg}"{rest}\n' for at, msg, rest in LINES
)


def test_containerd_log_gives_a_pods_sandbox_start_and_exit(bench: Any, tmp_path: Path) -> None:
    log = tmp_path / "containerd.log"
    log.write_text(LOG)
    times = bench._containerd_times(log, {POD})
    assert set(times) == {POD}
    t0 = bench._wall_to_monotonic("2026-12-02T00:40:16.5Z")
    relative = {step: round(t - t0, 3) for step, t in times[POD].items()}
    assert relative == {
        "sandbox": 0.0,
        "sandbox_ready": 0.4,
        "create": 0.45,
        "started": 0.7,
        "exited": 1.9,
    }


def test_rfc3339_times_with_nanoseconds_and_offsets(bench: Any) -> None:
    z = bench._wall_to_monotonic("2026-12-02T00:40:16Z")
    assert bench._wall_to_monotonic("2026-12-02T00:40:16.514423473Z") - z == pytest.approx(
        0.514423473, abs=1e-6
    )
    assert bench._wall_to_monotonic("2026-12-02T01:40:16.25+01:00") - z == pytest.approx(0.25)
    with pytest.raises(ValueError):
        bench._wall_to_monotonic("yesterday")


def test_job_steps_between_the_marks_there_are(
    bench: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "containerd.log").write_text(LOG)
    t0 = bench._wall_to_monotonic("2026-12-02T00:40:16.5Z")
    watcher = bench.Watcher(None)
    job = POD.rsplit("-", 1)[0]
    watcher.job_seen[f"lat/{job}"] = t0 - 1.0
    watcher.pod_name[job] = POD
    watcher.pod_seen[job] = t0 - 0.8
    watcher.pod_bound[job] = t0 - 0.7
    watcher.pod_done[job] = t0 + 2.5
    watcher.job_done[f"lat/{job}"] = t0 + 3.5

    # The pod runner: no containerd; binding to Succeeded is one step.
    steps = bench._job_steps(watcher, [job])
    assert {k: round(v[0], 3) for k, v in steps.items()} == {
        "job->pod": 0.2,
        "pod->bound": 0.1,
        "bound->pod_done": 3.2,
        "pod_done->complete": 1.0,
    }

    # A real node: containerd's log, and the CRI's exit time.
    cluster = types.SimpleNamespace(log_dir=tmp_path)
    monkeypatch.setattr(bench, "_cri_exits", lambda cl, pods: {POD: t0 + 1.5})
    steps = bench._job_steps(watcher, [job], cluster)
    assert {k: round(v[0], 3) for k, v in steps.items()} == {
        "job->pod": 0.2,
        "pod->bound": 0.1,
        "bound->sandbox": 0.7,
        "sandbox->sandbox_ready": 0.4,
        "sandbox_ready->started": 0.3,
        "started->finished": 0.8,
        "finished->exited": 0.4,
        "exited->pod_done": 0.6,
        "pod_done->complete": 1.0,
    }
    assert sum(v[0] for v in steps.values()) == pytest.approx(4.5)


def test_kubelet_metrics_as_differences(bench: Any) -> None:
    before = {
        "runtime_s": {"run_podsandbox": 1.0, "start_container": 0.5},
        "runtime_n": {"run_podsandbox": 2.0, "start_container": 2.0},
        "throttled_s": {"": 0.1},
        "throttled_n": {"": 10.0},
        "volume_operations": {"success": 4.0},
    }
    after = {
        "runtime_s": {"run_podsandbox": 4.0, "start_container": 0.5, "version": 0.1},
        "runtime_n": {"run_podsandbox": 12.0, "start_container": 2.0, "version": 5.0},
        "throttled_s": {"": 2.1},
        "throttled_n": {"": 110.0},
        "volume_operations": {"success": 24.0, "fail-unknown": 3.0},
    }
    assert bench._kubelet_delta(before, after) == {
        "cri_call_mean_s": {"run_podsandbox": 0.3, "version": 0.02},
        "cri_calls": {"run_podsandbox": 10, "version": 5},
        "api_client_rate_limiter_wait_s": 2.0,
        "api_client_requests": 100,
        "volume_operations_by_status": {"fail-unknown": 3, "success": 20},
    }
