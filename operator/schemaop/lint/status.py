"""Lint results shaped for Kubernetes status (SchemaMigration and SchemaVersion plan).

The CRD schemas (schemas/schemamigration.json, schemaversion.json) bound what
status may hold: at most 50 findings, statements of at most 1024 characters.
A status write that breaks those bounds is rejected by the API server, so the
clipping happens here, in one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from schemaop.lint.findings import Finding, Severity
from schemaop.model.status import MigrationLint

MAX_FINDINGS: Final = 50
MAX_STATEMENT: Final = 1024


def finding_status(f: Finding) -> dict[str, Any]:
    """One finding as status holds it (camelCase, statement clipped)."""
    statement = f.statement
    if len(statement) > MAX_STATEMENT:
        statement = statement[: MAX_STATEMENT - 1] + "…"
    out: dict[str, Any] = {
        "code": f.code,
        "severity": f.severity.value,
        "rule": f.rule,
        "message": f.message,
        "hint": f.hint,
        "line": f.line,
        "column": f.column,
        "statement": statement,
        "suppressed": f.suppressed,
    }
    if f.version is not None:
        out["version"] = f.version
    if f.reason is not None:
        out["reason"] = f.reason
    if f.part != "up":
        out["part"] = f.part
    return out


def lint_status(findings: Iterable[Finding]) -> MigrationLint:
    """``{"errors", "warnings", "findings"}``: counts of unsuppressed findings, and the
    findings themselves (errors first, then warnings, info, suppressed; at most 50)."""
    items = list(findings)
    rank = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    ordered = sorted(items, key=lambda f: (f.suppressed, rank[f.severity]))
    return {
        "errors": sum(1 for f in items if f.blocking),
        "warnings": sum(1 for f in items if f.severity is Severity.WARNING and not f.suppressed),
        "findings": [finding_status(f) for f in ordered[:MAX_FINDINGS]],
    }
