"""Every values combination of both charts (tools/chart_values.py, the ones `make lint`
runs helm lint --strict on), rendered and applied to the real API server with a
server-side dry run: admission and the CRD schemas judge every object. Also the
short names users type, answered by the API server's discovery.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from kube_support import apply_crds, create_namespace, delete_namespace, helm, kubectl

import chart_values
import render_manifests
from devenv import cluster as devcluster


@pytest.fixture(scope="module")
def namespaces(cluster: devcluster.Cluster, kube: Any) -> Any:
    apply_crds(cluster)
    # The chart's crds/ (kopf's peering CRDs), which helm installs before the templates.
    kubectl(cluster, "apply", "--server-side", "-f", str(chart_values.CHART / "crds"))
    kubectl(
        cluster,
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/kopfpeerings.kopf.dev",
        "crd/clusterkopfpeerings.kopf.dev",
    )
    release = create_namespace(kube, "dryrun")
    names = [release]
    for name in chart_values.NAMESPACES:
        try:
            kubectl(cluster, "create", "namespace", name)
            names.append(name)
        except AssertionError as exc:
            if "AlreadyExists" not in str(exc):
                raise
    try:
        yield release
    finally:
        for name in names:
            delete_namespace(kube, name)


@pytest.mark.parametrize(
    ("chart", "args"),
    [pytest.param(c, a, id=f"{c.name}-{n}") for c, n, a in chart_values.combinations()],
)
def test_rendered_chart_passes_a_server_side_dry_run(
    cluster: devcluster.Cluster, namespaces: str, chart: Any, args: tuple[str, ...]
) -> None:
    rendered = helm(
        cluster,
        "template",
        "schemaop",
        str(chart),
        "--namespace",
        namespaces,
        "--kube-version",
        render_manifests.kube_version(),
        *args,
    )
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    served = [d for d in docs if d["kind"] not in chart_values.NOT_SERVED]
    assert served
    out = kubectl(
        cluster,
        "apply",
        "--server-side",
        "--dry-run=server",
        "--force-conflicts",
        "-f",
        "-",
        stdin=yaml.safe_dump_all(served),
    )
    assert out.count("(server dry run)") == len(served), out


def test_short_names_are_served(cluster: devcluster.Cluster, namespaces: str) -> None:
    for short in ("sv", "sm"):
        kubectl(cluster, "get", short, "-n", namespaces)
