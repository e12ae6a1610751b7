"""Names other systems see are defined once, in ``schemaop.model.names``."""

from __future__ import annotations

import ast
from pathlib import Path

from schemaop.model import names

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "schemaop"
VALUES = {
    names.GROUP,
    names.API_VERSION,
    names.ANNOTATION_APPROVED_PLAN,
    names.ARCHIVE_SCHEMA,
    names.NOTIFY_CHANNEL,
}


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def test_each_name_is_a_literal_only_in_model_names() -> None:
    """A whole string literal naming the group (or a key under it), the API version, the
    archive schema or the NOTIFY channel appears nowhere else; messages may quote them."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "model" / "names.py":
            continue
        tree = ast.parse(path.read_text(), str(path))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in skip
                and (node.value in VALUES or node.value.startswith(f"{names.GROUP}/"))
            ):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.value!r}")
    assert offenders == []
