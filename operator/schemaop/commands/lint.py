"""``schemaop lint PATHS``: lint SQL files, migration directories and SchemaMigration manifests.

Inputs:

- a ``.sql`` file: linted on its own (every table it does not create exists);
- a migration directory (``V<version>__<desc>.sql`` / ``U<version>__<desc>.sql``
  or ``<version>_<desc>.up.sql`` / ``.down.sql``): linted as one ordered set, so
  a table created by an earlier migration of the directory is "new";
- a YAML file of ``kind: SchemaMigration`` documents (multi-document): linted as
  one set per ``spec.schemaVersionRef.name``; positions are mapped back to the
  YAML file's lines.

Output is ``text`` for people, ``json``, or ``gitlab`` (a GitLab Code Quality
report for merge requests). Exit code: 0 clean (warnings allowed), 1 when an
unsuppressed error was found, 2 on usage errors or unreadable inputs.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schemaop.lint import Finding, LintResult
    from schemaop.model import Migration
    from schemaop.model.migration import Batched


class InputError(Exception):
    """An input that cannot be read or understood (exit code 2)."""


@dataclasses.dataclass(frozen=True)
class _Item:
    """One migration to lint and where its SQL sits in a file."""

    migration: Migration
    path: str
    line_offset: int = 0  # file line of the SQL's first line, minus one
    down_path: str | None = None  # where the down SQL is (None: same file as up)
    down_line_offset: int = 0

    def where(self, f: Finding) -> tuple[str, int]:
        """(file path, 1-based file line) of a finding."""
        if f.part == "down":
            return self.down_path or self.path, f.line + self.down_line_offset
        return self.path, f.line + self.line_offset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from schemaop.redaction import path_argument

    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        type=path_argument,
        help="SQL file, directory or YAML",
    )
    parser.add_argument("--format", choices=["text", "json", "gitlab"], default="text")
    parser.add_argument(
        "--applied-through",
        metavar="VERSION",
        help="migrations up to VERSION are already applied: tables they create count as existing",
    )
    parser.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        type=path_argument,
        help="write the report to FILE instead of stdout",
    )


def run(args: argparse.Namespace) -> int:
    from schemaop.lint import lint_set
    from schemaop.model import InvalidMigrationSet, InvalidVersion, Version

    try:
        applied = Version(args.applied_through) if args.applied_through else None
    except InvalidVersion as exc:
        print(f"schemaop lint: --applied-through: {exc}", file=sys.stderr)
        return 2
    results: list[tuple[_Item, LintResult]] = []
    files = 0
    try:
        for raw in args.paths:
            for group in _load(Path(raw)):
                files += len({i.path for i in group})
                linted = lint_set([i.migration for i in group], applied_through=applied)
                by_version = {i.migration.version.text: i for i in group}
                results.extend(
                    (by_version[r.version] if r.version else group[0], r) for r in linted
                )
    except (InputError, InvalidMigrationSet, InvalidVersion) as exc:
        print(f"schemaop lint: {exc}", file=sys.stderr)
        return 2

    findings = [(item, f) for item, r in results for f in r.findings]
    statements = sum(len(r.statements) for _, r in results)
    summary = _summary(files, len(results), statements, [f for _, f in findings])
    if args.format == "json":
        text = json.dumps(
            {"findings": [_json(item, f) for item, f in findings], "summary": summary},
            indent=2,
            ensure_ascii=False,
        )
    elif args.format == "gitlab":
        text = json.dumps(_gitlab(findings), indent=2, ensure_ascii=False)
    else:
        text = "\n".join([*(_text(item, f) for item, f in findings), _summary_line(summary)])
    if args.output:
        try:
            Path(args.output).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            print(f"schemaop lint: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
            return 2
        if args.format != "text":
            print(_summary_line(summary), file=sys.stderr)
    else:
        print(text)
    return 1 if summary["errors"] else 0


# inputs ------------------------------------------------------------------


def _load(path: Path) -> list[list[_Item]]:
    """Groups of migrations; each group is linted as one ordered set."""
    if path.is_dir():
        groups = []
        items = _load_directory(path)
        if items:
            groups.append(items)
        for y in sorted([*path.glob("*.yaml"), *path.glob("*.yml")]):
            groups.extend(_load_manifests(y))
        if not groups:
            raise InputError(f"{path}: no migrations (V1__name.sql, 1_name.up.sql) or manifests")
        return groups
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.suffix in (".yaml", ".yml"):
        return _load_manifests(path)
    return [[_sql_file(path)]]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InputError(f"{path}: cannot read: {why}") from exc


def _sql_file(path: Path) -> _Item:
    from schemaop import migrations_dir
    from schemaop.model import Migration, Version

    text = _read(path)
    try:
        parsed = migrations_dir.parse_name(path.name)
    except ValueError:  # a migration-like name with a version that is not one
        parsed = None
    return _Item(
        Migration(
            parsed[0] if parsed else Version("0"),
            path.stem,
            text,
            None,
            migrations_dir.transactional_directive(text) is not False,
            str(path),
            batched=_batched(text, None, str(path)),
        ),
        str(path),
    )


def _batched(up: str, down: str | None, where: str) -> Batched | None:
    """A ``-- schemaop:batched`` directive's settings (InputError when malformed)."""
    from schemaop import migrations_dir
    from schemaop.model.migration import Batched

    try:
        spec = migrations_dir.batched_directive(up, where)
        if spec is None:
            return None
        if down is not None and migrations_dir.batched_directive(down, where) is not None:
            spec["down"] = True
        return Batched.from_spec(spec)
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from exc


