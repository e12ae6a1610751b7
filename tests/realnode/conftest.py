"""Fixtures for the tests on a real node: containerd, runc, kubelet, kube-proxy and
kube-scheduler (tools/devenv/realnode.py) with the control plane of
tools/devenv/cluster.py, running the project's image built from its Dockerfile.

One cluster per session (``real_cluster``; first start builds the node binaries
and the image, then about 30 s); a PostgreSQL that pods reach on the node's
bridge address (``node_postgres``). Needs root. A missing dependency fails when
CI is set (``conftest.unavailable``), as in tests/e2e.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import config

from devenv import cluster as devcluster
from devenv import pg as devpg
from devenv import realnode
from e2e.kube_support import create_namespace, delete_namespace, kubeconfig_set


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def _unavailable(what: str, why: BaseException) -> None:
    """tests/conftest.py's (fail in CI, skip loudly elsewhere), loaded by path under
    the name tests/e2e/conftest.py uses: ``import conftest`` is ambiguous."""
    name = "_schemaop_tests_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).parents[1] / "conftest.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    sys.modules[name].unavailable(what, why)


@pytest.fixture(scope="session")
def real_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devcluster.Cluster]:
    """The control plane with a real node, once per session."""
    try:
        bin_dir = devcluster.testbins()
        running = devcluster.start(
            tmp_path_factory.mktemp("cluster"), bin_dir=bin_dir, real_node=True
        )
    except Exception as exc:
        _unavailable("a real Kubernetes node", exc)
        raise
    with kubeconfig_set(running):
        yield running


@pytest.fixture(scope="session")
def node_image(real_cluster: devcluster.Cluster) -> tuple[str, str]:
    """(repository, tag) of the project's image loaded into the node's containerd."""
    _archive, ref = realnode.image()
    repository, tag = ref.rsplit(":", 1)
    return repository, tag


@pytest.fixture(scope="session")
def node_postgres(
    real_cluster: devcluster.Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[devpg.Postgres]:
    """A PostgreSQL listening on 127.0.0.1 and on the node's bridge address."""
    server = devpg.start(
        tmp_path_factory.mktemp("node-postgres"),
        networks=((realnode.NODE_IP, realnode.POD_CIDR),),
    )
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def kube(real_cluster: devcluster.Cluster) -> Iterator[Any]:
    api = config.new_client_from_config(config_file=str(real_cluster.kubeconfig))
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def namespace(kube: Any) -> Iterator[str]:
    name = create_namespace(kube, "node")
    yield name
    delete_namespace(kube, name)
