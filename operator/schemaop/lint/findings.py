"""Lint findings and the catalogue of rules that produce them.

Codes are stable and documented in docs/lint.md; tools, suppressions
(``-- schemaop:allow SO102 reason``) and dashboards depend on them, so a code is
never reused for a different rule. The scheme:

- ``SO0xx`` the lint itself: unparseable SQL, malformed suppressions;
- ``SO1xx`` data loss (the "destructive" findings the policy acts on);
- ``SO2xx`` breaking for application versions still running;
- ``SO3xx`` lock-heavy: blocks reads or writes for the duration of a scan or rewrite;
- ``SO4xx`` transaction misuse: fails at run time or defeats the engine's transaction.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Category(enum.StrEnum):
    LINT = "lint"
    DATA_LOSS = "data-loss"
    BREAKING = "breaking"
    LOCKING = "locking"
    TRANSACTION = "transaction"


@dataclasses.dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity
    category: Category
    summary: str
    hint: str


_RULES: tuple[Rule, ...] = (
    Rule(
        "SO001",
        "parse-error",
        Severity.ERROR,
        Category.LINT,
        "the SQL does not parse",
        "fix the syntax; the position is where PostgreSQL's parser stopped",
    ),
    Rule(
        "SO002",
        "allow-without-reason",
        Severity.ERROR,
        Category.LINT,
        "a schemaop:allow comment gives no reason",
        "write why the change is safe: -- schemaop:allow SO102 column unused since v2.3",
    ),
    Rule(
        "SO003",
        "allow-unknown-code",
        Severity.WARNING,
        Category.LINT,
        "a schemaop:allow comment names a code that does not exist",
        "use a code from docs/lint.md, e.g. SO101",
    ),
    Rule(
        "SO101",
        "drop-table",
        Severity.ERROR,
        Category.DATA_LOSS,
        "DROP TABLE deletes the table and all its rows",
        "keep the data with the Backup or Rename policy, or allow it with a reason",
    ),
    Rule(
        "SO102",
        "drop-column",
        Severity.ERROR,
        Category.DATA_LOSS,
        "DROP COLUMN deletes the column's data",
        "stop using the column first; keep the data with the Backup or Rename policy,"
        " or allow it with a reason",
    ),
    Rule(
        "SO103",
        "drop-schema",
        Severity.ERROR,
        Category.DATA_LOSS,
        "DROP SCHEMA deletes every object in the schema (with CASCADE)",
        "drop the objects one by one so each is reviewed, or allow it with a reason",
    ),
    Rule(
        "SO104",
        "truncate",
        Severity.ERROR,
        Category.DATA_LOSS,
        "TRUNCATE deletes every row",
        "copy the rows elsewhere first, or allow it with a reason",
    ),
    Rule(
        "SO105",
        "delete-without-where",
        Severity.ERROR,
        Category.DATA_LOSS,
        "DELETE without WHERE deletes every row",
        "add a WHERE clause (WHERE true makes the intent explicit)",
    ),
    Rule(
        "SO106",
        "update-without-where",
        Severity.ERROR,
        Category.DATA_LOSS,
        "UPDATE without WHERE overwrites every row",
        "add a WHERE clause (WHERE true makes the intent explicit)",
    ),
    Rule(
        "SO107",
        "lossy-type-change",
        Severity.ERROR,
        Category.DATA_LOSS,
        "the new column type can truncate values or lose precision",
        "add a new column of the new type, backfill it, switch readers, then drop the old one",
    ),
    Rule(
        "SO108",
        "drop-type",
        Severity.ERROR,
        Category.DATA_LOSS,
        "DROP TYPE / DROP DOMAIN (with CASCADE) drops the columns that use it",
        "migrate the columns to another type first, or allow it with a reason",
    ),
    Rule(
        "SO109",
        "drop-enum-value",
        Severity.ERROR,
        Category.DATA_LOSS,
        "deleting from pg_enum removes an enum value that rows may still hold",
        "create a new enum type without the value, convert the column, then drop the old type",
    ),
    Rule(
        "SO201",
        "rename-table",
        Severity.WARNING,
        Category.BREAKING,
        "renaming a table breaks application versions that still use the old name",
        "create the new table or a view with the old name, migrate readers, then rename",
    ),
    Rule(
        "SO202",
        "rename-column",
        Severity.WARNING,
        Category.BREAKING,
        "renaming a column breaks application versions that still use the old name",
        "add the new column, write both, backfill, switch readers, then drop the old one",
    ),
    Rule(
        "SO203",
        "set-not-null",
        Severity.WARNING,
        Category.BREAKING,
        "SET NOT NULL on an existing column fails running inserts that omit it and scans the"
        " table under an ACCESS EXCLUSIVE lock",
        "add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL (no scan)",
    ),
    Rule(
        "SO204",
        "drop-default",
        Severity.WARNING,
        Category.BREAKING,
        "dropping a default breaks inserts by application versions that omit the column",
        "drop the default only after every running version sets the column",
    ),
    Rule(
        "SO205",
        "rename-enum-value",
        Severity.WARNING,
        Category.BREAKING,
        "renaming an enum value breaks application versions that still use the old label",
        "add the new value, migrate rows and readers, then stop using the old one",
    ),
    Rule(
        "SO301",
        "index-without-concurrently",
        Severity.WARNING,
        Category.LOCKING,
        "CREATE INDEX on an existing table blocks writes until the index is built",
        "use CREATE INDEX CONCURRENTLY in a migration with transactional: false",
    ),
    Rule(
        "SO302",
        "foreign-key-without-not-valid",
        Severity.WARNING,
        Category.LOCKING,
        "adding a foreign key validates every row while holding locks on both tables",
        "add it with NOT VALID, then VALIDATE CONSTRAINT in a later migration",
    ),
    Rule(
        "SO303",
        "check-without-not-valid",
        Severity.WARNING,
        Category.LOCKING,
        "adding a CHECK constraint scans the table under an ACCESS EXCLUSIVE lock",
        "add it with NOT VALID, then VALIDATE CONSTRAINT in a later migration",
    ),
    Rule(
        "SO304",
        "type-change-rewrite",
        Severity.WARNING,
        Category.LOCKING,
        "changing a column's type rewrites the table under an ACCESS EXCLUSIVE lock unless"
        " the change is binary-coercible (e.g. varchar(n) to text or to a longer varchar)",
        "add a new column, backfill it in batches, then switch; or allow it for small tables",
    ),
    Rule(
        "SO305",
        "vacuum-full",
        Severity.WARNING,
        Category.LOCKING,
        "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock",
        "use plain VACUUM, or pg_repack outside migrations",
    ),
    Rule(
        "SO306",
        "cluster",
        Severity.WARNING,
        Category.LOCKING,
        "CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock",
        "run it in a maintenance window outside migrations, or use pg_repack",
    ),
    Rule(
        "SO307",
        "reindex-without-concurrently",
        Severity.WARNING,
        Category.LOCKING,
        "REINDEX without CONCURRENTLY blocks writes (and reads using the index)",
        "use REINDEX CONCURRENTLY in a migration with transactional: false",
    ),
    Rule(
        "SO308",
        "volatile-default",
        Severity.WARNING,
        Category.LOCKING,
        "ADD COLUMN with a volatile default (or serial, identity, stored generated column)"
        " rewrites the table under an ACCESS EXCLUSIVE lock",
        "add the column without a default (or with a constant one), then backfill in batches",
    ),
    Rule(
        "SO309",
        "unique-without-index",
        Severity.WARNING,
        Category.LOCKING,
        "adding a PRIMARY KEY or UNIQUE constraint builds its index while blocking writes",
        "CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... USING INDEX",
    ),
    Rule(
        "SO310",
        "unbatched-backfill",
        Severity.WARNING,
        Category.LOCKING,
        "an UPDATE or DELETE of many rows of an existing table runs in one transaction: it"
        " holds a lock on every row it touches until it commits, and bloats the table",
        "make it a batched data migration (spec.batched, or -- schemaop:batched): short"
        " transactions over key ranges, resumable; see docs/data-migrations.md",
    ),
    Rule(
        "SO403",
        "batch-ignores-bounds",
        Severity.ERROR,
        Category.TRANSACTION,
        "the SQL of a batched migration must be one UPDATE, DELETE or INSERT bounded by the"
        " batch's key range",
        "use :lo_<column> and :hi_<column> of every key column, e.g."
        " WHERE id BETWEEN :lo_id AND :hi_id",
    ),
    Rule(
        "SO401",
        "non-transactional-statement",
        Severity.ERROR,
        Category.TRANSACTION,
        "this statement cannot run inside a transaction block, and the migration is transactional",
        "set transactional: false on this migration (and keep it to this one statement)",
    ),
    Rule(
        "SO402",
        "explicit-transaction-control",
        Severity.ERROR,
        Category.TRANSACTION,
        "BEGIN, COMMIT or ROLLBACK inside a migration breaks the engine's transaction",
        "remove it: each migration already runs in its own transaction"
        " (or none, with transactional: false)",
    ),
)

RULES: dict[str, Rule] = {r.code: r for r in _RULES}
RULES_BY_NAME: dict[str, Rule] = {r.name: r for r in _RULES}


@dataclasses.dataclass(frozen=True)
class Finding:
    """One problem found in one statement (or in the file, for SO0xx).

    ``line`` and ``column`` are 1-based within the migration's SQL text;
    ``offset`` is the 0-based character offset the position was computed from.
    ``statement_index`` counts statements from 0 (-1 when the finding is about
    the file, like an unparseable text). ``suppressed`` findings were allowed by a
    ``schemaop:allow`` comment whose reason is ``reason``: they are reported but
    never count as errors or block a plan.
    """

    code: str
    severity: Severity
    rule: str
    message: str
    hint: str
    statement: str
    line: int
    column: int
    offset: int = 0
    statement_index: int = -1
    version: str | None = None
    source: str = ""
    target: str | None = None
    suppressed: bool = False
    reason: str | None = None
    # Which SQL of the migration: "up", or "down" (only parse errors, suppression
    # problems and transaction misuse are checked there: a down step undoes, so
    # its drops are expected, but one that cannot run fails at the worst moment).
    part: str = "up"

    @property
    def category(self) -> Category:
        return RULES[self.code].category

    @property
    def destructive(self) -> bool:
        return self.category is Category.DATA_LOSS

    @property
    def blocking(self) -> bool:
        """An unsuppressed error: fails ``schemaop lint`` and stops a plan."""
        return self.severity is Severity.ERROR and not self.suppressed

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (also used on SchemaMigration status)."""
        out: dict[str, Any] = {
            "code": self.code,
            "severity": self.severity.value,
            "rule": self.rule,
            "category": self.category.value,
            "message": self.message,
            "hint": self.hint,
            "statement": self.statement,
            "line": self.line,
            "column": self.column,
            "suppressed": self.suppressed,
        }
        if self.version is not None:
            out["version"] = self.version
        if self.source:
            out["source"] = self.source
        if self.target is not None:
            out["target"] = self.target
        if self.reason is not None:
            out["reason"] = self.reason
        if self.part != "up":
            out["part"] = self.part
        return out
