"""The migration console end to end: headless Chromium, the console server in cluster
mode, the real control plane, the operator and PostgreSQL.

Each test walks one path a person takes, with the identity of a ServiceAccount
token (pasted into the login page, or forwarded by an authenticating proxy as
``Authorization: Bearer``), so Kubernetes RBAC decides what the page may do:

- a viewer's Approve is refused by the API server and the page says so; an
  approver's approves exactly the hash the page shows, and the page follows the
  SchemaVersion live; a page that is stale when its Approve arrives (the plan
  changed meanwhile) approves nothing;
- a failing migration: the page shows the error at its statement with its
  SQLSTATE; pause; the run's log is still readable once the Job's TTL removed the
  Job and its pod; a fixed migration, resume, and the page shows it apply live;
- roll back with a preview of the down steps, then a run that fails on a lock and
  is retried now instead of after its backoff.

Screenshots of every walk are written to the test's tmp dir; a failing step names
its screenshot, the page's errors and the console's log.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from console_support import (
    LIVE_WAIT_MS,
    OPERATE_RULES,
    UI_WAIT_MS,
    VIEW_RULES,
    Console,
    launch,
    new_walk,
    user_token,
)
from kube_support import GROUP, VERSION, Operator, apply_crds, operator_fixture
from kubernetes.client.rest import ApiException
from test_operator import Env

from conftest import unavailable
from devenv import cluster as devcluster

ANNOTATION = "schemaop.io/approved-plan"
RUNS = "schemamigrationruns"
WALK_TIMEOUT = 900  # seconds per test: a few Jobs on a shared, loaded machine


@pytest.fixture(scope="session")
def crds(cluster: devcluster.Cluster) -> None:
    apply_crds(cluster)


@pytest.fixture
def operator(crds: None, namespace: str, tmp_path: Path) -> Iterator[Operator]:
    yield from operator_fixture(namespace, tmp_path / "operator.log")


@pytest.fixture
def console(
    crds: None, cluster: devcluster.Cluster, namespace: str, tmp_path: Path
) -> Iterator[Console]:
    server = Console(cluster, (namespace,), tmp_path / "console.log")
    server.start()
    yield server
    server.stop()
    print("---- console log (tail) ----\n" + server.log())


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's chromium under Playwright's sync API."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable("playwright", exc)
        raise
    from browser_support import chromium

    executable = chromium()
    with sync_playwright() as pw:
        launched = launch(pw, executable)
        try:
            yield launched
        finally:
            launched.close()


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def _condition(sv: dict[str, Any], type_: str) -> dict[str, Any]:
    conditions = (sv.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == type_), {})


def _waiting_plan(env: Env, op: Operator, seen: Collection[str] = ()) -> str:
    """The hash of the plan waiting for approval, once it is not one of ``seen``."""

    def check() -> str | None:
        sv = env.sv()
        plan = (sv.get("status") or {}).get("plan") or {}
        waiting = _condition(sv, "ApprovalPending").get("status") == "True"
        return plan.get("hash") if waiting and plan.get("hash") not in seen else None

    return str(env.wait("a new plan waiting for approval", check, 180, op))


def _annotation(env: Env) -> str | None:
    return (env.sv()["metadata"].get("annotations") or {}).get(ANNOTATION)


def _runs(env: Env) -> list[dict[str, Any]]:
    items = env.custom.list_namespaced_custom_object(
        GROUP, VERSION, env.ns, RUNS, label_selector="schemaop.io/schemaversion=db"
    )["items"]
    return sorted(items, key=lambda r: r["spec"].get("completionTime") or "")


def _jobs(env: Env) -> list[Any]:
    return list(
        env.batch.list_namespaced_job(env.ns, label_selector="schemaop.io/schemaversion=db").items
    )


def _gone(read: Any) -> bool:
    try:
        read()
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.timeout(WALK_TIMEOUT)
def test_a_viewer_is_refused_an_approver_approves_and_a_stale_page_approves_nothing(
    kube: Any,
    namespace: str,
    database: str,
    operator: Operator,
    console: Console,
    browser: Any,
    tmp_path: Path,
) -> None:
    expect, env, op = _expect(), Env(kube, namespace, database), operator
    env.secret()
    env.migration("1", "create table a (id int)", "drop table a")
    env.schemaversion(approval="Manual")
    viewer = user_token(kube, namespace, "viewer", VIEW_RULES)
    approver = user_token(kube, namespace, "approver", OPERATE_RULES)
    first = _waiting_plan(env, op)

    # The viewer pastes a token, sees the plan waiting, and may not approve it.
    v = new_walk(browser, "viewer", console, tmp_path)
    v.login(viewer)
    v.open_schemaversion(namespace, "db")
    v.wait_text("approve-hash", first)
    v.shot("plan-waiting")
    status, body = v.post_of("/approve", v.by("approve-button").click)
    with v.step("the viewer's approve is refused by the API server, and the page says so"):
        assert status == 403, body
        message = body["error"]["message"]
        assert "forbidden" in message and "viewer" in message, message
        expect(v.by("action-error")).to_contain_text("forbidden", timeout=UI_WAIT_MS)
        expect(v.by("action-error")).to_contain_text("viewer", timeout=UI_WAIT_MS)
    v.shot("viewer-refused")
    assert _annotation(env) is None

    # The approver (behind an authenticating proxy) approves exactly the hash shown.
    a = new_walk(browser, "approver", console, tmp_path, bearer=approver)
    a.open_schemaversion(namespace, "db")
    a.wait_text("approve-hash", first)
    a.mark()
    status, body = a.post_of("/approve", a.by("approve-button").click)
    with a.step("the approver's approve is accepted"):
        assert (status, body) == (200, {"approved": first})
    env.wait_ready("1", op, timeout=180)
    assert _annotation(env) == first
    a.wait_text("sv-status", "Ready")
    a.shot("approved-and-ready")

    # A new plan shows up live; then a stale page: the plan changes between the
    # page showing it and its Approve reaching the console. Nothing is approved.
    env.migration("2", "create table b (id int)", "drop table b")
    second = _waiting_plan(env, op, {first})
    a.wait_text("approve-hash", second)
    with a.step("the page followed the SchemaVersion without reloading"):
        assert a.not_reloaded()
    changed: list[str] = []

    def plan_changes_meanwhile(route: Any) -> None:
        env.migration("3", "create table c (id int)", "drop table c")
        changed.append(_waiting_plan(env, op, {first, second}))
        route.continue_()

    a.page.route("**/approve", plan_changes_meanwhile)
    status, body = a.post_of("/approve", a.by("approve-button").click, timeout=LIVE_WAIT_MS)
    a.page.unroute("**/approve")
    (third,) = changed
    with a.step("a stale page's approve is refused with PlanChanged, and the page says so"):
        assert status == 409, body
        assert body["error"]["code"] == "PlanChanged", body
        expect(a.by("action-error")).to_be_visible(timeout=UI_WAIT_MS)
        expect(a.by("action-error")).not_to_be_empty(timeout=UI_WAIT_MS)
    a.shot("stale-page-refused")
    sv = env.sv()
    assert sv["status"]["plan"]["hash"] == third
    assert _condition(sv, "ApprovalPending")["status"] == "True"
    assert _annotation(env) == first  # neither the page's plan nor the new one
    assert sv["status"]["currentVersion"] == "1"

    # The page keeps the plan its person reviewed until they choose to review the new
    # one; then approving it runs it.
    with a.step("review the new plan"):
        a.page.get_by_role("button", name="Review the new plan").click(timeout=UI_WAIT_MS)
    a.wait_text("approve-hash", third)
    status, body = a.post_of("/approve", a.by("approve-button").click)
    with a.step("the new plan is approved from the page"):
        assert (status, body) == (200, {"approved": third})
    env.wait_ready("3", op, timeout=180)
    assert _annotation(env) == third
    a.wait_text("sv-status", "Ready")
    with a.step("no page error"):
        assert a.not_reloaded()
        assert [e for e in v.errors + a.errors if "pageerror" in e] == []


BROKEN = "create table b (id int);\ninsert into b values (1);\ncreate tabel c (id int);"
FIXED = "create table b (id int);\ninsert into b values (1);\ncreate table c (id int);"


@pytest.mark.timeout(WALK_TIMEOUT)
def test_a_failing_migration_is_shown_at_its_statement_and_its_fix_applies_live(
    kube: Any,
    namespace: str,
    database: str,
    operator: Operator,
    console: Console,
    browser: Any,
    tmp_path: Path,
) -> None:
    env, op = Env(kube, namespace, database), operator
    env.secret()
    env.migration("1", "create table a (id int)", "drop table a")
    env.migration("2", BROKEN, name="broken")
    # The Jobs go 30 s after they end, as a cluster's TTL would take them.
    env.schemaversion(job={"ttlSecondsAfterFinished": 30})
    w = new_walk(
        browser, "dev", console, tmp_path, bearer=user_token(kube, namespace, "dev", OPERATE_RULES)
    )

    # The list shows the failure live.
    w.open_list()
    w.wait_text(f"sv-row-{namespace}-db", "MigrationFailed")
    w.shot("list-stalled")
    failed = env.wait(
        "a Failed run record",
        lambda: [r for r in _runs(env) if r["spec"]["outcome"] == "Failed"],
        180,
        op,
    )[0]
    run, job = failed["metadata"]["name"], failed["spec"]["job"]["name"]

    # Pause (no new Job once the failed one is gone), from the page.
    w.open_schemaversion(namespace, "db")
    w.wait_text(f"run-row-{run}", "Failed")
    status, body = w.post_of("/pause", w.by("pause-button").click)
    with w.step("pause is accepted"):
        assert status == 200, body
    env.wait("spec.paused", lambda: env.sv()["spec"].get("paused") is True, 60, op)
    w.wait_text("sv-status", "Paused")
    w.shot("paused")

    # The run: the error at its statement, with its SQLSTATE; the log.
    with w.step(f"open the run {run}"):
        row = w.by(f"run-row-{run}")
        links = row.get_by_role("link")
        (links.first if links.count() else row).click()
    w.wait_text("run-error", "42601", "tabel")
    w.wait_text("run-log", "42601")
    w.shot("run-failed")

    # The Job's TTL removes the Job (and its pod); the record and its log stay.
    env.wait(
        f"the Job {job} removed by its TTL",
        lambda: _gone(lambda: env.batch.read_namespaced_job(job, namespace)),
        180,
        op,
    )
    env.wait(
        f"the pods of {job} gone",
        lambda: not env.core.list_namespaced_pod(namespace, label_selector=f"job-name={job}").items,
        120,
        op,
    )
    with w.step("reload the run page once its Job is gone"):
        w.page.reload()
    w.wait_text("run-error", "42601", "tabel", timeout=UI_WAIT_MS)
    w.wait_text("run-log", "42601", timeout=UI_WAIT_MS)
    w.shot("run-log-after-ttl")

    # The fix: the broken migration replaced by a new one; resume; it applies live.
    env.delete_migration("broken")
    env.migration("2", FIXED, "drop table c; drop table b", name="fixed")
    w.open_schemaversion(namespace, "db")
    w.mark()
    status, body = w.post_of("/pause", w.by("pause-button").click)
    with w.step("resume is accepted"):
        assert status == 200, body
    env.wait_ready("2", op, timeout=180)
    ok = env.wait(
        "a Succeeded run record",
        lambda: [r for r in _runs(env) if r["spec"]["outcome"] == "Succeeded"],
        60,
        op,
    )[-1]
    w.wait_text(f"run-row-{ok['metadata']['name']}", "Succeeded")
    w.wait_text("sv-status", "Ready")
    w.shot("fixed-and-ready")
    with w.step("the page followed the fix without reloading"):
        assert w.not_reloaded()
        assert env.sv()["spec"].get("paused") is not True
        assert [e for e in w.errors if "pageerror" in e] == []


@pytest.mark.timeout(WALK_TIMEOUT)
def test_a_rollback_after_its_preview_and_a_failed_run_retried_now(
    kube: Any,
    namespace: str,
    database: str,
    operator: Operator,
    console: Console,
    browser: Any,
    tmp_path: Path,
) -> None:
    env, op = Env(kube, namespace, database), operator
    env.secret()
    env.migration("1", "create table a (id int)", "drop table a")
    env.migration("2", "alter table a add column note text", "alter table a drop column note")
    env.migration("3", "create table c (id int)", "drop table c")
    env.schemaversion(lockTimeout="200ms", lockRetries=1)
    env.wait_ready("3", op, timeout=180)
    w = new_walk(
        browser, "dev", console, tmp_path, bearer=user_token(kube, namespace, "dev", OPERATE_RULES)
    )
    w.open_schemaversion(namespace, "db")
    w.mark()

    # Roll back to 1: the preview lists the down steps, newest first; then confirm.
    with w.step("preview a rollback to 1"):
        w.by("target-input").fill("1")
        w.by("preview-button").click()
    steps = w.wait_text("preview-steps", "drop table c", "alter table a drop column note")
    with w.step("the preview lists the down steps of 3 then 2"):
        assert steps.index("drop table c") < steps.index("drop column note"), steps
        assert "create table" not in steps, steps
    w.shot("rollback-preview")
    assert env.sv()["spec"].get("targetVersion", "latest") == "latest"  # nothing yet
    status, body = w.post_of("/target", w.by("confirm-button").click)
    with w.step("the rollback is accepted"):
        assert status == 200, body
    env.wait_ready("1", op, timeout=180)
    down = env.wait(
        "the rollback's run record",
        lambda: [r for r in _runs(env) if r["spec"].get("toVersion") == "1"],
        60,
        op,
    )[-1]
    w.wait_text(f"run-row-{down['metadata']['name']}", "Succeeded")
    w.wait_text("sv-status", "Ready")
    w.shot("rolled-back")

    # Forward again while a session holds a lock the migration needs: the run
    # fails with a lock timeout (retryable) and waits for its backoff.
    with psycopg.connect(database) as holder:
        holder.execute("lock table a in access exclusive mode")
        with w.step("set the target to 3 again"):
            w.by("target-input").fill("3")
            w.by("preview-button").click()
            w.wait_text("preview-steps", "add column note", timeout=UI_WAIT_MS)
        status, body = w.post_of("/target", w.by("confirm-button").click)
        with w.step("the new target is accepted"):
            assert status == 200, body

        def long_backoff() -> dt.datetime | None:
            failure = (env.sv().get("status") or {}).get("failure") or {}
            if not failure.get("retryAt"):
                return None
            retry_at = _time(failure["retryAt"])
            left = (retry_at - dt.datetime.now(dt.UTC)).total_seconds()
            return retry_at if left > 25 else None  # the third attempt waits 40 s

        retry_at = env.wait("a retry due in more than 25 s", long_backoff, 300, op)
        holder.rollback()
    w.wait_text("sv-status", "Reconciling", timeout=UI_WAIT_MS)
    with w.step("the page says the run waits for its retry"):
        _expect()(w.page.locator("body")).to_contain_text("Retrying", timeout=UI_WAIT_MS)
    before = {j.metadata.name for j in _jobs(env)}
    w.shot("retrying")
    status, body = w.post_of("/retry", w.by("retry-button").click)
    with w.step("retry now is accepted"):
        assert status == 200, body
    job = env.wait(
        "the retry's Job",
        lambda: [j for j in _jobs(env) if j.metadata.name not in before],
        60,
        op,
    )[0]
    created = job.metadata.creation_timestamp
    assert created < retry_at - dt.timedelta(seconds=10), (created, retry_at)
    env.wait_ready("3", op, timeout=180)
    w.wait_text("sv-status", "Ready")
    w.shot("retried-and-ready")
    with w.step("the page followed every change without reloading"):
        assert w.not_reloaded()
        assert re.search(r"\b3\b", w.page.inner_text("body")), "the current version 3 is shown"
        assert [e for e in w.errors if "pageerror" in e] == []
