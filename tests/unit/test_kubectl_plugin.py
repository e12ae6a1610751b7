"""The kubectl plugin against a fake KubeApi: rendering, approval and rollback rules."""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import io
import json
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytest

from schemaop.commands import kubectl as plugin

NOW = dt.datetime(2026, 11, 22, 12, 0, 0, tzinfo=dt.UTC)
HASH = "a1b2c3d4e5f6" + "0" * 52


def _sv(name: str = "orders", namespace: str = "shop", **status: Any) -> dict[str, Any]:
    base_status: dict[str, Any] = {
        "observedGeneration": 2,
        "currentVersion": "2",
        "targetVersion": "3",
        "pending": 1,
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "WaitingForApproval",
                "message": "plan a1b2c3d4e5f6 needs approval",
                "lastTransitionTime": "2026-11-22T11:55:00Z",
            },
            {"type": "ApprovalPending", "status": "True", "reason": "WaitingForApproval"},
        ],
        "plan": {
            "hash": HASH,
            "fromVersion": "2",
            "toVersion": "3",
            "direction": "up",
            "approved": False,
            "steps": [
                {
                    "version": "3",
                    "direction": "up",
                    "description": "add note",
                    "transactional": True,
                }
            ],
            "lint": {
                "errors": 0,
                "warnings": 1,
                "findings": [
                    {
                        "severity": "warning",
                        "rule": "SO201",
                        "message": "takes a lock",
                        "version": "3",
                    }
                ],
            },
        },
        "history": [
            {
                "version": "2",
                "direction": "up",
                "status": "applied",
                "description": "orders",
                "appliedAt": "2026-11-22T11:00:00Z",
                "durationSeconds": 0.25,
                "planHash": "ffff0000aaaa1111",
            },
            {
                "version": "1",
                "direction": "up",
                "status": "applied",
                "description": "customers",
                "appliedAt": "2026-11-22T10:00:00Z",
                "durationSeconds": 0.5,
            },
        ],
        "rollbackPoints": [
            {
                "kind": "Schema",
                "version": "1",
                "takenAt": "2026-11-22T11:00:00Z",
                "ref": "snapshot:3",
            }
        ],
    }
    base_status.update(status)
    return {
        "apiVersion": "schemaop.io/v1alpha1",
        "kind": "SchemaVersion",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "generation": 2,
            "creationTimestamp": "2026-11-20T12:00:00Z",
            "annotations": {},
        },
        "spec": {"approval": "Manual", "targetVersion": "latest"},
        "status": base_status,
    }


def _sm(version: str, down: str | None = "drop", ref: str = "orders") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "schemaVersionRef": {"name": ref},
        "version": version,
        "up": "x",
        "description": f"m{version}",
    }
    if down is not None:
        spec["down"] = down
    return {"metadata": {"name": f"{ref}-{version}", "namespace": "shop"}, "spec": spec}


