"""``kubectl schemaop``: the kubectl plugin (the ``kubectl-schemaop`` console script).

``status``, ``history`` and ``plan`` read SchemaVersions; ``approve`` and
``rollback --to`` write them; ``console`` serves the migration console on
127.0.0.1 (:func:`schemaop.commands.console.run_local`). Everything goes
through the API with the user's own kubeconfig (``--kubeconfig``/``$KUBECONFIG``,
``--context``), so Kubernetes
RBAC decides who may do what: approving is a ``patch`` of a SchemaVersion's
annotation ``schemaop.io/approved-plan`` with the hash of the plan the user was
shown, so a plan that changed in between is never run on that approval, and it
also needs the ``approve`` verb on schemaversions (checked by the chart's
ValidatingAdmissionPolicy, like CertificateSigningRequest approval);
rolling back is a ``patch`` of ``spec.targetVersion``.

Rendering is pure (dicts in, text out) and the API calls go through
:class:`schemaop.kube.api.KubeApi`, so tests need neither a cluster nor a
terminal. Exit codes: 0 done, 1 refused or failed (a message says why), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TextIO

from schemaop.model.names import ANNOTATION_APPROVED_PLAN
from schemaop.model.review import Refused, approval_patch, condition, plan_text

SV_PLURAL = "schemaversions"
SM_PLURAL = "schemamigrations"


class Api(Protocol):
    """The part of :class:`schemaop.kube.api.KubeApi` the plugin uses."""

    async def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def list_custom(
        self, plural: str, namespace: str | None, label_selector: str | None = None
    ) -> list[dict[str, Any]]: ...

    async def patch_annotations(
        self, plural: str, namespace: str, name: str, annotations: Mapping[str, str | None]
    ) -> None: ...

    async def patch_custom(
        self, plural: str, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any] | None: ...


# A refusal or failure with a message for the user (exit 1): the refusals of the
# shared review helpers (schemaop.model.review) are ones.
PluginError = Refused


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.prog = "kubectl schemaop"
    parser.description = (
        "Inspect and steer schemaop SchemaVersions with your own kubeconfig and RBAC."
    )
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    common.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG)")
    common.add_argument("--context", default=None, help="kubeconfig context")
    common.add_argument(
        "-n", "--namespace", default=None, help="namespace (default: the context's)"
    )
    sub = parser.add_subparsers(dest="action", metavar="COMMAND", required=True)

    status = sub.add_parser(
        "status",
        parents=[common],
        allow_abbrev=False,
        help="SchemaVersions at a glance, or one in detail",
    )
    status.add_argument("name", nargs="?", help="one SchemaVersion: show it in detail")
    status.add_argument("-A", "--all-namespaces", action="store_true")
    status.add_argument("-l", "--selector", default=None, help="label selector, e.g. team=shop")
    status.add_argument("-o", "--output", choices=("text", "json"), default="text")

    history = sub.add_parser(
        "history",
        parents=[common],
        allow_abbrev=False,
        help="the recent migrations applied to a database",
    )
    history.add_argument("name")
    history.add_argument("-o", "--output", choices=("text", "json"), default="text")

    plan = sub.add_parser(
        "plan", parents=[common], allow_abbrev=False, help="what the operator would run next"
    )
    plan.add_argument("name")
    plan.add_argument("-o", "--output", choices=("text", "json"), default="text")

    approve = sub.add_parser(
        "approve",
        parents=[common],
        allow_abbrev=False,
        help="approve the current plan (approval: Manual)",
    )
    approve.add_argument("name")
    approve.add_argument(
        "--plan",
        metavar="HASH",
        default=None,
        type=_plan_prefix,
        help="the plan hash you reviewed (or a prefix of 7+ hex digits); refused if the "
        "plan changed since",
    )

    rollback = sub.add_parser(
        "rollback",
        parents=[common],
        allow_abbrev=False,
        help="lower the target version (runs down migrations)",
    )
    rollback.add_argument("name")
    rollback.add_argument("--to", required=True, metavar="VERSION", help="the version to go to")
    rollback.add_argument(
        "--dry-run", action="store_true", help="show the down steps; change nothing"
    )
    rollback.add_argument(
        "--yes", "-y", action="store_true", help="do not ask (needed without a terminal)"
    )

    # The migration console in your browser (commands/console.py, local mode).
    from schemaop.commands.console import add_local_arguments

    add_local_arguments(
        sub.add_parser(
            "console",
            allow_abbrev=False,
            help="the migration console in your browser, with your kubeconfig",
        )
    )


# -- pure helpers -------------------------------------------------------------------------


def age(timestamp: str | None, now: dt.datetime) -> str:
    """kubectl's short age: 45s, 12m, 5h, 3d."""
    if not timestamp:
        return "-"
    try:
        then = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "-"
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "   ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def status_table(items: Sequence[Mapping[str, Any]], now: dt.datetime, namespaces: bool) -> str:
    header = ["NAME", "CURRENT", "TARGET", "READY", "REASON", "PENDING", "APPROVAL", "AGE"]
    rows: list[list[str]] = [(["NAMESPACE"] if namespaces else []) + header]
    for sv in sorted(
        items, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])
    ):
        meta, spec, st = sv["metadata"], sv.get("spec") or {}, sv.get("status") or {}
        ready = condition(st, "Ready")
        approval = str(spec.get("approval", "Automatic"))
        if condition(st, "ApprovalPending").get("status") == "True":
            approval = "Pending"
        row = [
            meta["name"],
            str(st.get("currentVersion") or "-"),
            str(st.get("targetVersion") or spec.get("targetVersion", "latest")),
            str(ready.get("status", "Unknown")),
            str(ready.get("reason", "-")),
            str(st.get("pending", "-")),
            approval,
            age(meta.get("creationTimestamp"), now),
        ]
        rows.append(([meta.get("namespace", "")] if namespaces else []) + row)
    return table(rows)


