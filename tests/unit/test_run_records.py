"""Run records (SchemaMigrationRun): the pure builder and the recorder, no API server.

The builder: what started the run, its outcome, clipping to a bounded size, and no
secret in the log tail. The recorder: exactly one record per finished Job across
reconciles and restarts, and only the newest ``limit`` kept.
"""

from __future__ import annotations

import json
from typing import Any

from schemaop import redaction
from schemaop.kube.api import KubeError
from schemaop.kube.builders import (
    ANNOTATION_TRIGGER,
    RUN_LOG_BYTES,
    RUN_LOG_LINES,
    RUN_STEPS,
    PodLog,
    build_run_record,
    clip_log,
    human_duration,
    job_trigger,
    run_record_name,
    runs_to_prune,
)
from schemaop.model.run import RunError, RunSummary, StepSummary
from schemaop.operator.runs import RunRecorder
from schemaop.schemas import validate

SV_UID = "11111111-2222-3333-4444-555555555555"
PLAN = "ab" * 32


def _sv(approval: str = "Automatic") -> dict[str, Any]:
    return {
        "apiVersion": "schemaop.io/v1alpha1",
        "kind": "SchemaVersion",
        "metadata": {"name": "db", "namespace": "ns", "uid": SV_UID},
        "spec": {"approval": approval},
    }


def _job(
    attempt: int = 1,
    outcome: str = "Failed",
    reason: str = "BackoffLimitExceeded",
    uid: str = "9f8e7d6c-0000",
    trigger: str | None = "NewPlan",
    end: str = "2026-12-01T10:00:42Z",
) -> dict[str, Any]:
    annotations = {"schemaop.io/plan-hash": PLAN}
    if trigger is not None:
        annotations[ANNOTATION_TRIGGER] = trigger
    status: dict[str, Any] = {
        "startTime": "2026-12-01T10:00:00Z",
        "conditions": [
            {"type": outcome, "status": "True", "reason": reason, "lastTransitionTime": end}
        ],
    }
    if outcome == "Complete":
        status["completionTime"] = end
    return {
        "metadata": {
            "name": f"db-{PLAN[:10]}-{attempt}",
            "namespace": "ns",
            "uid": uid,
            "labels": {
                "schemaop.io/schemaversion": "db",
                "schemaop.io/plan": PLAN[:12],
                "schemaop.io/attempt": str(attempt),
            },
            "annotations": annotations,
            "ownerReferences": [{"controller": True, "uid": SV_UID}],
        },
        "status": status,
    }


def _failed_summary(**error: Any) -> RunSummary:
    return RunSummary(
        ok=False,
        plan_hash=PLAN,
        from_version="1",
        to_version="2",
        target="latest",
        current_version="1",
        steps=(StepSummary("2", "add c", "up", True, "failed", 12, 1),),
        error=RunError(
            message='syntax error at or near "tabel"',
            sqlstate="42601",
            statement="create tabel c (id int)",
            version="2",
            **error,
        ),
    )


def _valid(record: dict[str, Any]) -> dict[str, Any]:
    assert validate(record) == []
    return record


def test_a_failed_run_keeps_the_error_the_steps_and_the_log() -> None:
    record = _valid(
        build_run_record(_sv(), _job(), _failed_summary(), PodLog("db-x-1-abc", "line 1\nline 2\n"))
    )
    spec = record["spec"]
    assert record["metadata"]["name"] == "db-abababababab-1-9f8e7d6c"[:0] + run_record_name(_job())
    assert record["metadata"]["labels"]["schemaop.io/schemaversion"] == "db"
    assert record["metadata"]["labels"]["schemaop.io/outcome"] == "Failed"
    assert record["metadata"]["ownerReferences"][0]["uid"] == SV_UID
    assert spec["outcome"] == "Failed" and spec["outcomeReason"] == "BackoffLimitExceeded"
    assert (spec["fromVersion"], spec["toVersion"], spec["target"]) == ("1", "2", "latest")
    assert spec["planHash"] == PLAN and spec["attempt"] == 1
    assert spec["duration"] == "42.0s"
    assert spec["completionTime"] == "2026-12-01T10:00:42Z"  # a failed Job has no completionTime
    error = spec["summary"]["error"]
    assert error["sqlstate"] == "42601" and error["statement"] == "create tabel c (id int)"
    assert spec["summary"]["steps"][0]["status"] == "failed"
    assert spec["log"] == {"pod": "db-x-1-abc", "tail": "line 1\nline 2\n", "clipped": False}
    assert "clipped" not in spec


