"""Generate the CustomResourceDefinitions from the JSON Schemas (pure).

The JSON Schemas in ``schemas/`` are written for validators (draft 2020-12, with
``$ref`` to shared definitions). A CRD's openAPIV3Schema is a structural subset:
no ``$ref``/``$defs``/``$schema``/``$id``/``$comment``, and ``properties`` may not
stand beside ``additionalProperties: false`` (the API server prunes unknown
fields instead). This module turns one into the other and adds what only a CRD
has: names, printer columns, the status subresource, categories.
"""

from __future__ import annotations

import copy
from typing import Any

from schemaop.model.names import GROUP, VERSION

_DROP_KEYS = {"$schema", "$id", "$defs", "$comment"}
_READY = '.status.conditions[?(@.type=="Ready")]'

CRD_META: dict[str, dict[str, Any]] = {
    "SchemaVersion": {
        "plural": "schemaversions",
        "singular": "schemaversion",
        "shortNames": ["sv", "sver"],
        "columns": [
            {"name": "Current", "type": "string", "jsonPath": ".status.currentVersion"},
            {"name": "Target", "type": "string", "jsonPath": ".status.targetVersion"},
            {"name": "Ready", "type": "string", "jsonPath": f"{_READY}.status"},
            {"name": "Reason", "type": "string", "jsonPath": f"{_READY}.reason"},
            # A batched data migration's progress (empty when there is none).
            {"name": "Progress", "type": "string", "jsonPath": ".status.dataMigration.progress"},
            {"name": "ETA", "type": "string", "jsonPath": ".status.dataMigration.eta"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    },
    "SchemaMigration": {
        "plural": "schemamigrations",
        "singular": "schemamigration",
        "shortNames": ["sm", "smig"],
        "columns": [
            {"name": "Version", "type": "string", "jsonPath": ".spec.version"},
            {"name": "Database", "type": "string", "jsonPath": ".spec.schemaVersionRef.name"},
            {"name": "Applied", "type": "boolean", "jsonPath": ".status.applied"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    },
    # A run record is written once, whole, by the operator: no status subresource
    # (with one, the API server would drop what a create puts outside spec).
    "SchemaMigrationRun": {
        "plural": "schemamigrationruns",
        "singular": "schemamigrationrun",
        "shortNames": ["smr"],
        "status": False,
        "columns": [
            {"name": "SchemaVersion", "type": "string", "jsonPath": ".spec.schemaVersion"},
            {"name": "Outcome", "type": "string", "jsonPath": ".spec.outcome"},
            {"name": "From", "type": "string", "jsonPath": ".spec.fromVersion"},
            {"name": "To", "type": "string", "jsonPath": ".spec.toVersion"},
            {"name": "Duration", "type": "string", "jsonPath": ".spec.duration"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    },
}


def _resolve(node: Any, files: dict[str, dict[str, Any]], current: str) -> Any:
    if isinstance(node, list):
        return [_resolve(item, files, current) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target_file, _, pointer = node["$ref"].partition("#")
        target_file = target_file or current
        target: Any = files[target_file]
        for part in pointer.strip("/").split("/"):
            if part:
                target = target[part]
        merged = {**copy.deepcopy(target), **{k: v for k, v in node.items() if k != "$ref"}}
        return _resolve(merged, files, target_file)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP_KEYS:
            continue
        if key == "additionalProperties" and value is False:
            continue
        out[key] = _resolve(value, files, current)
    return out


def structural_schema(kind_file: str, files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The openAPIV3Schema for one kind: $refs inlined, validator-only keys dropped."""
    schema = _resolve(files[kind_file], files, kind_file)
    schema.pop("title", None)
    schema["properties"]["metadata"] = {"type": "object"}
    schema["properties"]["apiVersion"] = {"type": "string"}
    schema["properties"]["kind"] = {"type": "string"}
    schema.pop("required", None)
    schema["required"] = ["spec"]
    return dict(schema)


def build_crd(kind: str, files: dict[str, dict[str, Any]], kind_file: str) -> dict[str, Any]:
    meta = CRD_META[kind]
    version: dict[str, Any] = {"name": VERSION, "served": True, "storage": True}
    if meta.get("status", True):
        version["subresources"] = {"status": {}}
    version["additionalPrinterColumns"] = meta["columns"]
    version["schema"] = {"openAPIV3Schema": structural_schema(kind_file, files)}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{meta['plural']}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "schemaop"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": meta["plural"],
                "singular": meta["singular"],
                "shortNames": meta["shortNames"],
                "categories": ["schemaop"],
            },
            "versions": [version],
        },
    }


def build_all(files: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Output file name (under crds/) -> CRD document."""
    from schemaop.schemas import KINDS

    return {
        f"{CRD_META[kind]['plural']}.{GROUP}.yaml": build_crd(kind, files, name)
        for kind, name in KINDS.items()
    }