def history_text(sv: Mapping[str, Any]) -> str:
    st = sv.get("status") or {}
    history = st.get("history") or []
    if not history:
        return "no migrations applied yet"
    rows = [["VERSION", "DIRECTION", "STATUS", "APPLIED", "DURATION", "PLAN", "DESCRIPTION"]]
    for h in history:
        duration = h.get("durationSeconds")
        rows.append(
            [
                str(h.get("version", "")),
                str(h.get("direction", "")),
                str(h.get("status", "")),
                str(h.get("appliedAt", "-")),
                f"{duration:.3f}s" if isinstance(duration, int | float) else "-",
                str(h.get("planHash", ""))[:12] or "-",
                str(h.get("description", "")),
            ]
        )
    out = table(rows)
    points = st.get("rollbackPoints") or []
    if points:
        out += "\n\nrollback points:\n" + table(
            [["KIND", "VERSION", "TAKEN", "REF"]]
            + [
                [
                    str(p.get("kind", "")),
                    str(p.get("version") or "-"),
                    str(p.get("takenAt") or "-"),
                    str(p.get("ref") or "-"),
                ]
                for p in points
            ]
        )
    return out


def detail_text(sv: Mapping[str, Any], now: dt.datetime) -> str:
    meta, spec, st = sv["metadata"], sv.get("spec") or {}, sv.get("status") or {}
    lines = [
        f"SchemaVersion {meta.get('namespace')}/{meta['name']}",
        f"  current version:  {st.get('currentVersion') or '-'}",
        f"  target version:   {st.get('targetVersion') or '-'}"
        f" (spec: {spec.get('targetVersion', 'latest')})",
        f"  pending steps:    {st.get('pending', '-')}",
        f"  approval:         {spec.get('approval', 'Automatic')}",
        f"  paused:           {'yes' if spec.get('paused') else 'no'}",
    ]
    if st.get("observedGeneration") != meta.get("generation"):
        lines.append(
            f"  (status is for generation {st.get('observedGeneration')}, "
            f"spec is at {meta.get('generation')}: the operator has not caught up yet)"
        )
    job = st.get("lastJob") or {}
    if job:
        lines.append(
            f"  last job:         {job.get('name')} {job.get('result', '')}"
            f" (plan {job.get('planHash', '-')}, started {job.get('startedAt', '-')})"
        )
    lines.append("conditions:")
    rows = [["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"]]
    for c in st.get("conditions") or []:
        rows.append(
            [
                str(c.get("type", "")),
                str(c.get("status", "")),
                str(c.get("reason", "")),
                age(c.get("lastTransitionTime"), now),
                str(c.get("message", "")),
            ]
        )
    lines.extend("  " + line for line in table(rows).splitlines())
    failure = st.get("failure") or {}
    if failure:
        lines.append("last failure:")
        for key in ("version", "sqlstate", "line", "position", "attempts", "message", "statement"):
            if failure.get(key) not in (None, ""):
                lines.append(f"  {key}: {failure[key]}")
    plan = st.get("plan") or {}
    if plan.get("steps"):
        lines.append(f"plan {plan.get('hash', '')}:")
        lines.extend("  " + line for line in plan_text(sv).splitlines()[1:])
    return "\n".join(lines)


