"""tools/check_artifacts.py, the shipped-artifact checks of `make lint`: each refuses the
broken artifact it exists for (the pipeline with a job named `image` first) and
passes what ships. The GitLab check runs the real tools (check-jsonschema and the
pinned gitlab-ci-local), which install themselves; a missing one fails.
"""

from __future__ import annotations

import ast
import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

import chart_values
import check_artifacts
import linttools

ROOT = Path(__file__).resolve().parents[2]


def _tool_missing(exc: linttools.ToolMissing) -> None:
    from conftest import unavailable

    unavailable("a lint tool", exc)


# -- .gitlab-ci.yml -----------------------------------------------------------------------


def test_the_old_pipeline_with_a_job_named_image_is_refused(tmp_path: Path) -> None:
    text = (ROOT / ".gitlab-ci.yml").read_text()
    assert "\nbuild-image:\n" in text and "needs: [build-image, lint]" in text
    old = text.replace("\nbuild-image:\n", "\nimage:\n").replace(
        "needs: [build-image, lint]", "needs: [image, lint]"
    )
    (tmp_path / ".gitlab-ci.yml").write_text(old)
    try:
        problems = check_artifacts.check_gitlab_ci(tmp_path / ".gitlab-ci.yml")
    except linttools.ToolMissing as exc:
        _tool_missing(exc)
    assert any("GitLab's CI schema refuses it" in p and "$.image" in p for p in problems)
    assert any("needs: [image] for chart-install-kind could not be found" in p for p in problems)


def test_a_need_on_a_missing_job_is_refused(tmp_path: Path) -> None:
    text = (ROOT / ".gitlab-ci.yml").read_text()
    (tmp_path / ".gitlab-ci.yml").write_text(
        text.replace("needs: [build-image, lint]", "needs: [build-image, chart-lint]")
    )
    try:
        problems = check_artifacts.check_gitlab_ci(tmp_path / ".gitlab-ci.yml")
    except linttools.ToolMissing as exc:
        _tool_missing(exc)
    assert len(problems) == 1 and "chart-lint" in problems[0]


def test_the_shipped_pipeline_passes() -> None:
    try:
        assert check_artifacts.check_gitlab_ci() == []
    except linttools.ToolMissing as exc:
        _tool_missing(exc)


# -- alert rules ----------------------------------------------------------------------------


def test_every_alert_needs_a_firing_and_a_silent_test(tmp_path: Path) -> None:
    assert (
        check_artifacts.alert_test_coverage(check_artifacts.ALERTS, check_artifacts.ALERT_TESTS)
        == []
    )
    tests = yaml.safe_load(check_artifacts.ALERT_TESTS.read_text())
    healthy = tests["tests"][0]
    assert "exp_alerts" not in str(healthy)
    tests["tests"] = tests["tests"][:1]  # the healthy series only: every alert silent
    path = tmp_path / "alerts.test.yaml"
    path.write_text(yaml.safe_dump(tests))
    problems = check_artifacts.alert_test_coverage(check_artifacts.ALERTS, path)
    rules = yaml.safe_load(check_artifacts.ALERTS.read_text())
    alerts = [r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert len(problems) == len(alerts) == 7 and all("no test fires" in p for p in problems)
    tests["tests"] = [{"alert_rule_test": [{"alertname": "SchemaopStalled", "exp_alerts": [{}]}]}]
    path.write_text(yaml.safe_dump(tests))
    problems = check_artifacts.alert_test_coverage(check_artifacts.ALERTS, path)
    assert "alerts.test.yaml: no test keeps SchemaopStalled silent on a healthy series" in problems


# -- dashboard ------------------------------------------------------------------------------


def _dashboard() -> dict[str, Any]:
    return json.loads(check_artifacts.DASHBOARD.read_text())


def test_the_shipped_dashboard_names_only_exported_metrics_and_labels() -> None:
    problems, queries = check_artifacts.dashboard_problems(
        _dashboard(), check_artifacts.exported_metrics()
    )
    assert problems == []
    assert queries and not any("$" in q for q in queries)  # ready for promtool's parser


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("sum(schemaop_migrations_failed)", "schemaop_migrations_failed is not a metric"),
        (
            'sum(schemaop_reconcile_errors_total{namespace=~"$namespace"})',
            "has no label 'namespace'",
        ),
        ("rate(schemaop_migrations_pending[5m])", "rate/increase of schemaop_migrations_pending"),
        ("sum(schemaop_migration_duration_seconds_bucket)", "outside histogram_quantile"),
        ("sum by (sqlstate) (schemaop_migrations_pending)", "groups by 'sqlstate'"),
        ('schemaop_migrations_pending{namespace=~"$ns"}', "$ns is not a dashboard variable"),
    ],
)
def test_a_wrong_query_is_named(expr: str, problem: str) -> None:
    dashboard = _dashboard()
    dashboard["panels"][0]["targets"][0]["expr"] = expr
    problems, _ = check_artifacts.dashboard_problems(dashboard, check_artifacts.exported_metrics())
    assert len(problems) == 1 and problem in problems[0], problems


def test_a_panel_off_the_data_source_variable_is_named() -> None:
    dashboard = _dashboard()
    dashboard["panels"][1]["datasource"] = {"type": "prometheus", "uid": "my-prometheus"}
    dashboard["panels"][2]["id"] = dashboard["panels"][3]["id"]
    problems, _ = check_artifacts.dashboard_problems(dashboard, check_artifacts.exported_metrics())
    assert len(problems) == 2
    assert "is not the data source variable" in problems[0] and "used twice" in problems[1]


