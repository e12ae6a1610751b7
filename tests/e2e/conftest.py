"""Fixtures for end-to-end tests on the local Kubernetes control plane.

One control plane (etcd, kube-apiserver, kube-controller-manager) and the local
pod runner are started per session (`devenv.cluster`, about 5 s) and stopped at
the end; each test gets a fresh namespace, deleted afterwards. A missing binary
or a control plane that does not come up is a failure when CI is set
(`conftest.unavailable`).

Fixtures: ``cluster`` (a ``devenv.cluster.Cluster``), ``kubeconfig`` (its path,
also exported as ``KUBECONFIG`` for subprocesses), ``kube`` (a
``kubernetes.client.ApiClient``), ``namespace`` (a fresh namespace name),
``wait_job`` (block until a Job is Complete or Failed), ``wait_pod`` (block
until a pod reaches one of some phases) and ``pod_log`` (a container's log,
read from the pod runner's log directory: there is no kubelet to serve
``kubectl logs``).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from kube_support import create_namespace, delete_namespace, kubeconfig_set, poll
from kubernetes import client, config

from devenv import cluster as devcluster


def _root_conftest() -> ModuleType:
    """tests/conftest.py as a module. ``import conftest`` is ambiguous here (pytest
    imports every conftest.py as ``conftest``), so load it by path, once."""
    name = "_schemaop_tests_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).parents[1] / "conftest.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


# Re-exported so that ``from conftest import unavailable`` works in any test module,
# whichever conftest.py pytest imported last under that name.
unavailable = _root_conftest().unavailable


WaitJob = Callable[..., str]
WaitPod = Callable[..., Any]
PodLog = Callable[..., str]


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devcluster.Cluster]:
    """The local control plane and pod runner, once per session."""
    try:
        bin_dir = devcluster.testbins()
        running = devcluster.start(tmp_path_factory.mktemp("cluster"), bin_dir=bin_dir)
    except Exception as exc:
        unavailable("the local Kubernetes control plane", exc)
        raise
    with kubeconfig_set(running):
        yield running


@pytest.fixture(scope="session")
def kubeconfig(cluster: devcluster.Cluster) -> Path:
    return cluster.kubeconfig


@pytest.fixture(scope="session")
def kube(kubeconfig: Path) -> Iterator[Any]:
    """An authenticated ``kubernetes.client.ApiClient`` (cluster-admin)."""
    api = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def namespace(kube: Any) -> Iterator[str]:
    """A fresh namespace with its default ServiceAccount; deleted after the test."""
    name = create_namespace(kube, "e2e")
    yield name
    delete_namespace(kube, name)


def job_condition(job: Any, types: tuple[str, ...] = ("Complete", "Failed")) -> str | None:
    """The first of ``types`` that is a True condition of the Job, if any."""
    for cond in (job.status and job.status.conditions) or []:
        if cond.type in types and cond.status == "True":
            return str(cond.type)
    return None


@pytest.fixture
def wait_job(kube: Any) -> WaitJob:
    """``wait_job(namespace, name, timeout=60) -> "Complete" | "Failed"``."""
    batch = client.BatchV1Api(kube)

    def wait(namespace: str, name: str, timeout: float = 60.0) -> str:
        return str(
            poll(
                f"Job {namespace}/{name} to finish",
                lambda: job_condition(batch.read_namespaced_job(name, namespace)),
                timeout,
            )
        )

    return wait


@pytest.fixture
def wait_pod(kube: Any) -> WaitPod:
    """``wait_pod(namespace, name, phases=("Succeeded", "Failed"), timeout=60) -> V1Pod``."""
    core = client.CoreV1Api(kube)

    def wait(
        namespace: str,
        name: str,
        phases: tuple[str, ...] = ("Succeeded", "Failed"),
        timeout: float = 60.0,
    ) -> Any:
        def check() -> Any:
            pod = core.read_namespaced_pod(name, namespace)
            return pod if pod.status and pod.status.phase in phases else None

        return poll(f"pod {namespace}/{name} to be {'|'.join(phases)}", check, timeout)

    return wait


@pytest.fixture
def pod_log(cluster: devcluster.Cluster) -> PodLog:
    """``pod_log(namespace, pod, container="main") -> str`` (stdout and stderr)."""

    def read(namespace: str, pod: str, container: str = "main") -> str:
        path = cluster.pod_log_dir / namespace / pod / f"{container}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    return read
