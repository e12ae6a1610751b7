"""The destructive-change policy: which migrations are refused, which are rewritten.

Pure: a migration (and its lint result) in, a :class:`Refusal`, an unchanged
:class:`Rewrite`, or the :class:`Drops` a policy keeps the data of out. The
rewrite of those drops into SQL that keeps the data (copies, tombstones, the
restore in the down step) is :mod:`schemaop.engine.droprewrite`; nothing here
writes SQL or connects to a database.

Policies (``SchemaVersion.spec.destructive``):

``Block`` (default)
    Destructive findings (data-loss rules, severity error) that no
    ``-- schemaop:allow`` comment allows refuse the migration; the operator
    stalls the plan with reason ``DestructiveChange``.
``Backup``
    Before each ``DROP TABLE`` / ``DROP COLUMN`` the data is copied into schema
    ``schemaop_archive`` (``v3__users``, ``v3__users__email``); the down step
    restores it.
``Rename``
    ``DROP TABLE`` / ``DROP COLUMN`` become a rename to a tombstone that records
    the version (``users__schemaop_dropped_v3``), registered in
    ``schemaop_archive.tombstones`` for ``schemaop purge --older-than``.
``Allow``
    Runs the SQL as written.

Other destructive findings (TRUNCATE, DELETE without WHERE, DROP SCHEMA, ...)
cannot be kept by a rename or a copy, so ``Backup`` and ``Rename`` refuse them
like ``Block`` unless they are allowed explicitly. Drops that carry an explicit
allowance run as written under every policy: the author asked for them.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from typing import Any, Final

from schemaop.lint.core import LintResult, lint_migration
from schemaop.lint.findings import Finding
from schemaop.model import Migration
from schemaop.model.conditions import Reason

TOMBSTONE_MARK: Final = "__schemaop_dropped_v"
_MAX_IDENT: Final = 63
# The findings a copy or a tombstone can keep the data of: DROP TABLE, DROP COLUMN.
KEPT_CODES: Final = ("SO101", "SO102")


class Policy(enum.StrEnum):
    BLOCK = "Block"
    BACKUP = "Backup"
    RENAME = "Rename"
    ALLOW = "Allow"


@dataclasses.dataclass(frozen=True)
class Refusal:
    """The migration must not run under this policy; ``reason`` is its condition reason."""

    version: str
    policy: Policy
    findings: tuple[Finding, ...]
    reason: Reason = Reason.DESTRUCTIVE_CHANGE

    @property
    def message(self) -> str:
        listed = "; ".join(f"{f.code} {f.message} (line {f.line})" for f in self.findings[:10]) + (
            "; ..." if len(self.findings) > 10 else ""
        )
        how = (
            "set the destructive policy to Backup, Rename or Allow, or"
            if self.policy is Policy.BLOCK
            else f"the {self.policy} policy cannot keep this data;"
        )
        return (
            f"migration {self.version} makes destructive changes: {listed}."
            f" To proceed, {how} add '-- schemaop:allow CODE reason' above the statement"
        )


@dataclasses.dataclass(frozen=True)
class Rewrite:
    """The SQL to run instead of the migration's, and what it archives.

    ``archives`` go into ``PlanStep.archives`` (camelCase JSON objects):
    ``{"kind": "archive"|"tombstone", "policy", "version", "object":
    "table"|"column", "table", "column"?, "archive"?, "tombstone"?}``.
    """

    up: str
    down: str | None
    archives: tuple[dict[str, Any], ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.archives)


@dataclasses.dataclass(frozen=True)
class Drops:
    """The drops ``policy`` keeps the data of; :mod:`schemaop.engine.droprewrite` rewrites them."""

    policy: Policy
    lint: LintResult
    findings: tuple[Finding, ...]


def judge(
    migration: Migration,
    policy: Policy | str,
    lint: LintResult | None = None,
) -> Refusal | Rewrite | Drops:
    """What ``policy`` makes of ``migration``; ``lint`` is its result from ``lint_set``.

    Pass the result of linting the whole set so tables created earlier in the
    set are not treated as existing; without it, the migration is linted alone.
    """
    policy = Policy(policy)
    result = lint if lint is not None else lint_migration(migration)
    unchanged = Rewrite(migration.up, migration.down)
    if policy is Policy.ALLOW or not result.statements:
        return unchanged
    blocking = [f for f in result.findings if f.destructive and f.blocking]
    if policy is Policy.BLOCK:
        return Refusal(migration.version.text, policy, tuple(blocking)) if blocking else unchanged
    handled = [f for f in blocking if f.code in KEPT_CODES]
    rest = [f for f in blocking if f.code not in KEPT_CODES]
    if rest:
        return Refusal(migration.version.text, policy, tuple(rest))
    if not handled:
        return unchanged
    return Drops(policy, result, tuple(handled))


# names ---------------------------------------------------------------------


def version_tag(version: str) -> str:
    """``1.2`` -> ``1_2``: a version as part of an identifier."""
    return version.replace(".", "_")


def _fit(name: str) -> str:
    """Shorten ``name`` to PostgreSQL's 63-byte identifier limit, keeping it unique."""
    if len(name.encode()) <= _MAX_IDENT:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    head = name.encode()[: _MAX_IDENT - 9].decode("utf-8", "ignore")
    return f"{head}_{digest}"


def tombstone_name(name: str, version: str) -> str:
    """``users`` dropped by version 3 -> ``users__schemaop_dropped_v3``."""
    tag = f"{TOMBSTONE_MARK}{version_tag(version)}"
    if len((name + tag).encode()) <= _MAX_IDENT:
        return name + tag
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    room = _MAX_IDENT - len(tag.encode()) - 7
    return f"{name.encode()[:room].decode('utf-8', 'ignore')}_{digest}{tag}"


def archive_name(version: str, table: str, column: str | None = None) -> str:
    """``v3__users`` for a table, ``v3__users__email`` for a column."""
    parts = [f"v{version_tag(version)}", table, *([column] if column else [])]
    return _fit("__".join(parts))
