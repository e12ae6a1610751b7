"""Only the Jobs and pods the operator made count: a Job or pod that copies the
labels, but is not controlled by the SchemaVersion (or by the Job), is ignored, so
it can neither stall a SchemaVersion nor feed it a forged summary."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from schemaop.decide import JobFacts
from schemaop.kube.api import KubeApi
from schemaop.kube.builders import controlled_by, owner_reference

SV = {"metadata": {"name": "db", "namespace": "apps", "uid": "sv-uid"}}


def _job(uid: str, owner_uid: str | None, attempt: str = "1") -> dict[str, Any]:
    refs = [] if owner_uid is None else [{**owner_reference(SV), "uid": owner_uid}]
    return {
        "metadata": {
            "name": f"db-job-{uid}",
            "uid": uid,
            "labels": {"schemaop.io/schemaversion": "db", "schemaop.io/attempt": attempt},
            "ownerReferences": refs,
        },
        "status": {},
    }


def test_controlled_by_needs_the_controller_uid() -> None:
    assert controlled_by(_job("j1", "sv-uid"), "sv-uid")
    assert not controlled_by(_job("j2", None), "sv-uid")
    assert not controlled_by(_job("j3", "other"), "sv-uid")
    assert not controlled_by(_job("j4", "sv-uid"), "")
    not_controller = _job("j5", "sv-uid")
    not_controller["metadata"]["ownerReferences"][0]["controller"] = False
    assert not controlled_by(not_controller, "sv-uid")


def test_an_odd_attempt_label_reads_as_the_first_attempt() -> None:
    for label in ("x", "", "-1", "1e9", "\uff11", "99999999999", "0"):
        assert JobFacts.from_job(_job("j", "sv-uid", label), None).attempt == 1, label
    assert JobFacts.from_job(_job("j", "sv-uid", "7"), None).attempt == 7


class _Response:
    def __init__(self, doc: Any) -> None:
        self.data = json.dumps(doc).encode()


class _FakeCore:
    def __init__(self, pods: list[dict[str, Any]]) -> None:
        self.pods = pods

    def list_namespaced_pod(self, namespace: str, **_: Any) -> _Response:
        return _Response({"items": self.pods})


def _pod(name: str, owner_uid: str, message: str, created: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": created,
            "labels": {"job-name": "db-job-j1"},
            "ownerReferences": [{"kind": "Job", "uid": owner_uid, "controller": True}],
        },
        "status": {"containerStatuses": [{"state": {"terminated": {"message": message}}}]},
    }


def test_the_termination_message_comes_only_from_the_jobs_own_pods() -> None:
    forged = _pod("forged", "someone-else", '{"ok": false, "forged": true}', "2026-12-01T10:00:01Z")
    real = _pod("real", "j1", '{"ok": true}', "2026-12-01T10:00:00Z")
    api = KubeApi.__new__(KubeApi)
    api.core = _FakeCore([forged, real])  # type: ignore[assignment]
    meta = {"name": "db-job-j1", "uid": "j1"}
    assert asyncio.run(api.job_termination_message("apps", meta)) == '{"ok": true}'
    api.core = _FakeCore([forged])  # type: ignore[assignment]
    assert asyncio.run(api.job_termination_message("apps", meta)) is None