def test_a_query_promtool_cannot_parse_fails_the_dashboard_check(tmp_path: Path) -> None:
    dashboard = _dashboard()
    dashboard["panels"][0]["targets"][0]["expr"] = "sum(schemaop_migrations_pending"
    path = tmp_path / "dashboard.json"
    path.write_text(json.dumps(dashboard))
    try:
        problems = check_artifacts.check_dashboard(path)
    except linttools.ToolMissing as exc:
        _tool_missing(exc)
    assert len(problems) == 1 and "does not parse" in problems[0]


def test_grafanas_own_schema_refuses_an_unknown_key_and_a_wrong_type() -> None:
    unknown, wrong = _dashboard(), _dashboard()
    unknown["refreshEvery"] = "1m"
    wrong["panels"][0]["gridPos"]["w"] = "wide"
    try:
        assert check_artifacts.grafana_schema_problems(json.dumps(_dashboard())) == []
        (unknown_key,) = check_artifacts.grafana_schema_problems(json.dumps(unknown))
        (wrong_type,) = check_artifacts.grafana_schema_problems(json.dumps(wrong))
    except linttools.ToolMissing as exc:
        _tool_missing(exc)
    assert "@grafana/schema" in unknown_key and "refreshEvery" in unknown_key
    assert "not assignable to type 'number'" in wrong_type and '"w": "wide"' in wrong_type


# -- chart metadata, krew --------------------------------------------------------------------


def _chart_yaml() -> dict[str, Any]:
    return yaml.safe_load((chart_values.CHART / "Chart.yaml").read_text())


def test_artifact_hub_annotations_are_well_formed_and_their_examples_valid() -> None:
    crds = check_artifacts._crds()
    assert check_artifacts.artifacthub_problems(_chart_yaml(), crds) == []
    chart = _chart_yaml()
    notes = chart["annotations"]
    notes["artifacthub.io/crdsExamples"] = notes["artifacthub.io/crdsExamples"].replace(
        "approval: Automatic", "approval: Sometimes"
    )
    notes["artifacthub.io/operatorCapabilities"] = "Magic"
    del notes["artifacthub.io/links"]
    problems = check_artifacts.artifacthub_problems(chart, crds)
    assert len(problems) == 3, problems
    assert "'Sometimes' is not one of" in " ".join(problems)


def test_the_krew_manifest_renders_to_a_valid_plugin() -> None:
    assert check_artifacts.check_krew() == []
    manifest = yaml.safe_load(
        check_artifacts.render_krew_template(check_artifacts.KREW.read_text())
    )
    assert manifest["spec"]["version"] == "v0.1.0"
    assert {p["bin"] for p in manifest["spec"]["platforms"]} == {"kubectl-schemaop"}
    manifest["spec"]["shortDescription"] = "x" * 51
    manifest["spec"]["platforms"][1]["selector"] = manifest["spec"]["platforms"][0]["selector"]
    problems = check_artifacts.krew_problems(manifest, "schemaop.yaml")
    assert problems[0] == "krew: spec.shortDescription must be at most 50 characters"
    assert len(problems) == 5 and all("both select {'os': 'linux'" in p for p in problems[1:])


# -- chart values combinations ----------------------------------------------------------------


def _set_keys(path: Path) -> set[str]:
    """Keys the module passes to helm with --set/--set-json (literal or f-string values)."""
    keys = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call | ast.List | ast.Tuple):
            continue
        items = node.args if isinstance(node, ast.Call) else node.elts
        for flag, value in itertools.pairwise(items):
            if not (isinstance(flag, ast.Constant) and flag.value in ("--set", "--set-json")):
                continue
            head = value.values[0] if isinstance(value, ast.JoinedStr) else value
            if isinstance(head, ast.Constant) and isinstance(head.value, str):
                keys.add(head.value.split("=", 1)[0])
    return keys


def _combination_keys() -> set[str]:
    keys = set()
    for _chart, _name, args in chart_values.combinations():
        keys |= {v.split("=", 1)[0] for f, v in itertools.pairwise(args) if f.startswith("--set")}
    return keys


def test_helm_lint_covers_every_value_the_chart_tests_set() -> None:
    modules = sorted((ROOT / "tests" / "e2e").glob("test_chart_*.py"))
    modules += [
        ROOT / "tests" / "unit" / "test_chart.py",
        ROOT / "tests" / "e2e" / "kube_support.py",
    ]
    used = set().union(*(_set_keys(m) for m in modules))
    assert {"watchNamespaces", "peering.enabled", "image.repository"} <= used
    # Values tests/unit/test_chart.py sets only to see the values schema refuse them.
    refused = {
        "bogus",
        "jobs.policy.bogus",
        "metrics.serviceMonitor.interval",
        "schema.targetVersion",
    }
    assert used - refused <= _combination_keys(), used - refused - _combination_keys()


def test_the_npm_tools_are_pinned_exactly() -> None:
    package = json.loads((linttools.NPM_DIR / "package.json").read_text())
    lock = json.loads((linttools.NPM_DIR / "package-lock.json").read_text())
    for name, version in package["dependencies"].items():
        assert version[0].isdigit(), f"{name} {version}: pin an exact version"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    assert shutil.which("git") is not None  # gitlab-ci-local reads the repository with git