class FakeApi:
    """In-memory stand-in for KubeApi, recording writes."""

    def __init__(
        self, objects: list[dict[str, Any]], migrations: list[dict[str, Any]] | None = None
    ) -> None:
        self.objects = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects}
        self.migrations = migrations or []
        self.writes: list[tuple[str, Any]] = []

    async def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        obj = self.objects.get((namespace, name))
        return copy.deepcopy(obj) if obj else None

    async def list_custom(
        self, plural: str, namespace: str | None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        if plural == "schemamigrations":
            return [m for m in self.migrations if m["metadata"]["namespace"] == namespace]
        if namespace is None:
            return list(self.objects.values())
        return [o for (ns, _), o in self.objects.items() if ns == namespace]

    async def patch_annotations(
        self, plural: str, namespace: str, name: str, annotations: Mapping[str, str | None]
    ) -> None:
        self.writes.append(("annotate", dict(annotations)))

    async def patch_custom(
        self, plural: str, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        self.writes.append(("patch", dict(patch)))
        return None


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    plugin.add_arguments(parser)
    return parser.parse_args(list(argv))


async def _run(api: FakeApi, *argv: str, confirm: Any = None) -> tuple[int, str]:
    out = io.StringIO()
    code = await plugin.execute(api, _args(*argv), "shop", out, now=NOW, confirm=confirm)
    return code, out.getvalue()


async def test_status_table_lists_versions_and_pending_approval() -> None:
    other = _sv(
        "billing",
        "finance",
        conditions=[{"type": "Ready", "status": "True", "reason": "Applied"}],
        pending=0,
    )
    other["spec"]["approval"] = "Automatic"
    code, out = await _run(FakeApi([_sv(), other]), "status", "-A")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "NAMESPACE",
        "NAME",
        "CURRENT",
        "TARGET",
        "READY",
        "REASON",
        "PENDING",
        "APPROVAL",
        "AGE",
    ]
    assert lines[1].split() == [
        "finance",
        "billing",
        "2",
        "3",
        "True",
        "Applied",
        "0",
        "Automatic",
        "2d",
    ]
    assert lines[2].split() == [
        "shop",
        "orders",
        "2",
        "3",
        "False",
        "WaitingForApproval",
        "1",
        "Pending",
        "2d",
    ]


async def test_status_of_one_shows_conditions_plan_and_the_approve_command() -> None:
    code, out = await _run(FakeApi([_sv()]), "status", "orders")
    assert code == 0
    assert "current version:  2" in out and "WaitingForApproval" in out and "5m" in out
    assert f"plan {HASH}" in out
    assert "up   3  add note" in out
    assert "kubectl schemaop approve orders -n shop --plan a1b2c3d4e5f6" in out
    assert "1 warning(s)" in out and "SO201" in out


async def test_status_json_and_empty_namespace() -> None:
    code, out = await _run(FakeApi([_sv()]), "status", "-o", "json")
    assert json.loads(out)["items"][0]["metadata"]["name"] == "orders"
    code, out = await _run(FakeApi([]), "status")
    assert code == 0 and "No SchemaVersions in namespace shop." in out


async def test_history_shows_entries_and_rollback_points() -> None:
    code, out = await _run(FakeApi([_sv()]), "history", "orders")
    assert code == 0
    assert out.splitlines()[1].split()[:5] == [
        "2",
        "up",
        "applied",
        "2026-11-22T11:00:00Z",
        "0.250s",
    ]
    assert "ffff0000aaaa" in out and "rollback points:" in out and "snapshot:3" in out
    code, out = await _run(FakeApi([_sv()]), "history", "orders", "-o", "json")
    assert len(json.loads(out)["history"]) == 2


async def test_plan_with_nothing_to_do() -> None:
    sv = _sv(plan={}, pending=0)
    code, out = await _run(FakeApi([sv]), "plan", "orders")
    assert code == 0 and "nothing to do (at version 2)" in out


async def test_approve_writes_the_full_hash_of_the_reviewed_plan() -> None:
    api = FakeApi([_sv()])
    code, out = await _run(api, "approve", "orders", "--plan", "a1b2c3d4")
    assert code == 0
    assert api.writes == [("annotate", {"schemaop.io/approved-plan": HASH})]
    assert "approved plan a1b2c3d4e5f6" in out


@pytest.mark.parametrize(
    ("change", "wanted", "message"),
    [
        ({"plan": {}}, None, "no plan waiting"),
        ({}, "deadbeef", "is now a1b2c3d4e5f6, not deadbeef"),
        ({"observedGeneration": 1}, None, "changed since the operator last planned"),
    ],
)
async def test_approve_refuses_what_was_not_reviewed(
    change: dict[str, Any], wanted: str | None, message: str
) -> None:
    api = FakeApi([_sv(**change)])
    argv = ["approve", "orders"] + (["--plan", wanted] if wanted else [])
    with pytest.raises(plugin.PluginError, match=message):
        await _run(api, *argv)
    assert api.writes == []


@pytest.mark.parametrize("wanted", ["a1b2", "not-a-hash", "a1b2c3d4" * 9])
def test_approve_plan_must_look_like_a_hash(
    wanted: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Too short a prefix means nothing: a usage error, not "the plan changed".
    with pytest.raises(SystemExit) as exit_:
        _args("approve", "orders", "--plan", wanted)
    assert exit_.value.code == 2
    assert "is not a plan hash: give at least its first 7 hex digits" in capsys.readouterr().err


async def test_approve_refuses_automatic_and_already_approved() -> None:
    auto = _sv()
    auto["spec"]["approval"] = "Automatic"
    with pytest.raises(plugin.PluginError, match="need no approval"):
        await _run(FakeApi([auto]), "approve", "orders")
    done = _sv()
    done["metadata"]["annotations"] = {"schemaop.io/approved-plan": HASH}
    with pytest.raises(plugin.PluginError, match="already approved"):
        await _run(FakeApi([done]), "approve", "orders")


async def test_missing_schemaversion_is_a_clear_error() -> None:
    with pytest.raises(plugin.PluginError, match="SchemaVersion shop/nope not found"):
        await _run(FakeApi([]), "plan", "nope")


async def test_rollback_patches_the_target_after_listing_the_down_steps() -> None:
    api = FakeApi([_sv()], [_sm("1"), _sm("2"), _sm("3"), _sm("1", ref="other")])
    code, out = await _run(api, "rollback", "orders", "--to", "1", "--yes")
    assert code == 0
    assert "runs 1 down step(s)" in out and "down 2  m2" in out
    assert api.writes == [("patch", {"spec": {"targetVersion": "1"}})]


async def test_rollback_dry_run_and_unconfirmed_change_nothing() -> None:
    api = FakeApi([_sv()], [_sm("1"), _sm("2")])
    code, out = await _run(api, "rollback", "orders", "--to", "1", "--dry-run")
    assert code == 0 and "dry run: nothing changed" in out
    with pytest.raises(plugin.PluginError, match="not confirmed"):
        await _run(api, "rollback", "orders", "--to", "1", confirm=lambda _: False)
    assert api.writes == []
    await _run(api, "rollback", "orders", "--to", "1", confirm=lambda _: True)
    assert api.writes == [("patch", {"spec": {"targetVersion": "1"}})]


@pytest.mark.parametrize(
    ("to", "migrations", "message"),
    [
        ("2", [_sm("1"), _sm("2")], "is not lower"),
        ("5", [_sm("1"), _sm("2")], "is not lower"),
        ("1", [_sm("1"), _sm("2", down=None)], r"no down migration for version\(s\) 2"),
        ("1.5", [_sm("1"), _sm("2")], "no SchemaMigration with version 1.5"),
        ("01", [_sm("1"), _sm("2")], "01"),
    ],
)
async def test_rollback_refusals(to: str, migrations: list[dict[str, Any]], message: str) -> None:
    api = FakeApi([_sv()], migrations)
    with pytest.raises(plugin.PluginError, match=message):
        await _run(api, "rollback", "orders", "--to", to, "--yes")
    assert api.writes == []


def test_age_formatting() -> None:
    assert plugin.age("2026-11-22T11:59:15Z", NOW) == "45s"
    assert plugin.age("2026-11-22T09:00:00Z", NOW) == "3h"
    assert plugin.age(None, NOW) == "-" and plugin.age("garbage", NOW) == "-"


def test_console_script_without_kubeconfig_fails_cleanly(tmp_path: Any) -> None:
    env = {"KUBECONFIG": str(tmp_path / "missing"), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from schemaop.cli import kubectl_plugin_main as m; sys.exit(m())",
            "status",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 1
    assert "no usable kubeconfig" in result.stderr and "Traceback" not in result.stderr


def test_a_refused_approval_says_which_right_it_needs() -> None:
    # The API server refuses with 403 for a missing patch (RBAC) and for a missing
    # approve (the chart's admission policy); the hint names both rights.
    hint = plugin.refusal_hint("approve", 403)
    assert "approve on schemaversions.schemaop.io" in hint and "-approver" in hint
    assert plugin.refusal_hint("rollback", 403) == " (your RBAC does not allow this)"
    assert plugin.refusal_hint("approve", 422) == ""