def _load_directory(path: Path) -> list[_Item]:
    """A migration directory, read by the loader the Jobs use (schemaop.migrations_dir)."""
    from schemaop import migrations_dir
    from schemaop.model import InvalidMigrationSet

    try:
        loaded = migrations_dir.load(path)
    except InvalidMigrationSet as exc:
        raise InputError(str(exc)) from exc
    downs = _down_files(path)
    return [_Item(m, m.source or str(path), down_path=downs.get(m.version.text)) for m in loaded]


def _down_files(path: Path) -> dict[str, str]:
    """version text -> path of its down file, for positions of down findings."""
    from schemaop import migrations_dir

    out = {}
    for f in path.iterdir():
        try:
            parsed = migrations_dir.parse_name(f.name)
        except ValueError:  # a name the loader has already accepted or refused
            parsed = None
        if parsed is not None and parsed[2] == "down":
            out[parsed[0].text] = str(f)
    return out


def _load_manifests(path: Path) -> list[list[_Item]]:
    import yaml

    from schemaop.model import Migration

    text = _read(path)
    try:
        docs = list(yaml.safe_load_all(text))
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {exc}") from exc
    groups: dict[str, list[_Item]] = {}
    for doc, node in zip(docs, nodes, strict=True):
        if not isinstance(doc, dict) or doc.get("kind") != "SchemaMigration":
            continue
        meta = doc.get("metadata") or {}
        spec = doc.get("spec") or {}
        name = meta.get("name", "?") if isinstance(meta, dict) else "?"
        try:
            m = Migration.from_spec(spec, f"{path} (SchemaMigration {name})")
        except ValueError as exc:
            raise InputError(f"{path}: SchemaMigration {name}: {exc}") from exc
        ref = spec.get("schemaVersionRef") or {}
        group = ref.get("name", "") if isinstance(ref, dict) else ""
        groups.setdefault(group, []).append(
            _Item(
                m,
                str(path),
                _sql_line_offset(node, "up"),
                down_line_offset=_sql_line_offset(node, "down"),
            )
        )
    if not groups:
        raise InputError(f"{path}: no SchemaMigration documents")
    return list(groups.values())


def _sql_line_offset(node: Any, field: str) -> int:
    """Lines before ``spec.<field>``'s first SQL line in the YAML file (0 when unknown)."""
    import yaml

    def child(n: Any, key: str) -> Any:
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                if getattr(k, "value", None) == key:
                    return v
        return None

    value = child(child(node, "spec"), field)
    if not isinstance(value, yaml.ScalarNode):
        return 0
    # Block scalars (| and >) start on the line after the indicator.
    return int(value.start_mark.line) + (1 if value.style in ("|", ">") else 0)


# output ------------------------------------------------------------------


def _summary(
    files: int, migrations: int, statements: int, findings: Sequence[Finding]
) -> dict[str, int]:
    return {
        "files": files,
        "migrations": migrations,
        "statements": statements,
        "errors": sum(1 for f in findings if f.blocking),
        "warnings": sum(1 for f in findings if f.severity == "warning" and not f.suppressed),
        "info": sum(1 for f in findings if f.severity == "info" and not f.suppressed),
        "suppressed": sum(1 for f in findings if f.suppressed),
    }


def _summary_line(s: dict[str, int]) -> str:
    return (
        f"{s['files']} file(s), {s['migrations']} migration(s), {s['statements']} statement(s):"
        f" {s['errors']} error(s), {s['warnings']} warning(s), {s['info']} info,"
        f" {s['suppressed']} suppressed"
    )


def _text(item: _Item, f: Finding) -> str:
    path, line = item.where(f)
    head = f"{path}:{line}:{f.column}: {f.severity} {f.code} {f.rule}"
    version = f" [version {f.version}]" if f.version and f.version != "0" else ""
    if f.part == "down":
        version += " [down]"
    lines = [f"{head}{version}: {f.message}"]
    if f.suppressed:
        lines.append(f"    allowed: {f.reason}")
    else:
        lines.append(f"    hint: {f.hint}")
    first = f.statement.splitlines()[0] if f.statement else ""
    if first:
        more = " ..." if "\n" in f.statement else ""
        lines.append(f"    | {first}{more}")
    return "\n".join(lines)


def _json(item: _Item, f: Finding) -> dict[str, Any]:
    out = f.to_dict()
    out["path"], out["fileLine"] = item.where(f)
    return out


_GITLAB_SEVERITY = {"error": "major", "warning": "minor", "info": "info"}


def _gitlab(findings: Iterable[tuple[_Item, Finding]]) -> list[dict[str, Any]]:
    """GitLab Code Quality issues; suppressed findings are allowed, so left out."""
    out = []
    seen: dict[str, int] = {}
    for item, f in findings:
        if f.suppressed:
            continue
        severity = "critical" if f.blocking and f.destructive else _GITLAB_SEVERITY[f.severity]
        # Stable across edits that only move the statement: no line number inside.
        path, line = item.where(f)
        basis = "\0".join((path, f.code, f.version or "", f.part, f.target or "", f.statement))
        n = seen.get(basis, 0)
        seen[basis] = n + 1
        fingerprint = hashlib.sha256(f"{basis}\0{n}".encode()).hexdigest()
        out.append(
            {
                "description": f"{f.code} {f.rule}: {f.message}",
                "check_name": f"schemaop-{f.code}-{f.rule}",
                "fingerprint": fingerprint,
                "severity": severity,
                "location": {"path": path, "lines": {"begin": line}},
            }
        )
    return out