def _plan_prefix(text: str) -> str:
    """``--plan``: a plan hash or a prefix of at least 7 hex digits (a usage error else)."""
    value = text.strip().lower()
    if len(value) < 7 or len(value) > 64 or any(c not in "0123456789abcdef" for c in value):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a plan hash: give at least its first 7 hex digits "
            "(status.plan.hash, or kubectl schemaop plan NAME)"
        )
    return value


def rollback_steps(
    sv: Mapping[str, Any], migrations: Sequence[Mapping[str, Any]], to: str
) -> list[Mapping[str, Any]]:
    """The SchemaMigrations a rollback to ``to`` would undo, newest first; PluginError if not."""
    from schemaop.model.version import InvalidVersion, Version

    meta, st = sv["metadata"], sv.get("status") or {}
    name = f"{meta.get('namespace')}/{meta['name']}"
    try:
        target = Version(to)
    except InvalidVersion as exc:
        raise PluginError(str(exc)) from exc
    current_text = str(st.get("currentVersion") or "")
    if not current_text:
        raise PluginError(f"{name} has no applied version to roll back from")
    current = Version(current_text)
    if target >= current:
        raise PluginError(
            f"{name} is at {current_text}; --to {to} is not lower (raise spec.targetVersion "
            "or use latest to go forward)"
        )
    own = [
        m
        for m in migrations
        if ((m.get("spec") or {}).get("schemaVersionRef") or {}).get("name") == meta["name"]
    ]
    undone = sorted(
        (m for m in own if target < Version(str(m["spec"]["version"])) <= current),
        key=lambda m: Version(str(m["spec"]["version"])),
        reverse=True,
    )
    missing = [str(m["spec"]["version"]) for m in undone if not m["spec"].get("down")]
    if missing:
        raise PluginError(
            f"cannot roll {name} back to {to}: no down migration for version(s) "
            f"{', '.join(missing)}; nothing was changed"
        )
    known = {str(m["spec"]["version"]) for m in own}
    if to != "0" and to not in known:
        raise PluginError(
            f"{name} has no SchemaMigration with version {to} (known: "
            f"{', '.join(sorted(known, key=Version)) or 'none'})"
        )
    return undone


# -- commands -------------------------------------------------------------------------------


async def _get(api: Api, namespace: str, name: str) -> dict[str, Any]:
    sv = await api.get_custom(SV_PLURAL, namespace, name)
    if sv is None:
        raise PluginError(f"SchemaVersion {namespace}/{name} not found")
    return sv


