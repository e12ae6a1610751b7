"""SQL lint: find statements that lose data, break running applications or take heavy locks.

Pure: SQL (parsed by PostgreSQL's own parser through pglast) in, findings out;
no database, no Kubernetes. Rules and codes are listed in
:mod:`schemaop.lint.findings` and docs/lint.md; the destructive-change policy
that acts on the data-loss findings is :mod:`schemaop.lint.policy`.
"""

from schemaop.lint.catalog import Catalog, Column, Table, table_key
from schemaop.lint.core import (
    ALLOW_MARKER,
    LintResult,
    Statement,
    lint_migration,
    lint_set,
    lint_sql,
)
from schemaop.lint.findings import RULES, Category, Finding, Rule, Severity
from schemaop.lint.status import finding_status, lint_status

__all__ = [
    "ALLOW_MARKER",
    "RULES",
    "Catalog",
    "Category",
    "Column",
    "Finding",
    "LintResult",
    "Rule",
    "Severity",
    "Statement",
    "Table",
    "finding_status",
    "lint_migration",
    "lint_set",
    "lint_sql",
    "lint_status",
    "table_key",
]