def test_the_trigger_says_what_started_the_run() -> None:
    assert job_trigger(_sv(), 1) == "NewPlan"
    assert job_trigger(_sv("Manual"), 1) == "Approval"
    assert job_trigger(_sv("Manual"), 3) == "Retry"
    approved = build_run_record(_sv("Manual"), _job(trigger="Approval"), None, PodLog())
    assert approved["spec"]["trigger"]["kind"] == "Approval"
    assert approved["spec"]["trigger"]["approvedPlanHash"] == PLAN
    # A Job from an operator that did not annotate it: a retry is still known by its attempt.
    assert (
        build_run_record(_sv(), _job(trigger=None), None, PodLog())["spec"]["trigger"]["kind"]
        == "Unknown"
    )
    assert (
        build_run_record(_sv(), _job(2, trigger=None), None, PodLog())["spec"]["trigger"]["kind"]
        == "Retry"
    )


def test_outcomes_succeeded_failed_and_stopped() -> None:
    ok = RunSummary(ok=True, plan_hash=PLAN, from_version="1", to_version="2", applied=1)
    done = _valid(build_run_record(_sv(), _job(outcome="Complete", reason=""), ok, PodLog()))
    assert done["spec"]["outcome"] == "Succeeded"
    assert done["spec"]["log"] == {"unavailable": "the Job's pod was gone"}
    # Killed from outside before the engine could say why: Stopped.
    assert build_run_record(_sv(), _job(), None, PodLog())["spec"]["outcome"] == "Stopped"
    deadline = build_run_record(_sv(), _job(reason="DeadlineExceeded"), _failed_summary(), PodLog())
    assert deadline["spec"]["outcome"] == "Stopped"
    unreadable = RunSummary.from_json("Killed")
    assert build_run_record(_sv(), _job(), unreadable, PodLog())["spec"]["outcome"] == "Stopped"


def test_a_secret_in_the_log_never_reaches_the_record_even_at_the_cut() -> None:
    secret = "pw-run-record-7Qx9"
    redaction.remember(secret)
    # The last 64 KiB of this log start in the middle of the first copy of the secret.
    log = f"start {secret}" + "b" * (RUN_LOG_BYTES - 45) + f"\nconnecting with {secret}\n"
    cut = len(log.encode()) - RUN_LOG_BYTES - len("start ")
    assert 0 < cut < len(secret)
    record = build_run_record(_sv(), _job(), _failed_summary(), PodLog("p", log))
    text = json.dumps(record)
    assert secret not in text and secret[cut:] not in text
    tail = record["spec"]["log"]["tail"]
    assert tail.endswith("connecting with ***\n") and len(tail.encode()) <= RUN_LOG_BYTES
    # Masked first, the log fits: nothing of it is cut.
    assert tail.startswith("start ***bbb") and record["spec"]["log"]["clipped"] is False
    # The error's texts too.
    leaky = _failed_summary(detail=f"password {secret} refused")
    assert secret not in json.dumps(build_run_record(_sv(), _job(), leaky, PodLog()))


def test_the_log_keeps_its_last_lines_and_bytes_cut_between_characters() -> None:
    lines = "".join(f"line {i}\n" for i in range(RUN_LOG_LINES + 100))
    tail, clipped = clip_log(lines)
    assert clipped and tail.startswith("line 100\n") and tail.count("\n") == RUN_LOG_LINES
    wide, clipped = clip_log("é" * RUN_LOG_BYTES)
    assert clipped and len(wide.encode()) <= RUN_LOG_BYTES and set(wide) == {"é"}
    assert clip_log("short\n") == ("short\n", False)


