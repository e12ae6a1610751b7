"""Pure types: versions, migrations, plans, conditions and status shapes. No I/O."""

from schemaop.model.history import AppliedMigration, DatabaseState, HistoryEntry, derive_state
from schemaop.model.migration import (
    InvalidMigrationSet,
    Migration,
    MigrationSet,
    checksum,
    normalize_sql,
)
from schemaop.model.plan import (
    InvalidPlan,
    Plan,
    PlanStep,
    RunOptions,
)
from schemaop.model.version import LATEST, InvalidVersion, Version, is_valid_version, parse_version

__all__ = [
    "LATEST",
    "AppliedMigration",
    "DatabaseState",
    "HistoryEntry",
    "InvalidMigrationSet",
    "InvalidPlan",
    "InvalidVersion",
    "Migration",
    "MigrationSet",
    "Plan",
    "PlanStep",
    "RunOptions",
    "Version",
    "checksum",
    "derive_state",
    "is_valid_version",
    "normalize_sql",
    "parse_version",
]
