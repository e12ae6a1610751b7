"""``schemaop validate FILES``: check schemaop manifests against the JSON Schemas.

The same schemas the CRDs are generated from, so a manifest that passes here is
accepted by the API server (CEL rules aside). Directories are searched for
``*.yaml``/``*.yml``/``*.json``; documents of other kinds are skipped. Exit 1
when any document is invalid, 2 when a file cannot be read or parsed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=_path, help="manifest files or directories")
    parser.add_argument("--output", choices=["text", "json"], default="text")


def _path(value: str) -> Path:
    from schemaop.redaction import path_argument

    return Path(path_argument(value))


def _files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml", ".json"}))
        else:
            out.append(path)
    return out


def load_documents(path: Path) -> list[tuple[str, Any]]:
    """(source label, document) for every non-empty YAML/JSON document in a file."""
    import yaml

    text = path.read_text(encoding="utf-8")
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    if len(docs) == 1:
        return [(str(path), docs[0])]
    return [(f"{path}[{i}]", d) for i, d in enumerate(docs)]


def run(args: argparse.Namespace) -> int:
    import yaml

    from schemaop.schemas import KINDS, validate

    problems = []
    checked = 0
    for path in _files(args.paths):
        try:
            documents = load_documents(path)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            print(f"schemaop validate: cannot read {path}: {exc}", file=sys.stderr)
            return 2
        for source, doc in documents:
            if isinstance(doc, dict) and doc.get("kind") in KINDS:
                checked += 1
            problems.extend(validate(doc, source))
    if args.output == "json":
        print(
            json.dumps(
                {
                    "checked": checked,
                    "valid": not problems,
                    "problems": [p.__dict__ for p in problems],
                },
                indent=2,
            )
        )
    else:
        for problem in problems:
            print(problem)
        print(
            f"{checked} schemaop document(s) checked, {len(problems)} problem(s)", file=sys.stderr
        )
    return 1 if problems else 0
