"""``schemaop version``: print the version (JSON with ``--output json``)."""

from __future__ import annotations

import argparse
import json
import platform

from schemaop import __version__


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", choices=["text", "json"], default="text")


def run(args: argparse.Namespace) -> int:
    if args.output == "json":
        print(json.dumps({"version": __version__, "python": platform.python_version()}))
    else:
        print(f"schemaop {__version__}")
    return 0
