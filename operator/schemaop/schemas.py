"""The JSON Schemas of schemaop's kinds, and validation of manifests against them.

``schemas/`` at the repository root is the single source; ``make crds`` copies it
into the package (``schemaop/data/schemas``) so an installed ``schemaop`` can
validate without the repository, and generates ``crds/`` from it (see
:mod:`schemaop.crds`). Both copies are checked for staleness by a unit test.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

from schemaop.model.names import API_VERSION
from schemaop.redaction import looks_like_url, scrub

KINDS: dict[str, str] = {
    "SchemaMigration": "schemamigration.json",
    "SchemaVersion": "schemaversion.json",
    "SchemaMigrationRun": "schemamigrationrun.json",
}
COMMON = "common.json"


def load_schema_files() -> dict[str, dict[str, Any]]:
    """File name -> parsed schema, from the package data."""
    base = resources.files("schemaop") / "data" / "schemas"
    return {
        name: json.loads((base / name).read_text(encoding="utf-8"))
        for name in (COMMON, *KINDS.values())
    }


@functools.cache
def _validators() -> dict[str, Any]:
    import jsonschema
    from referencing import Registry, Resource

    files = load_schema_files()
    registry: Registry[Any] = Registry().with_resources(
        (doc["$id"], Resource.from_contents(doc)) for doc in files.values()
    )
    return {
        kind: jsonschema.Draft202012Validator(
            files[name], registry=registry, format_checker=jsonschema.FormatChecker()
        )
        for kind, name in KINDS.items()
    }


@dataclasses.dataclass(frozen=True)
class Problem:
    """One reason a document is invalid; ``path`` is a JSON path like ``spec.version``."""

    source: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"{self.source}{where}: {self.message}"


def validate(document: object, source: str = "<document>") -> list[Problem]:
    """Problems of one manifest; an empty list means valid. Non-schemaop kinds are skipped."""
    if not isinstance(document, Mapping):
        return [Problem(source, "", "not a mapping (expected a Kubernetes manifest)")]
    kind = document.get("kind")
    api = document.get("apiVersion")
    if kind not in KINDS:
        return []
    if api != API_VERSION:
        return [
            Problem(source, "apiVersion", f"expected {API_VERSION!r} for kind {kind}, got {api!r}")
        ]
    validator = _validators()[str(kind)]
    problems = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path))):
        path = ".".join(str(p) for p in error.absolute_path)
        message = error.message
        if isinstance(error.instance, str) and looks_like_url(error.instance):
            # jsonschema quotes the value: never a URL (it may hold a password).
            message = message.replace(repr(error.instance), "(a URL-like value, not shown)")
        problems.append(Problem(source, path, scrub(message)))
    if not problems and kind == "SchemaMigration":
        problems.extend(_batched_problems(document, source))
    return problems


def _batched_problems(document: Mapping[str, Any], source: str) -> list[Problem]:
    """A batched SchemaMigration's SQL and settings, checked as the operator will."""
    from schemaop.model.migration import Migration, check_migration

    spec = document.get("spec") or {}
    if spec.get("batched") is None:
        return []
    try:
        check_migration(Migration.from_spec(spec, "spec"))
    except ValueError as exc:  # InvalidVersion and InvalidMigrationSet are ValueErrors
        message = str(exc).removeprefix("spec: ")
        return [Problem(source, "spec.batched", scrub(message))]
    return []


def validate_all(documents: Iterable[tuple[str, Any]]) -> list[Problem]:
    return [p for source, doc in documents for p in validate(doc, source)]
