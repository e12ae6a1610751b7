"""Fixtures for the tests on a real node: containerd, runc, kubelet, kube-proxy and
kube-scheduler (tools/devenv/realnode.py) with the control plane of
tools/devenv/cluster.py, running the project's image built from its Dockerfile.

One cluster for all of tests/realnode (``real_cluster``, package scope: stopped,
and the machine's node let go, as soon as the last test here ends). Only one
real node runs per machine, so starting it queues behind another session's
node (``devenv.realnode.queue``, up to ``SCHEMAOP_REALNODE_WAIT`` seconds, a
line every 30 s); the first test here gets that time on top of its own timeout.
A PostgreSQL that pods reach on the node's bridge address (``node_postgres``).
Needs root. A missing dependency fails when CI is set (``conftest.unavailable``),
as in tests/e2e; a node still busy after the waiting time always fails.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import config

from devenv import cluster as devcluster
from devenv import pg as devpg
from devenv import realnode
from e2e.kube_support import create_namespace, delete_namespace, kubeconfig_set

HERE = Path(__file__).parent
# The first test's setup builds what is missing, queues for the node and starts it.
NODE_SETUP_TIMEOUT = realnode.WAIT_TIMEOUT + 1200
_started: list[devcluster.Cluster] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(tryfirst=True, wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, None, None]:
    """Before pytest-timeout reads the marker: the test that will start the node
    may also wait for it."""
    if not _started and "real_cluster" in getattr(item, "fixturenames", ()):
        item.add_marker(pytest.mark.timeout(NODE_SETUP_TIMEOUT), append=False)
    return (yield)


def _unavailable(what: str, why: BaseException) -> None:
    """tests/conftest.py's (fail in CI, skip loudly elsewhere), loaded by path under
    the name tests/e2e/conftest.py uses: ``import conftest`` is ambiguous."""
    name = "_schemaop_tests_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE.parent / "conftest.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    sys.modules[name].unavailable(what, why)


@pytest.fixture(scope="package")
def real_cluster(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[devcluster.Cluster]:
    """The control plane with a real node, once for tests/realnode."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    try:
        # Live progress (builds, the queue, the node's start) even under capture.
        with capture.global_and_fixture_disabled():
            bin_dir = devcluster.testbins()
            running = devcluster.start(
                tmp_path_factory.mktemp("cluster"), bin_dir=bin_dir, real_node=True
            )
    except realnode.RealNodeBusy as exc:
        pytest.fail(str(exc), pytrace=False)
    except Exception as exc:
        _unavailable("a real Kubernetes node", exc)
        raise
    _started.append(running)
    with kubeconfig_set(running):
        yield running


@pytest.fixture(scope="package")
def node_image(real_cluster: devcluster.Cluster) -> tuple[str, str]:
    """(repository, tag) of the project's image loaded into the node's containerd."""
    _archive, ref = realnode.image()
    repository, tag = ref.rsplit(":", 1)
    return repository, tag


@pytest.fixture(scope="package")
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


@pytest.fixture(scope="package")
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
