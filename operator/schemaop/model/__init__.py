"""Pure types: versions, migrations, plans, conditions and status shapes. No I/O."""

from schemaop.model.migration import (
    InvalidMigrationSet,
    Migration,
    MigrationSet,
    checksum,
    normalize_sql,
)
from schemaop.model.version import LATEST, InvalidVersion, Version, is_valid_version, parse_version

__all__ = [
    "LATEST",
    "InvalidMigrationSet",
    "InvalidVersion",
    "Migration",
    "MigrationSet",
    "Version",
    "checksum",
    "is_valid_version",
    "normalize_sql",
    "parse_version",
]
