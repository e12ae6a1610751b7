"""`make lint`: every artifact schemaop ships, checked by its own ecosystem's tool.

Users copy these files into their own systems, where a broken one fails on first
use; nothing in Python's own lint would notice. Each check prints one line per
problem and the run exits 1 if any check found one:

- ``gitlab-ci``: .gitlab-ci.yml against GitLab's CI schema (check-jsonschema's
  vendored copy) and through gitlab-ci-local (stages, ``needs``, reserved names).
- ``alerts``: docs/prometheus/schemaop-alerts.yaml with ``promtool check rules``
  and ``promtool test rules`` on its unit tests, which must fire every alert and
  keep every alert silent on a healthy series.
- ``dashboard``: the Grafana dashboard type-checked (tsc) against Grafana's own
  schema (@grafana/schema), its queries parsed by promtool, and every metric and
  label it names exported by schemaop.metrics.
- ``chart``: ``helm lint --strict`` of both charts with every values combination in
  tools/chart_values.py, and the chart's Artifact Hub annotations.
- ``krew``: the krew plugin manifest for ``kubectl schemaop`` (.krew.yaml, a
  krew-release-bot template), rendered for a sample tag.
- ``console-ui``: the console's built front end (operator/schemaop/console/static)
  is byte for byte what its source and package-lock.json build (tools/console_ui.py).

Tools install themselves on first use (tools/linttools.py); a tool that cannot be
had fails the run, it never skips a check.

    python tools/check_artifacts.py [CHECK ...]     # default: all
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

import chart_values
import console_ui
import linttools

ROOT = Path(__file__).resolve().parent.parent
GITLAB_CI = ROOT / ".gitlab-ci.yml"
ALERTS = ROOT / "docs" / "prometheus" / "schemaop-alerts.yaml"
ALERT_TESTS = ROOT / "docs" / "prometheus" / "schemaop-alerts.test.yaml"
DASHBOARD = ROOT / "charts" / "schemaop" / "dashboards" / "schemaop.json"
KREW = ROOT / ".krew.yaml"


def _run(cmd: list[str], cwd: Path | None = None) -> tuple[int, str]:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    return result.returncode, (result.stdout + result.stderr).strip()


def _last_lines(text: str, count: int = 5, width: int = 160) -> str:
    lines = [
        line if len(line) <= width else line[: width - 3] + "..." for line in text.splitlines()
    ]
    return "\n    ".join(lines[-count:])


# -- .gitlab-ci.yml ---------------------------------------------------------------------


def check_gitlab_ci(path: Path = GITLAB_CI) -> list[str]:
    """GitLab's own schema, then gitlab-ci-local's parse (stages, needs, extends)."""
    problems = []
    schema_check = linttools.python_tool("check-jsonschema")
    code, out = _run([str(schema_check), "--builtin-schema", "vendor.gitlab-ci", str(path)])
    if code != 0:
        problems.append(f"{path.name}: GitLab's CI schema refuses it:\n    {_last_lines(out, 12)}")
    # gitlab-ci-local writes its state beside the file: give it a copy in a scratch dir.
    with tempfile.TemporaryDirectory(prefix="schemaop-gcl-") as scratch:
        shutil.copy(path, Path(scratch) / ".gitlab-ci.yml")
        code, out = _run([*linttools.npm_tool("gitlab-ci-local"), "--list"], cwd=Path(scratch))
    if code != 0:
        problems.append(f"{path.name}: gitlab-ci-local --list fails: {_last_lines(out, 1)}")
    return problems


# -- Prometheus alert rules -------------------------------------------------------------


def _alert_names(rules_file: Path) -> set[str]:
    doc = yaml.safe_load(rules_file.read_text())
    return {r["alert"] for g in doc["groups"] for r in g["rules"] if "alert" in r}


def alert_test_coverage(rules_file: Path, tests_file: Path) -> list[str]:
    """Every alert has a test case that fires it and one that keeps it silent."""
    tests = yaml.safe_load(tests_file.read_text())
    fired: set[str] = set()
    silent: set[str] = set()
    for test in tests.get("tests") or []:
        for case in test.get("alert_rule_test") or []:
            (fired if case.get("exp_alerts") else silent).add(case["alertname"])
    problems = []
    for name in sorted(_alert_names(rules_file)):
        if name not in fired:
            problems.append(f"{tests_file.name}: no test fires {name}")
        if name not in silent:
            problems.append(f"{tests_file.name}: no test keeps {name} silent on a healthy series")
    return problems


def check_alerts(rules_file: Path = ALERTS, tests_file: Path = ALERT_TESTS) -> list[str]:
    promtool = str(linttools.promtool())
    problems = []
    code, out = _run([promtool, "check", "rules", str(rules_file)])
    if code != 0:
        problems.append(f"promtool check rules {rules_file.name}:\n    {_last_lines(out, 12)}")
    code, out = _run([promtool, "test", "rules", tests_file.name], cwd=tests_file.parent)
    if code != 0:
        problems.append(f"promtool test rules {tests_file.name}:\n    {_last_lines(out, 30)}")
    return problems + alert_test_coverage(rules_file, tests_file)


# -- Grafana dashboard ------------------------------------------------------------------

# Grafana's global variables, and a value of the right type for each, so that the
# queries can be handed to Prometheus's own parser.
GRAFANA_GLOBALS = {
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "1d",
    "__interval_ms": "60000",
    "__range_s": "86400",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
_SELECTOR = re.compile(r"\b(schemaop_[a-z_]+)\b(?:\s*\{([^}]*)\})?")
_MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def exported_metrics() -> dict[str, tuple[str, frozenset[str]]]:
    """Every sample name schemaop.metrics exports: (metric type, label names)."""
    from prometheus_client.metrics import MetricWrapperBase

    from schemaop import metrics

    out: dict[str, tuple[str, frozenset[str]]] = {}
    for metric in vars(metrics).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        (family,) = metric.describe()
        labels = frozenset(metric._labelnames)  # no public accessor
        if family.type == "counter":
            out[family.name + "_total"] = ("counter", labels)
        elif family.type == "histogram":
            out[family.name + "_bucket"] = ("histogram", labels | {"le"})
            out[family.name + "_sum"] = ("counter", labels)
            out[family.name + "_count"] = ("counter", labels)
        else:
            out[family.name] = (family.type, labels)
    return out


def _panels(panels: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels") or [])


def dashboard_problems(
    dashboard: dict[str, Any], exported: dict[str, tuple[str, frozenset[str]]]
) -> tuple[list[str], list[str]]:
    """(problems, every query with variables substituted): structure, metrics, labels."""
    problems: list[str] = []
    for key in ("uid", "title", "schemaVersion", "panels", "templating"):
        if key not in dashboard:
            problems.append(f"dashboard: no {key}")
    variables = {v["name"]: v for v in (dashboard.get("templating") or {}).get("list", [])}
    datasource_vars = {n for n, v in variables.items() if v.get("type") == "datasource"}
    if not datasource_vars:
        problems.append("dashboard: no data source variable (users pick their Prometheus)")
    ids: set[int] = set()
    queries: list[str] = []
    for panel in _panels(dashboard.get("panels") or []):
        title = panel.get("title", "?")
        if panel.get("type") == "row":
            continue
        if panel.get("id") in ids:
            problems.append(f"panel {title!r}: id {panel.get('id')} is used twice")
        ids.add(panel.get("id", -1))
        if "gridPos" not in panel:
            problems.append(f"panel {title!r}: no gridPos")
        uid = str((panel.get("datasource") or {}).get("uid", ""))
        ref = _VARIABLE.fullmatch(uid)
        if ref is None or not {g for g in ref.groups() if g} <= datasource_vars:
            problems.append(f"panel {title!r}: data source {uid!r} is not the data source variable")
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"panel {title!r}: no query")
        ref_ids = [t.get("refId") for t in targets]
        if len(set(ref_ids)) != len(ref_ids) or None in ref_ids:
            problems.append(f"panel {title!r}: refIds missing or repeated: {ref_ids}")
        for target in targets:
            expr = target.get("expr", "")
            problems += _expr_problems(title, expr, exported, set(variables))
            queries.append(_substitute(expr, variables))
    return problems, queries


def _expr_problems(
    title: str, expr: str, exported: dict[str, tuple[str, frozenset[str]]], variables: set[str]
) -> list[str]:
    problems = []
    for groups in _VARIABLE.findall(expr):
        name = next(g for g in groups if g)
        if name not in variables and name not in GRAFANA_GLOBALS:
            problems.append(f"panel {title!r}: ${name} is not a dashboard variable")
    used_labels: set[str] = set()
    names = []
    for name, matchers in _SELECTOR.findall(expr):
        names.append(name)
        if name not in exported:
            problems.append(f"panel {title!r}: {name} is not a metric schemaop exports")
            continue
        kind, labels = exported[name]
        for label in _MATCHER.findall(matchers):
            if label not in labels:
                problems.append(f"panel {title!r}: {name} has no label {label!r}")
        used_labels |= labels
        rated = re.search(rf"\b(?:rate|increase|irate)\s*\(\s*{name}\b", expr)
        if rated and kind not in ("counter", "histogram"):
            problems.append(f"panel {title!r}: rate/increase of {name}, a {kind}")
        if name.endswith("_bucket") and "histogram_quantile" not in expr:
            problems.append(f"panel {title!r}: {name} outside histogram_quantile")
    for grouping in _GROUPING.findall(expr):
        for label in (x.strip() for x in grouping.split(",")):
            if label and names and label not in used_labels:
                problems.append(f"panel {title!r}: groups by {label!r}, a label none of it has")
    return problems


def _substitute(expr: str, variables: dict[str, dict[str, Any]]) -> str:
    def value(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name in GRAFANA_GLOBALS:
            return GRAFANA_GLOBALS[name]
        return str(variables.get(name, {}).get("allValue") or ".*")

    return _VARIABLE.sub(value, expr)


# Grafana's own dashboard schema, as the TypeScript types of @grafana/schema: the
# dashboard must satisfy them (no unknown keys, every value of its declared type).
# TypeScript's string enums accept only their members; JSON holds their values, so
# each string type is widened to the union of its values first.
GRAFANA_SCHEMA_CHECK = """\
import type { Dashboard } from '@grafana/schema';
type Plain<T> = T extends string ? `${T}` : T extends object ? { [K in keyof T]: Plain<T[K]> } : T;
export const dashboard = %s satisfies Plain<Dashboard>;
"""


TSC_OPTIONS = ("--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext")


def grafana_schema_problems(text: str) -> list[str]:
    """The dashboard JSON type-checked against @grafana/schema by tsc, one problem per error."""
    tsc = linttools.npm_tool("tsc")
    source = GRAFANA_SCHEMA_CHECK % json.dumps(json.loads(text), indent=2)
    with tempfile.TemporaryDirectory(prefix="schemaop-grafana-") as scratch:
        (Path(scratch) / "node_modules").symlink_to(linttools.NPM_DIR / "node_modules")
        (Path(scratch) / "dashboard.ts").write_text(source)
        code, out = _run(
            [*tsc, "--noEmit", "--strict", "--skipLibCheck", *TSC_OPTIONS, "dashboard.ts"],
            cwd=Path(scratch),
        )
    if code == 0:
        return []
    lines = source.splitlines()
    problems = []
    for error in re.finditer(r"^dashboard\.ts\((\d+),\d+\): error (TS\d+: .*)$", out, re.M):
        at = lines[int(error.group(1)) - 1].strip()[:80]
        problems.append(f"Grafana's dashboard schema (@grafana/schema): {error.group(2)} at {at}")
    return problems or [f"tsc failed on the dashboard:\n    {_last_lines(out, 8)}"]


def check_dashboard(path: Path = DASHBOARD) -> list[str]:
    try:
        dashboard = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        return [f"{path.name}: not JSON: {exc}"]
    problems, queries = dashboard_problems(dashboard, exported_metrics())
    problems += grafana_schema_problems(path.read_text())
    # Prometheus's parser on every query, as recording rules in a scratch rules file.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"query:{i}", "expr": q} for i, q in enumerate(queries)],
            }
        ]
    }
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="schemaop-dash-") as f:
        yaml.safe_dump(rules, f)
        f.flush()
        code, out = _run([str(linttools.promtool()), "check", "rules", f.name])
    if code != 0:
        problems.append(f"{path.name}: a query does not parse:\n    {_last_lines(out, 8)}")
    return problems


# -- the charts -------------------------------------------------------------------------

# Artifact Hub's Helm chart annotations (artifacthub.io/...) that take YAML lists,
# each with the keys every item needs.
ARTIFACTHUB_LISTS = {
    "artifacthub.io/links": {"name", "url"},
    "artifacthub.io/crds": {"kind", "version", "name", "displayName", "description"},
    "artifacthub.io/images": {"name", "image"},
    "artifacthub.io/changes": {"kind", "description"},
    "artifacthub.io/maintainers": {"name"},
}
ARTIFACTHUB_CHANGE_KINDS = {"added", "changed", "deprecated", "removed", "fixed", "security"}
ARTIFACTHUB_CAPABILITIES = {
    "Basic Install",
    "Seamless Upgrades",
    "Full Lifecycle",
    "Deep Insights",
    "Auto Pilot",
}


def artifacthub_problems(chart_yaml: dict[str, Any], crds: dict[str, dict[str, Any]]) -> list[str]:
    """The chart's artifacthub.io annotations, as Artifact Hub reads them.

    ``crds`` maps each CRD's kind to the CRD; crdsExamples must validate against it.
    """
    annotations = chart_yaml.get("annotations") or {}
    problems = []
    for key, value in annotations.items():
        if not key.startswith("artifacthub.io/"):
            continue
        if not isinstance(value, str):
            problems.append(f"Chart.yaml: {key} must be a string (Helm annotations are strings)")
            continue
        if key in ARTIFACTHUB_LISTS or key == "artifacthub.io/crdsExamples":
            try:
                items = yaml.safe_load(value)
            except yaml.YAMLError as exc:
                problems.append(f"Chart.yaml: {key} is not YAML: {exc}")
                continue
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                problems.append(f"Chart.yaml: {key} must be a list of objects")
                continue
            for item in items:
                missing = ARTIFACTHUB_LISTS.get(key, set()) - set(item)
                if missing:
                    problems.append(f"Chart.yaml: {key} item lacks {sorted(missing)}")
            if key == "artifacthub.io/changes":
                bad = {i.get("kind") for i in items} - ARTIFACTHUB_CHANGE_KINDS
                if bad:
                    problems.append(f"Chart.yaml: {key} kinds {sorted(map(str, bad))}")
            if key == "artifacthub.io/crds":
                for item in items:
                    crd = crds.get(item.get("kind", ""))
                    if crd is None:
                        problems.append(f"Chart.yaml: {key} names {item.get('kind')}, no CRD")
                    elif item.get("name") != crd["spec"]["names"]["plural"] + "." + crd["spec"][
                        "group"
                    ] or item.get("version") not in {v["name"] for v in crd["spec"]["versions"]}:
                        problems.append(f"Chart.yaml: {key} {item.get('kind')}: name or version")
            if key == "artifacthub.io/crdsExamples":
                problems += _crd_example_problems(items, crds)
        elif key in ("artifacthub.io/operator", "artifacthub.io/prerelease"):
            if value not in ("true", "false"):
                problems.append(f"Chart.yaml: {key} must be 'true' or 'false'")
        elif key == "artifacthub.io/operatorCapabilities":
            if value not in ARTIFACTHUB_CAPABILITIES:
                problems.append(
                    f"Chart.yaml: {key} must be one of {sorted(ARTIFACTHUB_CAPABILITIES)}"
                )
        elif key == "artifacthub.io/license" and not re.fullmatch(r"[A-Za-z0-9.+-]+", value):
            problems.append(f"Chart.yaml: {key} must be an SPDX identifier")
    for needed in ("artifacthub.io/crds", "artifacthub.io/crdsExamples", "artifacthub.io/links"):
        if needed not in annotations:
            problems.append(f"Chart.yaml: no {needed} annotation")
    return problems


def _crd_example_problems(
    examples: list[dict[str, Any]], crds: dict[str, dict[str, Any]]
) -> list[str]:
    import jsonschema

    problems = []
    for example in examples:
        kind = example.get("kind", "")
        crd = crds.get(kind)
        if crd is None:
            problems.append(f"Chart.yaml: crdsExamples has a {kind!r}, not one of the CRDs")
            continue
        group, _, version = str(example.get("apiVersion", "")).partition("/")
        served = {v["name"]: v for v in crd["spec"]["versions"]}
        if group != crd["spec"]["group"] or version not in served:
            problems.append(
                f"Chart.yaml: crdsExamples {kind}: apiVersion {example.get('apiVersion')}"
            )
            continue
        schema = served[version]["schema"]["openAPIV3Schema"]
        body = {k: v for k, v in example.items() if k in ("spec", "status")}
        for error in jsonschema.Draft202012Validator(_plain(schema)).iter_errors(body):
            problems.append(f"Chart.yaml: crdsExamples {kind}: {error.message}")
    return problems


def _plain(schema: Any) -> Any:
    """An OpenAPI v3 CRD schema as JSON Schema: the x-kubernetes-* keywords dropped."""
    if isinstance(schema, dict):
        return {k: _plain(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if isinstance(schema, list):
        return [_plain(v) for v in schema]
    return schema


def _crds() -> dict[str, dict[str, Any]]:
    crds = [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "crds").glob("*.yaml"))]
    return {c["spec"]["names"]["kind"]: c for c in crds}


def check_chart() -> list[str]:
    import render_manifests

    helm = str(linttools.helm())
    # The pinned Kubernetes version, for capabilities and deprecation checks.
    kube = ["--kube-version", render_manifests.kube_version()]
    problems = []
    for chart, name, args in chart_values.combinations():
        code, out = _run([helm, "lint", "--strict", *kube, str(chart), *args])
        if code != 0:
            problems.append(
                f"helm lint --strict {chart.relative_to(ROOT)} ({name}):\n    {_last_lines(out, 8)}"
            )
    chart_yaml = yaml.safe_load((chart_values.CHART / "Chart.yaml").read_text())
    return problems + artifacthub_problems(chart_yaml, _crds())


# -- the krew plugin manifest -----------------------------------------------------------


# The <os, arch> pairs krew installs on; each platform must select one, none two.
KREW_PLATFORMS = [
    {"os": os_name, "arch": arch}
    for os_name in ("linux", "darwin", "windows")
    for arch in ("386", "amd64", "arm", "arm64")
]


def _labels(platform: dict[str, Any]) -> dict[str, str]:
    return dict((platform.get("selector") or {}).get("matchLabels") or {})


def _selects(labels: dict[str, str], target: dict[str, str]) -> bool:
    return all(target.get(k) == v for k, v in labels.items())


def krew_problems(manifest: dict[str, Any], file_name: str) -> list[str]:
    """The structural rules krew's validate-krew-manifest applies to a plugin manifest.

    The tool itself also installs every platform's archive with `kubectl krew
    install`, which needs the release published first, so it cannot run here.
    """
    problems = []
    name = manifest.get("metadata", {}).get("name", "")
    if manifest.get("apiVersion") != "krew.googlecontainertools.github.com/v1alpha2":
        problems.append("krew: apiVersion must be krew.googlecontainertools.github.com/v1alpha2")
    if manifest.get("kind") != "Plugin":
        problems.append("krew: kind must be Plugin")
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name) or f"{name}.yaml" != file_name:
        problems.append(f"krew: metadata.name {name!r} must be lowercase and name the file")
    spec = manifest.get("spec") or {}
    if not re.fullmatch(r"v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", str(spec.get("version", ""))):
        problems.append("krew: spec.version must be a semantic version with a leading v")
    for key in ("homepage", "shortDescription", "description"):
        if not spec.get(key):
            problems.append(f"krew: spec.{key} is required")
    if len(spec.get("shortDescription", "")) > 50:
        problems.append("krew: spec.shortDescription must be at most 50 characters")
    platforms = spec.get("platforms") or []
    if not platforms:
        problems.append("krew: spec.platforms is empty")
    for i, platform in enumerate(platforms):
        labels = (platform.get("selector") or {}).get("matchLabels") or {}
        if not platform.get("uri", "").startswith("https://"):
            problems.append(f"krew: platforms[{i}] needs an https uri")
        if not re.fullmatch(r"[0-9a-f]{64}", str(platform.get("sha256", ""))):
            problems.append(f"krew: platforms[{i}] needs the sha256 of its archive")
        if not platform.get("bin"):
            problems.append(f"krew: platforms[{i}] needs bin")
        if not any(_selects(labels, target) for target in KREW_PLATFORMS):
            problems.append(f"krew: platforms[{i}] selects no platform krew supports")
    for target in KREW_PLATFORMS:
        matching = [i for i, p in enumerate(platforms) if _selects(_labels(p), target)]
        if len(matching) > 1:
            problems.append(f"krew: platforms {matching} both select {target}")
    return problems


_ADD_URI_AND_SHA = re.compile(r'\{\{\s*addURIAndSha\s+"([^"]+)"\s+\.TagName\s*\}\}')
_TAG = re.compile(r"\{\{\s*\.TagName\s*\}\}")


def render_krew_template(text: str, tag: str = "v0.1.0") -> str:
    """What krew-release-bot makes of the template for a tag (a dummy sha256)."""

    def uri_and_sha(match: re.Match[str]) -> str:
        uri = _TAG.sub(tag, match.group(1))
        return f"uri: {uri}\n      sha256: '{'0' * 64}'"

    return _TAG.sub(tag, _ADD_URI_AND_SHA.sub(uri_and_sha, text))


def check_krew(path: Path = KREW) -> list[str]:
    manifest = yaml.safe_load(render_krew_template(path.read_text()))
    return krew_problems(manifest, manifest.get("metadata", {}).get("name", "") + ".yaml")


CHECKS: dict[str, Callable[[], list[str]]] = {
    "gitlab-ci": check_gitlab_ci,
    "alerts": check_alerts,
    "dashboard": check_dashboard,
    "chart": check_chart,
    "krew": check_krew,
    "console-ui": console_ui.stale,
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="check_artifacts", description=__doc__.split("\n")[0])
    parser.add_argument("checks", nargs="*", metavar="CHECK", help=", ".join(CHECKS))
    args = parser.parse_args(argv)
    unknown = set(args.checks) - set(CHECKS)
    if unknown:
        parser.error(f"unknown check(s) {sorted(unknown)}; choose from {', '.join(CHECKS)}")
    failed = False
    for name in args.checks or list(CHECKS):
        try:
            problems = CHECKS[name]()
        except linttools.ToolMissing as exc:
            problems = [f"tool missing: {exc}"]
        for problem in problems:
            print(f"{name}: {problem}")
        print(f"{name}: {'FAILED' if problems else 'ok'}")
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
