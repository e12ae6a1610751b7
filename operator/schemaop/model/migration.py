"""A migration: one immutable, versioned change, and a validated set of them.

Pure: no I/O. The checksum covers the normalized up and down SQL and the
``transactional`` flag, so any change to what would run is detected; the
normalization (line endings, trailing whitespace, surrounding blank lines) keeps
editors and YAML block scalars from producing false mismatches.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Iterator, Sequence

from schemaop.model.version import Version


def normalize_sql(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


def checksum(up: str, down: str | None, transactional: bool = True) -> str:
    """sha256 over the normalized up and down text (and the transactional flag)."""
    h = hashlib.sha256()
    h.update(b"schemaop-checksum-v1\0up\0")
    h.update(normalize_sql(up).encode())
    h.update(b"\0down\0")
    if down is not None and normalize_sql(down):
        h.update(normalize_sql(down).encode())
    h.update(b"\0transactional\0" + (b"1" if transactional else b"0"))
    return h.hexdigest()


@dataclasses.dataclass(frozen=True)
class Migration:
    """One versioned change. ``down`` is None when the migration cannot be reversed."""

    version: Version
    description: str
    up: str
    down: str | None = None
    transactional: bool = True
    # Where it came from (a file path, "SchemaMigration ns/name"), for messages.
    source: str = ""

    @property
    def checksum(self) -> str:
        return checksum(self.up, self.down, self.transactional)

    @property
    def reversible(self) -> bool:
        return self.down is not None and bool(normalize_sql(self.down))


class InvalidMigrationSet(ValueError):
    """Two migrations claim the same version, or a migration is malformed."""


class MigrationSet(Sequence[Migration]):
    """Migrations ordered by version, with unique versions."""

    def __init__(self, migrations: Iterable[Migration]) -> None:
        items = sorted(migrations, key=lambda m: m.version)
        seen: dict[Version, Migration] = {}
        for m in items:
            if m.version in seen:
                other = seen[m.version]
                raise InvalidMigrationSet(
                    f"version {m.version} is defined twice ({other.source or other.version.text}"
                    f" and {m.source or m.version.text}); every migration needs its own version"
                )
            if not normalize_sql(m.up):
                raise InvalidMigrationSet(f"migration {m.version} ({m.source}) has empty up SQL")
            seen[m.version] = m
        self._items = items
        self._by_version = seen

    def __getitem__(self, index: int) -> Migration:  # type: ignore[override]
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Migration]:
        return iter(self._items)

    def get(self, version: Version) -> Migration | None:
        return self._by_version.get(version)

    @property
    def latest(self) -> Version | None:
        return self._items[-1].version if self._items else None
