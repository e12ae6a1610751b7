"""The Helm charts rendered with the pinned helm (no cluster): generated files are
fresh, RBAC is least privilege in both modes, values are checked by the schema,
and the dashboard and alert rules use only metrics the operator exports.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_support import pinned_helm, render

import render_manifests  # tools/ is on pytest's pythonpath
from schemaop import schemas

ROOT = Path(__file__).resolve().parents[2]

CHART = ROOT / "charts" / "schemaop"
APP_CHART = ROOT / "charts" / "examples" / "orders-app"


@pytest.fixture(scope="module")
def helm() -> Path:
    return pinned_helm()


def _kinds(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def _rules(docs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for doc in docs:
        if doc["kind"] in ("Role", "ClusterRole"):
            for rule in doc.get("rules") or []:
                yield doc, rule


def _deployment(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (dep,) = _kinds(docs, "Deployment")
    return dep


def _env(dep: dict[str, Any]) -> dict[str, Any]:
    container = dep["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container["env"]}


# -- generated files ---------------------------------------------------------------------------


def test_chart_crd_templates_are_fresh() -> None:
    for path, text in render_manifests.crd_templates().items():
        assert path.exists() and path.read_text() == text, f"{path.name} is stale: make manifests"
    expected = set(render_manifests.crd_templates())
    assert set(render_manifests.CRD_TEMPLATES.glob("*.yaml")) == expected


def test_install_yaml_and_alert_rules_are_fresh(helm: Path) -> None:
    assert render_manifests.INSTALL.read_text() == render_manifests.install_manifest(helm), (
        "manifests/install.yaml is stale: make manifests"
    )
    assert render_manifests.ALERTS.read_text() == render_manifests.alerts_file(helm), (
        "docs/prometheus/schemaop-alerts.yaml is stale: make manifests"
    )


def test_install_yaml_holds_the_crds_of_crds_dir() -> None:
    docs = [d for d in yaml.safe_load_all(render_manifests.INSTALL.read_text()) if d]
    by_name = {d["metadata"]["name"]: d for d in _kinds(docs, "CustomResourceDefinition")}
    for path in (ROOT / "crds").glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        assert by_name[crd["metadata"]["name"]]["spec"] == crd["spec"]
    assert docs[0]["kind"] == "Namespace"
    assert {d["metadata"].get("namespace") for d in _kinds(docs, "Deployment")} == {
        "schemaop-system"
    }


# -- the operator chart ------------------------------------------------------------------------


def test_cluster_mode_rbac_is_least_privilege(helm: Path) -> None:
    docs = render(helm)
    assert not _kinds(docs, "Role") and not _kinds(docs, "RoleBinding")
    for _, rule in _rules(docs):
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
        assert not set(rule["verbs"]) & {"deletecollection", "escalate", "bind"}
        # delete: only its own Jobs (spec.paused stops a batched data migration's Job)
        # and its own oldest run records (pruning).
        if "delete" in rule["verbs"]:
            assert (rule["apiGroups"], rule["resources"]) in (
                (["batch"], ["jobs"]),
                (["schemaop.io"], ["schemamigrationruns"]),
            )
    run_rules = [
        r
        for d, r in _rules(docs)
        if "schemamigrationruns" in r["resources"] and d["metadata"]["name"] == "schemaop"
    ]
    assert {"create", "list", "delete"} <= set(run_rules[0]["verbs"])
    assert any(r["resources"] == ["pods/log"] and r["verbs"] == ["get"] for _, r in _rules(docs))
    secret_rules = [(d, r) for d, r in _rules(docs) if "secrets" in r["resources"]]
    assert len(secret_rules) == 1
    role, rule = secret_rules[0]
    assert role["metadata"]["name"] == "schemaop-secrets"
    assert rule["verbs"] == ["get", "list", "watch"] and rule["resources"] == ["secrets"]
    args = _deployment(docs)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["operator", "--all-namespaces"]
    assert not any(a.startswith("--peering") for a in args)
    assert "command" not in _deployment(docs)["spec"]["template"]["spec"]["containers"][0]
    # No Job ServiceAccount unless namespaces are listed; the Jobs then use their namespace's.
    assert "SCHEMAOP_JOB_SERVICE_ACCOUNT" not in _env(_deployment(docs))
    assert [sa["metadata"]["name"] for sa in _kinds(docs, "ServiceAccount")] == ["schemaop"]


def test_namespaced_mode_has_roles_only_in_the_watched_namespaces(helm: Path) -> None:
    docs = render(helm, "--set", "watchNamespaces={a,b}", "--set", "rbac.clusterMetadata=false")
    # Nothing cluster-wide for the operator: the approver's ClusterRole is bound to nobody.
    assert [r["metadata"]["name"] for r in _kinds(docs, "ClusterRole")] == ["schemaop-approver"]
    assert not _kinds(docs, "ClusterRoleBinding")
    roles = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in _kinds(docs, "Role")}
    assert roles == {
        ("a", "schemaop"),
        ("b", "schemaop"),
        ("a", "schemaop-job"),
        ("b", "schemaop-job"),
    }
    bindings = _kinds(docs, "RoleBinding")
    assert all(b["metadata"]["namespace"] in ("a", "b") for b in bindings)
    operator_subjects = {
        (s["namespace"], s["name"])
        for b in bindings
        if b["roleRef"]["name"] == "schemaop"
        for s in b["subjects"]
    }
    assert operator_subjects == {("ops", "schemaop")}
    args = _deployment(docs)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=a" in args and "--namespace=b" in args and "--all-namespaces" not in args
    job_sas = [
        sa for sa in _kinds(docs, "ServiceAccount") if sa["metadata"]["name"] == "schemaop-job"
    ]
    assert {sa["metadata"]["namespace"] for sa in job_sas} == {"a", "b"}
    assert all(sa["automountServiceAccountToken"] is False for sa in job_sas)
    job_roles = [r for r in _kinds(docs, "Role") if r["metadata"]["name"] == "schemaop-job"]
    assert all(r["rules"] == [] for r in job_roles)
    assert _env(_deployment(docs))["SCHEMAOP_JOB_SERVICE_ACCOUNT"] == "schemaop-job"


def _policy(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    (policy,) = _kinds(docs, "ValidatingAdmissionPolicy")
    (binding,) = _kinds(docs, "ValidatingAdmissionPolicyBinding")
    return policy, binding


def test_approving_needs_the_approve_verb_checked_by_an_admission_policy(helm: Path) -> None:
    policy, binding = _policy(render(helm))
    assert policy["metadata"]["name"] == binding["spec"]["policyName"] == "schemaop-approval"
    assert policy["spec"]["failurePolicy"] == "Fail"
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rule["resources"] == ["schemaversions"] and rule["apiGroups"] == ["schemaop.io"]
    assert rule["operations"] == ["CREATE", "UPDATE"]
    check = next(v for v in policy["spec"]["variables"] if v["name"] == "mayApprove")
    assert ".resource('schemaversions')" in check["expression"]
    assert ".check('approve').allowed()" in check["expression"]
    assert all(v["reason"] == "Forbidden" for v in policy["spec"]["validations"])
    assert binding["spec"]["validationActions"] == ["Deny"]
    # Cluster-wide mode: every namespace.
    assert "matchResources" not in binding["spec"]
    (approver,) = [
        d for d in _kinds(render(helm), "ClusterRole") if d["metadata"]["name"].endswith("approver")
    ]
    verbs = {v for r in approver["rules"] if "schemaversions" in r["resources"] for v in r["verbs"]}
    assert {"approve", "patch", "get"} <= verbs and "delete" not in verbs
    runs = [r for r in approver["rules"] if "schemamigrationruns" in r["resources"]]
    assert runs and runs[0]["verbs"] == ["get", "list", "watch"]


def test_pointing_an_approved_schemaversion_elsewhere_needs_the_approve_verb(helm: Path) -> None:
    policy, _ = _policy(render(helm))
    variables = {v["name"]: v["expression"] for v in policy["spec"]["variables"]}
    # Both fields compared whole, old object with new; a new object (CREATE) is not a change.
    retargeted = variables["retargeted"]
    assert retargeted.startswith("oldObject != null && (")
    assert "object.spec.connection != oldObject.spec.connection" in retargeted
    assert "object.spec.historySchema" in retargeted
    assert "oldObject.spec.historySchema" in retargeted
    validations = policy["spec"]["validations"]
    (rule,) = [v for v in validations if "variables.retargeted" in v["expression"]]
    # Free only when nothing stays approved: Manual and no annotation on the new object.
    assert rule["expression"] == (
        "!variables.retargeted || !variables.automatic && variables.plan == ''"
        " || variables.mayApprove"
    )
    assert "spec.connection or spec.historySchema" in rule["messageExpression"]
    assert "remove the annotation in the same change" in rule["messageExpression"]


def test_the_chart_needs_kubernetes_1_30_for_its_admission_policy(helm: Path) -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["kubeVersion"] == ">=1.30.0-0"
    old = subprocess.run(
        [str(helm), "template", "schemaop", str(CHART), "--kube-version", "1.29.9"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert old.returncode != 0 and "kubeVersion" in old.stderr, old.stderr
    assert _kinds(render(helm, "--kube-version", "1.30.0"), "ValidatingAdmissionPolicy")


def test_the_approval_policy_is_bound_to_the_watched_namespaces(helm: Path) -> None:
    _, binding = _policy(render(helm, "--set", "watchNamespaces={a,b}"))
    (expr,) = binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"]
    assert expr == {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["a", "b"]}


def test_the_approval_policy_and_role_can_be_left_out(helm: Path) -> None:
    docs = render(
        helm,
        "--set",
        "approval.policy.enabled=false",
        "--set",
        "approval.approverRole.create=false",
    )
    assert not _kinds(docs, "ValidatingAdmissionPolicy")
    assert not _kinds(docs, "ValidatingAdmissionPolicyBinding")
    assert not [d for d in _kinds(docs, "ClusterRole") if "approver" in d["metadata"]["name"]]


@pytest.mark.parametrize("watch", [[], ["--set", "watchNamespaces={a}"]])
def test_a_secret_selector_leaves_the_operator_only_get_on_secrets(
    helm: Path, watch: list[str]
) -> None:
    docs = render(helm, "--set", "secrets.selector=schemaop.io/database=true", *watch)
    secret_rules = [r for _, r in _rules(docs) if "secrets" in r["resources"]]
    assert secret_rules and all(r["verbs"] == ["get"] for r in secret_rules)
    args = _deployment(docs)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--secret-selector=schemaop.io/database=true" in args
    plain = _deployment(render(helm, *watch))["spec"]["template"]["spec"]["containers"][0]
    assert not any(a.startswith("--secret-selector") for a in plain["args"])


def test_cluster_metadata_role_is_read_only(helm: Path) -> None:
    docs = render(helm, "--set", "watchNamespaces={a}")
    (meta,) = [
        d for d in _kinds(docs, "ClusterRole") if d["metadata"]["name"] == "schemaop-metadata"
    ]
    assert {tuple(r["resources"]) for r in meta["rules"]} == {
        ("customresourcedefinitions",),
        ("namespaces",),
    }
    assert all(r["verbs"] == ["get", "list", "watch"] for r in meta["rules"])


def test_deployment_is_hardened_and_probed(helm: Path) -> None:
    pod = _deployment(render(helm))["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}
    assert container["resources"]["limits"]["memory"]
    assert container["image"] == "registry.example.com/platform/schemaop:0.1.0"


def test_replicas_turn_peering_on(helm: Path) -> None:
    docs = render(helm, "--set", "replicas=2")
    dep = _deployment(docs)
    assert dep["spec"]["strategy"]["type"] == "RollingUpdate"
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert "--peering=schemaop" in container["args"]
    # Each replica draws its own kopf priority: peers of one priority all pause.
    assert "--peering-priority=auto" in container["args"]
    assert "command" not in container
    (peering,) = _kinds(docs, "ClusterKopfPeering")
    assert "helm.sh/hook" not in (peering["metadata"].get("annotations") or {})
    # kopf's CRDs come from the chart's crds/ directory, installed before the templates.
    kopf_crds = yaml.safe_load_all((CHART / "crds" / "kopf-peering.yaml").read_text())
    assert {c["metadata"]["name"] for c in kopf_crds} == {
        "kopfpeerings.kopf.dev",
        "clusterkopfpeerings.kopf.dev",
    }
    (role,) = [d for d in _kinds(docs, "ClusterRole") if d["metadata"]["name"] == "schemaop"]
    assert any("clusterkopfpeerings" in r["resources"] for r in role["rules"])
    namespaced = render(helm, "--set", "peering.enabled=true", "--set", "watchNamespaces={a,b}")
    assert {p["metadata"]["namespace"] for p in _kinds(namespaced, "KopfPeering")} == {"a", "b"}
    assert _deployment(render(helm))["spec"]["strategy"]["type"] == "Recreate"


def test_crds_can_be_left_out_and_kept(helm: Path) -> None:
    docs = render(helm)
    crds = _kinds(docs, "CustomResourceDefinition")
    assert len(crds) == 3
    assert all(c["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep" for c in crds)
    assert not _kinds(render(helm, "--set", "crds.install=false"), "CustomResourceDefinition")


def test_optional_monitoring_objects(helm: Path) -> None:
    docs = render(
        helm,
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "prometheusRule.enabled=true",
        "--set",
        "dashboards.enabled=true",
    )
    (monitor,) = _kinds(docs, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is True
    (rule,) = _kinds(docs, "PrometheusRule")
    alerts = {r["alert"] for r in rule["spec"]["groups"][0]["rules"]}
    assert {
        "SchemaopMigrationFailed",
        "SchemaopStalled",
        "SchemaopSchemaDrifted",
        "SchemaopMigrationPendingTooLong",
    } <= alerts
    (dashboards,) = _kinds(docs, "ConfigMap")
    assert json.loads(dashboards["data"]["schemaop.json"])["uid"] == "schemaop-operator"
    (service,) = _kinds(docs, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    plain = render(helm)
    assert not _kinds(plain, "ServiceMonitor") and not _kinds(plain, "PrometheusRule")


@pytest.mark.parametrize(
    "bad",
    [
        ["--set", "bogus=1"],
        ["--set", "replicas=-1"],
        ["--set", "watchNamespaces={Not_A_Namespace}"],
        ["--set", "selector=novalue"],
        ["--set", "selector=shard!=a"],
        ["--set", "selector=bad key=v"],
        ["--set", "secrets.selector=a!=b"],
        ["--set", "approval.policy.enabled=yes"],
        ["--set", "metrics.serviceMonitor.interval=often"],
        ["--set", "jobs.policy.images={a b}"],
        ["--set", "jobs.policy.serviceAccounts={Not_An_Account}"],
        ["--set", "jobs.policy.bogus=1"],
    ],
)
def test_values_schema_refuses_bad_values(helm: Path, bad: list[str]) -> None:
    with pytest.raises(RuntimeError, match="values don't meet the specifications"):
        render(helm, *bad)


# -- dashboards and alerts use real metrics -----------------------------------------------------


def _exported_metrics() -> set[str]:
    from prometheus_client import REGISTRY

    from schemaop import metrics  # noqa: F401 - registers them

    names = set()
    for family in REGISTRY.collect():
        for sample in family.samples:
            names.add(sample.name)
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + s for s in ("_bucket", "_sum", "_count"))
    return names


def _metric_names(text: str) -> set[str]:
    return set(re.findall(r"\bschemaop_[a-z_]+\b", text))


def test_dashboard_and_alerts_use_only_exported_metrics() -> None:
    exported = _exported_metrics()
    dashboard = json.loads((CHART / "dashboards" / "schemaop.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert exprs and _metric_names("\n".join(exprs)) <= exported
    alerts = (ROOT / "docs" / "prometheus" / "schemaop-alerts.yaml").read_text()
    used = _metric_names(alerts)
    assert used and used <= exported, used - exported


# -- the example app chart ---------------------------------------------------------------------


def test_app_chart_renders_valid_schemaop_objects_with_a_moving_target(
    helm: Path, tmp_path: Path
) -> None:
    docs = render(helm, chart=APP_CHART)
    ours = [d for d in docs if d["apiVersion"].startswith("schemaop.io/")]
    for doc in ours:
        assert schemas.validate(doc) == [], doc["metadata"]["name"]
    (sv,) = _kinds(docs, "SchemaVersion")
    migrations = _kinds(docs, "SchemaMigration")
    assert [m["spec"]["version"] for m in migrations] == ["1", "2"]
    assert all(m["spec"]["schemaVersionRef"]["name"] == sv["metadata"]["name"] for m in migrations)
    assert sv["spec"]["targetVersion"] == "2"
    (dep,) = _kinds(docs, "Deployment")
    (init,) = dep["spec"]["template"]["spec"]["initContainers"]
    assert init["args"][:3] == ["wait", f"--schema-version={sv['metadata']['name']}", "--version=2"]
    # A release that adds version 10 moves the target numerically past 2 (not "2" > "10").
    chart = tmp_path / "app"
    shutil.copytree(APP_CHART, chart)
    (chart / "migrations" / "10_late.up.sql").write_text(
        "-- schemaop:transactional false\nCREATE INDEX CONCURRENTLY i ON orders (placed_at);\n"
    )
    docs = render(helm, chart=chart)
    (sv,) = _kinds(docs, "SchemaVersion")
    assert sv["spec"]["targetVersion"] == "10"
    late = [m for m in _kinds(docs, "SchemaMigration") if m["spec"]["version"] == "10"]
    assert late[0]["spec"]["transactional"] is False and "down" not in late[0]["spec"]
    (dep,) = _kinds(docs, "Deployment")
    assert dep["spec"]["template"]["metadata"]["annotations"]["schemaop.io/target-version"] == "10"


def test_app_chart_keeps_migrations_and_reads_the_directive_like_the_cli(
    helm: Path, tmp_path: Path
) -> None:
    chart = tmp_path / "app"
    shutil.copytree(APP_CHART, chart)
    # A directive after the SQL is not a directive (schemaop migrate and render agree).
    (chart / "migrations" / "3_late_directive.up.sql").write_text(
        "-- adds an index\nCREATE INDEX i ON orders (placed_at);\n-- schemaop: no-transaction\n"
    )
    (chart / "migrations" / "4_leading.up.sql").write_text(
        "-- an index, built online\n\n-- schemaop: no-transaction\n"
        "CREATE INDEX CONCURRENTLY j ON orders (id);\n"
    )
    migrations = {
        m["spec"]["version"]: m for m in _kinds(render(helm, chart=chart), "SchemaMigration")
    }
    assert "transactional" not in migrations["3"]["spec"]
    assert migrations["4"]["spec"]["transactional"] is False
    # Kept on helm rollback and uninstall: a rollback needs their down steps.
    assert all(
        m["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        for m in migrations.values()
    )
    from schemaop.migrations_dir import transactional_directive

    assert (
        transactional_directive((chart / "migrations" / "3_late_directive.up.sql").read_text())
        is None
    )
    assert transactional_directive((chart / "migrations" / "4_leading.up.sql").read_text()) is False


def test_app_chart_refuses_latest_as_a_target(helm: Path) -> None:
    # schemaop wait needs a concrete version, and helm rollback needs the target to move.
    with pytest.raises(RuntimeError, match="values don't meet the specifications"):
        render(helm, "--set", "schema.targetVersion=latest", chart=APP_CHART)


def test_job_policy_values_reach_the_operator(helm: Path) -> None:
    """The operator's own image is always allowed; the chart's Job account gets an API
    token only when its automountServiceAccountToken is on."""
    env = _env(_deployment(render(helm, *("--set", "image.tag=1.0"))))
    assert env["SCHEMAOP_ALLOWED_JOB_IMAGES"] == "registry.example.com/platform/schemaop:1.0"
    assert env["SCHEMAOP_ALLOWED_JOB_SERVICE_ACCOUNTS"] == ""
    assert env["SCHEMAOP_ALLOWED_SNAPSHOT_VOLUME_TYPES"] == "persistentVolumeClaim"
    assert env["SCHEMAOP_ALLOWED_JOB_POD_ANNOTATIONS"] == ""
    assert env["SCHEMAOP_JOB_API_SERVICE_ACCOUNTS"] == ""
    docs = render(
        helm,
        *("--set", "watchNamespaces={a}", "--set", "jobs.policy.images={r.io/x/,r.io/y:1}"),
        *("--set", "jobs.policy.serviceAccounts={migrator}"),
        *("--set", "jobs.policy.snapshotVolumeTypes={persistentVolumeClaim,csi}"),
        *("--set", "jobs.policy.podAnnotations={team.io/*}"),
        *("--set", "jobs.policy.podLabels={team}"),
        *("--set", "jobs.policy.tolerations={spot.io/*}"),
        *("--set", "jobs.policy.nodeSelectors={pool.example.com/*}"),
        *("--set", "jobs.serviceAccount.automountServiceAccountToken=true"),
    )
    env = _env(_deployment(docs))
    assert env["SCHEMAOP_ALLOWED_JOB_IMAGES"].split(",")[1:] == ["r.io/x/", "r.io/y:1"]
    assert env["SCHEMAOP_ALLOWED_JOB_SERVICE_ACCOUNTS"] == "migrator"
    assert env["SCHEMAOP_ALLOWED_SNAPSHOT_VOLUME_TYPES"] == "persistentVolumeClaim,csi"
    assert env["SCHEMAOP_ALLOWED_JOB_POD_ANNOTATIONS"] == "team.io/*"
    assert env["SCHEMAOP_ALLOWED_JOB_POD_LABELS"] == "team"
    assert env["SCHEMAOP_ALLOWED_JOB_TOLERATIONS"] == "spot.io/*"
    assert env["SCHEMAOP_ALLOWED_JOB_NODE_SELECTORS"] == "pool.example.com/*"
    assert env["SCHEMAOP_JOB_API_SERVICE_ACCOUNTS"] == "schemaop-job"
