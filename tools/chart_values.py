"""The values combinations the charts are installed and rendered with, in one place.

``make lint`` runs ``helm lint --strict`` on each (tools/check_artifacts.py), and the
e2e tier applies each rendered combination to the real API server with a
server-side dry run (tests/e2e/test_chart_dry_run.py). Each combination mirrors
one that a test installs or renders (named in its comment), with the values that
vary per run (ports, namespace names) fixed; when a test starts setting a new
value, add its combination here.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "schemaop"
APP_CHART = ROOT / "charts" / "examples" / "orders-app"

LOCAL_IMAGE = ("--set", "image.repository=schemaop", "--set", "image.tag=dev")

# Namespaces the combinations name: the e2e dry run creates them first.
NAMESPACES = ("apps", "watched-a", "watched-b", "a")

OPERATOR: dict[str, tuple[str, ...]] = {
    # manifests/install.yaml, and most of tests/unit/test_chart.py
    "defaults": (),
    # the release of tests/realnode/test_real_node.py (there with the built image, the
    # console on, and peering turned on by its last test's `helm upgrade`)
    "cluster-wide": (
        *LOCAL_IMAGE,
        "--set",
        "operator.metricsPort=18080",
        "--set",
        "operator.healthPort=18081",
        "--set",
        "jobs.serviceAccount.namespaces={apps}",
        "--set",
        "peering.enabled=true",
        "--set",
        "console.enabled=true",
        "--set",
        "console.namespaces={apps}",
    ),
    # tests/realnode/test_chart_namespaced.py; tests/unit/test_chart.py (namespaced mode)
    "namespaced": (
        *LOCAL_IMAGE,
        "--set",
        "watchNamespaces={watched-a,watched-b}",
        "--set",
        "crds.install=false",
        "--set",
        "rbac.clusterMetadata=false",
        "--set",
        "operator.metricsPort=18082",
        "--set",
        "operator.healthPort=18083",
    ),
    # tests/unit/test_chart.py::test_replicas_turn_peering_on
    "replicas": ("--set", "replicas=2"),
    "replicas-namespaced": (
        "--set",
        "peering.enabled=true",
        "--set",
        "watchNamespaces={watched-a,watched-b}",
    ),
    # an operator shard (docs/install.md; tests/unit/test_chart.py values schema tests)
    "shard": ("--set", "selector=shard=a"),
    # tests/unit/test_chart.py::test_crds_can_be_left_out_and_kept
    "crds-not-kept": ("--set", "crds.keep=false"),
    # tests/e2e/test_approval.py (only labelled Secrets); tests/unit/test_chart.py
    "secret-selector": (*LOCAL_IMAGE, "--set", "secrets.selector=schemaop.io/database=true"),
    # tests/unit/test_chart.py::test_the_approval_policy_and_role_can_be_left_out
    "no-approval-policy": (
        "--set",
        "approval.policy.enabled=false",
        "--set",
        "approval.approverRole.create=false",
    ),
    # tests/unit/test_chart.py::test_job_policy_values_reach_the_operator
    "job-policy": (
        "--set",
        "watchNamespaces={a}",
        "--set",
        "jobs.policy.images={r.io/x/,r.io/y:1}",
        "--set",
        "jobs.policy.serviceAccounts={migrator}",
        "--set",
        "jobs.policy.snapshotVolumeTypes={persistentVolumeClaim,csi}",
        "--set",
        "jobs.policy.podAnnotations={team.io/*}",
        "--set",
        "jobs.policy.podLabels={team}",
        "--set",
        "jobs.policy.tolerations={spot.io/*}",
        "--set",
        "jobs.policy.nodeSelectors={pool.example.com/*}",
        "--set",
        "jobs.serviceAccount.automountServiceAccountToken=true",
    ),
    # tests/unit/test_chart.py::test_optional_monitoring_objects; render_manifests (alerts)
    "monitoring": (
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "prometheusRule.enabled=true",
        "--set",
        "dashboards.enabled=true",
    ),
    # the console in namespaced mode with an Ingress; tests/unit/test_chart.py (the
    # console); tests/realnode/test_real_node.py runs it cluster-wide on the real node
    "console": (
        *LOCAL_IMAGE,
        "--set",
        "watchNamespaces={apps}",
        "--set",
        "crds.install=false",
        "--set",
        "operator.metricsPort=18085",
        "--set",
        "operator.healthPort=18086",
        "--set",
        "console.enabled=true",
        "--set",
        "console.port=18087",
        "--set",
        "console.apiServer=https://127.0.0.1:6443",
        "--set",
        "console.namespaces={apps}",
        "--set",
        "console.ingress.enabled=true",
        "--set",
        "console.ingress.host=console.example.com",
    ),
}

APP: dict[str, tuple[str, ...]] = {
    # the app chart as tests/realnode/test_real_node.py installs it (there with the built image)
    "e2e": (
        "--set",
        "database.url=postgresql://orders:change-me@postgres.apps.svc:5432/shop",
        "--set",
        "image.repository=schemaop",
        "--set",
        "image.tag=dev",
        "--set",
        "wait.image.repository=schemaop",
        "--set",
        "wait.image.tag=dev",
        "--set",
        "wait.timeoutSeconds=120",
        "--set-json",
        'command=["sleep","infinity"]',
    ),
    # the chart's defaults (tests/realnode/test_real_node.py dry-runs them too)
    "defaults": (),
}

# Kinds of the Prometheus Operator: the local control plane has no such CRDs, so the
# e2e dry run leaves these objects out; tests/unit/test_chart.py renders them and
# check_artifacts checks their rules with promtool.
NOT_SERVED = frozenset({"ServiceMonitor", "PrometheusRule"})


def combinations() -> list[tuple[Path, str, tuple[str, ...]]]:
    """(chart, name, helm arguments) for every combination of both charts."""
    return [(CHART, name, args) for name, args in OPERATOR.items()] + [
        (APP_CHART, name, args) for name, args in APP.items()
    ]
