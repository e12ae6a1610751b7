"""A running Job's log, live in the console: headless Chromium, the console server in
cluster mode with a viewer's own token, the real control plane and the local pod runner.

The Job's container (the project's image; the pod runner runs it as a local process
and serves its log as a kubelet does for ``kubectl logs --follow``) prints a line
every two seconds. The Job's page shows the lines while the Job still runs
(the state "Live", the Job not finished yet: they come from the pod, not from a run
record written at the end), each once and in order, then "Complete" when the
container ends.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from console_support import LIVE_WAIT_MS, PAGE_LOAD_MS, VIEW_RULES, Console, new_walk, user_token
from kubernetes import client
from test_console_e2e import browser, console, crds  # noqa: F401  (the same fixtures)

from schemaop.kube.builders import CONTAINER

pytestmark = pytest.mark.e2e

JOB = "db-live-log-1"
LINES = 12
# Unbuffered, one line every 2 s: the whole run takes 24 s, so the page sees the
# first lines long before the container ends (with slack for a loaded machine).
SCRIPT = (
    "import time\n"
    f"for i in range(1, {LINES + 1}):\n"
    "    print(f'live line {i} of the migration', flush=True)\n"
    "    time.sleep(2)\n"
)


def _job_body() -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": JOB},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": CONTAINER,
                            "image": "schemaop:dev",
                            "command": ["python", "-u", "-c", SCRIPT],
                        }
                    ],
                }
            },
        },
    }


def _finished(batch: client.BatchV1Api, namespace: str) -> bool:
    status = batch.read_namespaced_job(JOB, namespace).status
    return bool(status.succeeded or status.failed or status.completion_time)


@pytest.mark.timeout(600)
def test_a_running_jobs_log_streams_live_from_its_pod(
    kube: Any,
    namespace: str,
    console: Console,  # noqa: F811
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    token = user_token(kube, namespace, "viewer", VIEW_RULES)
    batch = client.BatchV1Api(kube)
    walk = new_walk(browser, "viewer", console, tmp_path)
    walk.login(token)
    batch.create_namespaced_job(namespace, _job_body())
    walk.page.goto(f"{console.base}/ui/namespaces/{namespace}/jobs/{JOB}")
    with walk.step("the first lines show while the Job runs"):
        expect(walk.by("run-log")).to_contain_text("live line 2 of", timeout=LIVE_WAIT_MS)
        running = not _finished(batch, namespace)
        expect(walk.by("log-state")).to_contain_text("Live", timeout=5_000)
        assert running, "the Job had finished when its second line showed: not a live log"
        walk.shot("live")
    with walk.step("the log is complete when the container ends"):
        expect(walk.by("log-state")).to_contain_text("Complete", timeout=LIVE_WAIT_MS)
        shown = walk.text("run-log").splitlines()
        assert shown == [f"live line {i} of the migration" for i in range(1, LINES + 1)], shown
        walk.shot("complete")
    with walk.step("the Job finished"):
        deadline = time.monotonic() + PAGE_LOAD_MS / 1000
        while not _finished(batch, namespace) and time.monotonic() < deadline:
            time.sleep(1)
        assert batch.read_namespaced_job(JOB, namespace).status.succeeded == 1
    # No script error or CSP violation (the 401 of /api/session before login is expected).
    problems = [e for e in walk.errors if "Failed to load resource" not in e]
    assert problems == [], problems