def test_a_huge_run_is_clipped_well_under_a_mebibyte_and_still_valid() -> None:
    steps = (
        *(StepSummary(str(i), "d" * 400, "up", True, "applied", 5, 1) for i in range(1, 2000)),
        StepSummary("2000", "boom", "up", True, "failed", 5, 1),
    )
    summary = RunSummary(
        ok=False,
        plan_hash=PLAN,
        from_version="0",
        to_version="2000",
        steps=steps,
        error=RunError(
            message="m" * 100_000,
            detail="d" * 100_000,
            hint="h" * 100_000,
            statement="s" * 100_000,
            sqlstate="42601",
        ),
    )
    log = "\n".join("y" * 5000 for _ in range(2000))
    record = _valid(build_run_record(_sv(), _job(), summary, PodLog("p", log)))
    size = len(json.dumps(record).encode())
    assert size < 256 * 1024
    spec = record["spec"]
    kept = spec["summary"]["steps"]
    assert len(kept) == RUN_STEPS and kept[-1]["version"] == "2000"  # the failed step is kept
    assert spec["summary"]["stepsOmitted"] == 2000 - RUN_STEPS
    assert {"log", "summary.steps", "summary.error.statement"} <= set(spec["clipped"])


def test_pruning_keeps_the_newest() -> None:
    records = [
        {"metadata": {"name": f"r{i}"}, "spec": {"completionTime": f"2026-12-01T10:00:0{i}Z"}}
        for i in (3, 1, 2, 4)
    ]
    assert runs_to_prune(records, 2) == ["r1", "r2"]
    assert runs_to_prune(records, 10) == []
    assert human_duration(0.42) == "0.4s" and human_duration(184) == "3m4s"
    assert human_duration(7500) == "2h5m"


