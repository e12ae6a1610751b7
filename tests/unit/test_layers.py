"""The package's layers have a direction (docs/architecture.md), checked here.

Pure modules (model, planner, lint, decide, kube.builders) import no I/O
library; only ``kube.api`` imports the Kubernetes client, only ``engine`` (and
the lint policy's SQL quoting) use psycopg; kopf is imported by the operator
command and handlers alone.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "schemaop"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(*patterns: str) -> list[Path]:
    out: list[Path] = []
    for pattern in patterns:
        out.extend(sorted(PACKAGE.glob(pattern)))
    assert out, patterns
    return out


def _top(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


PURE = [
    "model/*.py",
    "planner.py",
    "decide.py",
    "kube/builders.py",
    "lint/core.py",
    "lint/rules.py",
    "lint/findings.py",
    "lint/catalog.py",
    "lint/status.py",
]


@pytest.mark.parametrize("path", _modules(*PURE), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_modules_do_no_io(path: Path) -> None:
    forbidden = {"kopf", "kubernetes", "psycopg", "psycopg_pool", "aiohttp", "subprocess", "socket"}
    assert not (_top(_imports(path)) & forbidden)


def test_only_kube_api_imports_the_kubernetes_client() -> None:
    allowed = {"kube/api.py", "commands/operator.py", "commands/wait.py", "commands/kubectl.py"}
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if "kubernetes" in _top(_imports(p)) and str(p.relative_to(PACKAGE)) not in allowed
    ]
    assert offenders == []


def test_only_the_operator_imports_kopf() -> None:
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if "kopf" in _top(_imports(p))
        and not str(p.relative_to(PACKAGE)).startswith(("operator/", "commands/operator.py"))
    ]
    assert offenders == []
