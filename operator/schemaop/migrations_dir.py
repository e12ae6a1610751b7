"""Loading a directory of SQL migration files into a :class:`MigrationSet`.

Two layouts are understood (they may not be mixed for one version):

- Flyway-like: ``V<version>__<description>.sql`` (up) with an optional
  ``U<version>__<description>.sql`` (down, "undo");
- up/down pairs: ``<version>_<description>.up.sql`` with an optional
  ``<version>_<description>.down.sql``.

``<version>`` is dot-separated non-negative integers (``3``, ``10.1``,
``2026.11.22.1``); Flyway's underscore separator is accepted in ``V``/``U``
names (``V1_2__x.sql`` is version ``1.2``), and leading zeros are padding
(``000001_init.up.sql`` is version ``1``). The description is the rest of the name
with underscores read as spaces. Other ``.sql`` files are an error (a typo
would otherwise silently skip a migration), and so is ``.SQL`` or any other
spelling of the extension; files that do not end in ``.sql`` are ignored.
Subdirectories are not read. Files are UTF-8; a byte order mark at the start is
dropped. The SQL must reach PostgreSQL exactly as written, see
:func:`schemaop.model.migration.text_problem`: a NUL character or a file
ending inside a comment or a quoted string is an error naming the file.

Directives: a comment among the file's first lines (before any SQL)::

    -- schemaop:transactional false

marks the migration non-transactional (CREATE INDEX CONCURRENTLY, ALTER TYPE
... ADD VALUE on old servers, VACUUM): it then runs statement by statement
outside a transaction. ``-- schemaop:no-transaction`` means the same. Put it in
the up file; it applies to both directions.

A batched data migration (docs/data-migrations.md)::

    -- schemaop:batched table=public.orders key=id target=500ms max=50000 pause=100ms

in the up file (settings ``table`` and ``key`` required, ``key=tenant_id,id`` for a
composite key; optional ``target``, ``initial``, ``min``, ``max``, ``pause``,
``attempts``); a bare ``-- schemaop:batched`` in the down file makes the down
batched too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from schemaop.model.migration import Batched, InvalidMigrationSet, Migration, MigrationSet
from schemaop.model.version import InvalidVersion, Version

_VERSION: Final = r"(?P<version>[0-9]+(?:[._][0-9]+)*)"
_FLYWAY_RE: Final = re.compile(rf"^(?P<kind>[VU]){_VERSION}__(?P<desc>.*)\.sql$")
_UPDOWN_RE: Final = re.compile(
    r"^(?P<version>[0-9]+(?:\.[0-9]+)*)_(?P<desc>.*?)\.(?P<kind>up|down)\.sql$"
)
_DIRECTIVE_RE: Final = re.compile(
    r"^--\s*schemaop\s*:\s*(?:(?P<tx>transactional)\s*[:=]?\s*(?P<value>true|false|yes|no|on|off)"
    r"|(?P<notx>no-transaction|non-transactional))\s*$",
    re.IGNORECASE,
)
_FALSE: Final = {"false", "no", "off"}
_BATCHED_RE: Final = re.compile(r"^--\s*schemaop\s*:\s*batched(?:\s+(?P<settings>.*?))?\s*$", re.I)
# Directive setting -> spec.batched field (the same names as a SchemaMigration's).
_BATCHED_SETTINGS: Final = {
    "table": "table",
    "key": "key",
    "target": "targetBatchDuration",
    "initial": "initialBatchSize",
    "min": "minBatchSize",
    "max": "maxBatchSize",
    "pause": "pause",
    "attempts": "maxBatchAttempts",
}
_INT_SETTINGS: Final = {"initialBatchSize", "minBatchSize", "maxBatchSize", "maxBatchAttempts"}


@dataclass
class _Pair:
    version: Version
    description: str
    up: Path | None = None
    down: Path | None = None


def transactional_directive(text: str) -> bool | None:
    """The ``-- schemaop:transactional`` directive in the leading comments, if any."""
    for line in _leading_comments(text):
        m = _DIRECTIVE_RE.match(line)
        if m:
            if m.group("notx"):
                return False
            return m.group("value").lower() not in _FALSE
    return None


def _leading_comments(text: str) -> Iterator[str]:
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("--"):
            return
        yield line


def batched_directive(text: str, where: str) -> dict[str, Any] | None:
    """The ``-- schemaop:batched`` directive's settings as ``spec.batched``; None if absent.

    Raises InvalidMigrationSet (naming ``where``) for an unknown or malformed setting.
    """
    for line in _leading_comments(text):
        m = _BATCHED_RE.match(line)
        if m is None:
            continue
        spec: dict[str, Any] = {}
        for item in (m.group("settings") or "").split():
            name, eq, value = item.partition("=")
            field = _BATCHED_SETTINGS.get(name.lower())
            if not eq or field is None or not value:
                raise InvalidMigrationSet(
                    f"{where}: schemaop:batched setting {item!r} is not one of "
                    f"{', '.join(k + '=...' for k in _BATCHED_SETTINGS)}"
                )
            if field == "key":
                spec[field] = value.split(",")
            elif field in _INT_SETTINGS:
                try:
                    spec[field] = int(value)
                except ValueError:
                    raise InvalidMigrationSet(
                        f"{where}: schemaop:batched {name}={value}: not a whole number"
                    ) from None
            else:
                spec[field] = value
        return spec
    return None


def parse_name(name: str) -> tuple[Version, str, str] | None:
    """(version, description, "up"|"down") for a migration file name; None if not one."""
    m = _FLYWAY_RE.match(name)
    if m:
        kind = "up" if m.group("kind") == "V" else "down"
    else:
        m = _UPDOWN_RE.match(name)
        if not m:
            return None
        kind = m.group("kind")
    # Leading zeros are padding in file names (000001_x.up.sql is version 1).
    text = ".".join(str(int(p)) for p in re.split(r"[._]", m.group("version")))
    try:
        version = Version(text)
    except InvalidVersion as exc:
        raise InvalidMigrationSet(f"{name}: {exc}") from exc
    return version, m.group("desc").replace("_", " ").strip(), kind


def load(directory: str | Path) -> MigrationSet:
    """Read every migration in ``directory``; raises InvalidMigrationSet with the file name."""
    root = Path(directory)
    if not root.is_dir():
        raise InvalidMigrationSet(f"{root} is not a directory")
    pairs: dict[Version, _Pair] = {}
    # os.scandir and name sorting: this runs in every Job, over thousands of files.
    with os.scandir(root) as it:
        entries = sorted(
            (e for e in it if e.name.lower().endswith(".sql") and e.is_file()),
            key=lambda e: e.name,
        )
    for entry in entries:
        path = Path(entry.path)
        if not entry.name.endswith(".sql"):
            raise InvalidMigrationSet(
                f"{path}: the extension must be .sql in lower case; rename it to "
                f"{entry.name[:-4]}.sql"
            )
        parsed = parse_name(entry.name)
        if parsed is None:
            raise InvalidMigrationSet(
                f"{path}: not a migration file name; use V<version>__<description>.sql, "
                "U<version>__<description>.sql, or <version>_<description>.up.sql / .down.sql"
            )
        version, description, kind = parsed
        pair = pairs.setdefault(version, _Pair(version, description))
        existing = pair.up if kind == "up" else pair.down
        if existing is not None:
            raise InvalidMigrationSet(
                f"version {version} has two {kind} files: {existing.name} and {path.name}"
            )
        if kind == "up":
            pair.up = path
            pair.description = description
        else:
            pair.down = path
    migrations = []
    for pair in pairs.values():
        if pair.up is None:
            assert pair.down is not None
            raise InvalidMigrationSet(f"{pair.down}: a down file without its up file")
        up = _read(pair.up)
        down = _read(pair.down) if pair.down is not None else None
        directive = transactional_directive(up)
        migrations.append(
            Migration(
                batched=_batched(pair, up, down),
                version=pair.version,
                description=pair.description,
                up=up,
                down=down,
                transactional=directive is not False,
                source=str(pair.up),
                down_source=str(pair.down) if pair.down is not None else "",
            )
        )
    return MigrationSet(migrations)


def _batched(pair: _Pair, up: str, down: str | None) -> Batched | None:
    spec = batched_directive(up, str(pair.up))
    down_spec = batched_directive(down, str(pair.down)) if down is not None else None
    if down_spec is not None:
        if spec is None:
            raise InvalidMigrationSet(
                f"{pair.down}: a schemaop:batched down needs a schemaop:batched up file "
                "(the table and key are declared there)"
            )
        if down_spec:
            raise InvalidMigrationSet(
                f"{pair.down}: settings of schemaop:batched go in the up file; the down "
                "file's directive is bare ('-- schemaop:batched')"
            )
        spec["down"] = True
    if spec is None:
        return None
    try:
        return Batched.from_spec(spec)
    except ValueError as exc:
        raise InvalidMigrationSet(f"{pair.up}: schemaop:batched: {exc}") from exc


def _read(path: Path) -> str:
    # utf-8-sig: a byte order mark (some editors write one) is not SQL; PostgreSQL
    # would read it as part of the first word.
    try:
        with open(path, encoding="utf-8-sig") as fh:
            return fh.read()
    except UnicodeDecodeError as exc:
        raise InvalidMigrationSet(f"{path}: not UTF-8 text ({exc})") from exc
    except OSError as exc:
        raise InvalidMigrationSet(f"{path}: cannot read ({exc.strerror})") from exc
