"""``schemaop render DIR``: a migration directory as SchemaMigration manifests.

For teams that keep SQL files in the repository (the directory format of
``schemaop migrate``, docs/engine.md) and ship them with kubectl, Kustomize or
a GitOps tool: prints one multi-document YAML stream, one SchemaMigration per
version, named ``<schema-version>-v<version>`` (dots become dashes). The
output validates against schemas/ (``schemaop validate``). Helm users can do
the same inside a chart (see charts/examples).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _path(value: str) -> Path:
    from schemaop.redaction import path_argument

    return Path(path_argument(value))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=_path, help="migration directory")
    parser.add_argument(
        "--schema-version",
        required=True,
        metavar="NAME",
        help="the SchemaVersion the migrations belong to",
    )
    parser.add_argument("--namespace", "-n", default=None, help="metadata.namespace to set")
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra label on every SchemaMigration (repeatable)",
    )
    parser.add_argument(
        "--annotation",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="annotation on every SchemaMigration (repeatable), e.g. "
        "argocd.argoproj.io/sync-options=Prune=false to keep them for rollbacks",
    )


def run(args: argparse.Namespace) -> int:
    import yaml

    from schemaop.kube.builders import LABEL_SCHEMAVERSION, dns_name
    from schemaop.migrations_dir import load
    from schemaop.model.migration import InvalidMigrationSet
    from schemaop.model.names import API_VERSION

    labels = {LABEL_SCHEMAVERSION: args.schema_version}
    annotations: dict[str, str] = {}
    for flag, items, into in (
        ("--label", args.label, labels),
        ("--annotation", args.annotation, annotations),
    ):
        for item in items:
            key, sep, value = item.partition("=")
            if not sep or not key:
                print(f"schemaop render: bad {flag} {item!r}; use KEY=VALUE", file=sys.stderr)
                return 2
            into[key] = value
    try:
        migrations = load(args.directory)
    except (OSError, ValueError, InvalidMigrationSet) as exc:
        print(f"schemaop render: {exc}", file=sys.stderr)
        return 2
    docs = []
    for m in migrations:
        meta: dict[str, object] = {
            "name": dns_name(
                args.schema_version, "v" + m.version.text.replace(".", "-"), max_len=253
            ),
            "labels": labels,
        }
        if annotations:
            meta["annotations"] = annotations
        if args.namespace:
            meta["namespace"] = args.namespace
        spec: dict[str, object] = {
            "schemaVersionRef": {"name": args.schema_version},
            "version": m.version.text,
            "description": m.description,
            "up": m.up,
        }
        if m.down is not None:
            spec["down"] = m.down
        if not m.transactional:
            spec["transactional"] = False
        if m.batched is not None:
            spec["batched"] = m.batched.to_spec()
        docs.append(
            {
                "apiVersion": API_VERSION,
                "kind": "SchemaMigration",
                "metadata": meta,
                "spec": spec,
            }
        )

    class _Literal(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Literal.add_representer(str, _str)
    sys.stdout.write(yaml.dump_all(docs, Dumper=_Literal, sort_keys=False, width=1000))
    print(f"schemaop render: {len(docs)} SchemaMigration(s)", file=sys.stderr)
    return 0