class FakeKube:
    """The few calls of KubeApi the recorder makes, on dicts in memory."""

    def __init__(self, jobs: list[dict[str, Any]]) -> None:
        self.jobs = jobs
        self.records: dict[str, dict[str, Any]] = {}
        self.creates = 0
        self.log_reads = 0
        self.fail_create = False
        self.fail_status = 500

    async def list_jobs(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return list(self.jobs)

    async def list_custom(self, plural: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        return list(self.records.values())

    async def create_custom(self, plural: str, obj: dict[str, Any]) -> bool:
        self.creates += 1
        if self.fail_create:
            raise KubeError(f"create: {self.fail_status} boom", self.fail_status)
        if obj["metadata"]["name"] in self.records:
            return False
        self.records[obj["metadata"]["name"]] = obj
        return True

    async def delete_custom(self, plural: str, namespace: str, name: str) -> None:
        self.records.pop(name, None)

    async def job_termination_message(self, namespace: str, meta: Any) -> str:
        return _failed_summary().termination_message()

    async def job_pod_log(self, namespace: str, meta: Any, container: str, lines: int) -> PodLog:
        self.log_reads += 1
        return PodLog("pod", "log\n")


async def test_one_record_per_job_across_reconciles_and_restarts() -> None:
    running = _job(3, uid="c")
    running["status"] = {"startTime": "2026-12-01T10:00:00Z"}
    kube = FakeKube([_job(1, uid="a"), _job(2, uid="b"), running])
    recorder = RunRecorder(kube, 50)  # type: ignore[arg-type]
    await recorder.record_finished_jobs(_sv())
    assert len(kube.records) == 2  # the running Job has none yet
    await recorder.record_finished_jobs(_sv())
    assert kube.creates == 2 and kube.log_reads == 2  # remembered: nothing read again
    restarted = RunRecorder(kube, 50)  # type: ignore[arg-type]
    await restarted.record_finished_jobs(_sv())
    assert kube.creates == 2 and len(kube.records) == 2
    # A look-alike Job (label copied, not controlled by this SchemaVersion) gets no record.
    forged = _job(4, uid="d")
    forged["metadata"]["ownerReferences"] = []
    kube.jobs.append(forged)
    await RunRecorder(kube, 50).record_finished_jobs(_sv())  # type: ignore[arg-type]
    assert len(kube.records) == 2


async def test_an_api_error_is_logged_and_retried_at_the_next_reconcile() -> None:
    kube = FakeKube([_job(1, uid="a")])
    recorder = RunRecorder(kube, 50)  # type: ignore[arg-type]
    kube.fail_create = True
    await recorder.record_finished_jobs(_sv())  # does not raise
    kube.fail_create = False
    await recorder.record_finished_jobs(_sv())
    assert len(kube.records) == 1


async def test_only_the_newest_limit_records_are_kept_and_pruned_jobs_stay_pruned() -> None:
    jobs = [_job(i, uid=f"u{i}", end=f"2026-12-01T10:0{i}:00Z") for i in range(1, 6)]
    kube = FakeKube(jobs)
    await RunRecorder(kube, 2).record_finished_jobs(_sv())  # type: ignore[arg-type]
    assert sorted(r["spec"]["attempt"] for r in kube.records.values()) == [4, 5]
    # A restarted operator does not write (and delete again) the records of old Jobs.
    creates = kube.creates
    await RunRecorder(kube, 2).record_finished_jobs(_sv())  # type: ignore[arg-type]
    assert kube.creates == creates


async def test_a_record_the_api_server_refuses_is_not_sent_again() -> None:
    kube = FakeKube([_job(1, uid="a")])
    recorder = RunRecorder(kube, 50)  # type: ignore[arg-type]
    kube.fail_create, kube.fail_status = True, 422
    await recorder.record_finished_jobs(_sv())
    await recorder.record_finished_jobs(_sv())
    assert kube.creates == 1 and kube.log_reads == 1


async def test_a_job_stopped_by_a_pause_leaves_a_record_saying_so() -> None:
    running = _job(2, uid="r")
    running["status"] = {"startTime": "2026-12-01T10:00:00Z"}  # not finished
    kube = FakeKube([running])
    recorder = RunRecorder(kube, 50)  # type: ignore[arg-type]
    sv = _sv()
    sv["status"] = {"dataMigration": {"version": "7", "rowsDone": 1200}}
    await recorder.record_paused(sv, running["metadata"]["name"], "r")
    (record,) = kube.records.values()
    spec = _valid(record)["spec"]
    assert (spec["outcome"], spec["outcomeReason"]) == ("Stopped", "Paused")
    assert "spec.paused" in spec["outcomeMessage"] and "batched step 7" in spec["outcomeMessage"]
    assert spec["attempt"] == 2 and spec["completionTime"] and spec["log"]["tail"] == "log\n"
    assert record["metadata"]["labels"]["schemaop.io/outcome"] == "Stopped"
    # Once gone it is never recorded a second time; another UID under that name is not it.
    await recorder.record_finished_jobs(sv)
    await recorder.record_paused(sv, running["metadata"]["name"], "other")
    assert kube.creates == 1


async def test_what_is_remembered_is_bounded_by_the_jobs_that_still_exist() -> None:
    kube = FakeKube([_job(i, uid=f"u{i}", end=f"2026-12-01T10:0{i}:00Z") for i in range(1, 4)])
    recorder = RunRecorder(kube, 50)  # type: ignore[arg-type]
    sv = _sv()
    await recorder.record_finished_jobs(sv)
    assert recorder._recorded == {("ns", "db"): {"u1", "u2", "u3"}}
    # The Jobs' TTL deletes them, new ones come: only the listed ones are remembered.
    for round_ in range(20):
        uid = f"n{round_}"
        kube.jobs = [_job(round_ + 4, uid=uid, end=f"2026-12-01T11:{round_:02d}:00Z")]
        await recorder.record_finished_jobs(sv)
        assert recorder._recorded == {("ns", "db"): {uid}}
    creates = kube.creates
    await recorder.record_finished_jobs(sv)  # still remembered: nothing written again
    assert kube.creates == creates
    kube.jobs = []
    await recorder.record_finished_jobs(sv)
    assert recorder._recorded == {("ns", "db"): set()}
    recorder.forget("ns", "db")  # the SchemaVersion is gone
    assert recorder._recorded == {}
