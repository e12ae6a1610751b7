"""``schemaop wait``: block until a SchemaVersion is Ready at or past a version.

Made for application init containers: the new version of an app starts only
after its schema is there. Reads the SchemaVersion through the API with the
pod's own ServiceAccount (or the local kubeconfig); needs only ``get`` on
schemaversions. Prints each change of state on stderr, exits 0 when ready, 1 on
timeout (with the last reason), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--schema-version", required=True, metavar="NAME", help="the SchemaVersion to wait for"
    )
    parser.add_argument("--version", required=True, help="ready at this version or later")
    parser.add_argument(
        "--namespace", "-n", default=None, help="default: the pod's namespace, else 'default'"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds (default 600)")
    parser.add_argument("--interval", type=float, default=2.0, help="poll interval in seconds")


def _namespace(given: str | None) -> str:
    if given:
        return given
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace", encoding="utf-8") as f:
            return f.read().strip() or "default"
    except OSError:
        return os.environ.get("POD_NAMESPACE", "default")


def is_ready_at(status: dict[str, object], wanted: str) -> tuple[bool, str]:
    """(ready?, a one-line description of where the SchemaVersion is)."""
    from schemaop.model.conditions import ConditionType, find
    from schemaop.model.version import InvalidVersion, Version

    current = str(status.get("currentVersion") or "")
    conditions = status.get("conditions")
    ready = find(conditions if isinstance(conditions, list) else [], ConditionType.READY)
    reason = str(ready.get("reason")) if ready else "Unknown"
    message = str(ready.get("message")) if ready else "no status yet"
    ready_status = ready.get("status") if ready else "?"
    line = f"current version {current or '-'}, Ready={ready_status} ({reason}): {message}"
    try:
        at_or_past = bool(current) and Version(current) >= Version(wanted)
    except InvalidVersion:
        at_or_past = False
    return bool(ready and ready.get("status") == "True" and at_or_past), line


def run(args: argparse.Namespace) -> int:
    import asyncio

    from schemaop.kube.api import KubeApi, KubeError, load_config
    from schemaop.model.version import InvalidVersion, Version

    try:
        Version(args.version)
    except InvalidVersion as exc:
        print(f"schemaop wait: {exc}", file=sys.stderr)
        return 2
    load_config()
    namespace = _namespace(args.namespace)
    api = KubeApi()
    deadline = time.monotonic() + args.timeout
    last = ""
    target = f"SchemaVersion {namespace}/{args.schema_version}"
    while True:
        try:
            obj = asyncio.run(api.get_custom("schemaversions", namespace, args.schema_version))
            if obj is None:
                line = f"{target} does not exist yet"
                ready = False
            else:
                ready, line = is_ready_at(obj.get("status") or {}, args.version)
        except KubeError as exc:
            ready, line = False, f"cannot read {target}: {exc}"
        if line != last:
            print(f"schemaop wait: {line}", file=sys.stderr, flush=True)
            last = line
        if ready:
            print(f"schemaop wait: {target} is Ready at or past {args.version}", file=sys.stderr)
            return 0
        if time.monotonic() >= deadline:
            print(f"schemaop wait: timed out after {args.timeout:.0f}s; {line}", file=sys.stderr)
            return 1
        time.sleep(args.interval)