async def execute(
    api: Api,
    args: argparse.Namespace,
    namespace: str,
    out: TextIO,
    *,
    now: dt.datetime | None = None,
    confirm: Any = None,
) -> int:
    """Run one plugin command against ``api``; returns the exit code."""
    now = now or dt.datetime.now(dt.UTC)
    action = args.action
    if action == "status" and not args.name:
        scope = None if args.all_namespaces else namespace
        items = await api.list_custom(SV_PLURAL, scope, args.selector)
        if args.output == "json":
            print(json.dumps({"items": items}, indent=2), file=out)
        elif not items:
            where = "any namespace" if args.all_namespaces else f"namespace {namespace}"
            print(f"No SchemaVersions in {where}.", file=out)
        else:
            print(status_table(items, now, args.all_namespaces), file=out)
        return 0
    sv = await _get(api, namespace, args.name)
    if action == "status":
        print(json.dumps(sv, indent=2) if args.output == "json" else detail_text(sv, now), file=out)
    elif action == "history":
        if args.output == "json":
            st = sv.get("status") or {}
            doc = {k: st.get(k) or [] for k in ("history", "rollbackPoints")}
            print(json.dumps(doc, indent=2), file=out)
        else:
            print(history_text(sv), file=out)
    elif action == "plan":
        if args.output == "json":
            print(json.dumps((sv.get("status") or {}).get("plan") or {}, indent=2), file=out)
        else:
            print(plan_text(sv), file=out)
    elif action == "approve":
        plan_hash, text = approval_patch(sv, args.plan)
        await api.patch_annotations(
            SV_PLURAL, namespace, args.name, {ANNOTATION_APPROVED_PLAN: plan_hash}
        )
        print(text, file=out)
        print(f"approved plan {plan_hash[:12]}; the operator runs it next", file=out)
    elif action == "rollback":
        migrations = await api.list_custom(SM_PLURAL, namespace)
        undone = rollback_steps(sv, migrations, args.to)
        current = (sv.get("status") or {}).get("currentVersion")
        print(
            f"rolling {namespace}/{args.name} back from {current} to {args.to} runs "
            f"{len(undone)} down step(s):",
            file=out,
        )
        for m in undone:
            print(f"  down {m['spec']['version']}  {m['spec'].get('description', '')}", file=out)
        if args.dry_run:
            print("dry run: nothing changed", file=out)
            return 0
        if not args.yes and not (confirm and confirm("proceed? [y/N] ")):
            raise PluginError("not confirmed; nothing changed (use --yes without a terminal)")
        await api.patch_custom(
            SV_PLURAL, namespace, args.name, {"spec": {"targetVersion": args.to}}
        )
        print(
            f"spec.targetVersion of {namespace}/{args.name} is now {args.to}; "
            f"follow it with: kubectl schemaop status {args.name} -n {namespace}",
            file=out,
        )
    return 0


def refusal_hint(action: str, status: int) -> str:
    """What to do about an API refusal (HTTP 403) of ``action``; empty for other errors."""
    if status != 403:
        return ""
    if action == "approve":
        return (
            " (your RBAC does not allow this: approving needs patch and approve on"
            " schemaversions.schemaop.io, which the chart's ClusterRole <release>-approver"
            " grants; ask an approver)"
        )
    return " (your RBAC does not allow this)"


def _ask(prompt: str) -> bool:
    if not sys.stdin.isatty():
        return False
    try:
        return input(prompt).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def run(args: argparse.Namespace) -> int:
    if args.action == "console":
        from schemaop.commands.console import run_local

        return run_local(args)
    from schemaop.kube.api import KubeApi, KubeConfigError, KubeError, client_from_kubeconfig

    try:
        client, context_namespace = client_from_kubeconfig(args.kubeconfig, args.context)
    except KubeConfigError as exc:
        print(f"kubectl schemaop: no usable kubeconfig: {exc}", file=sys.stderr)
        return 1
    namespace = args.namespace or context_namespace
    try:
        return asyncio.run(execute(KubeApi(client), args, namespace, sys.stdout, confirm=_ask))
    except PluginError as exc:
        print(f"kubectl schemaop: {exc}", file=sys.stderr)
        return 1
    except KubeError as exc:
        print(f"kubectl schemaop: {exc}{refusal_hint(args.action, exc.status)}", file=sys.stderr)
        return 1
    finally:
        client.close()
