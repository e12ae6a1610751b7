"""A run's log stream: live from the Job's pod while it can be read, else the record's
tail; every line scrubbed; always an ``end`` event."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from schemaop import redaction
from schemaop.console.app import _log_lines
from schemaop.kube.api import KubeError

SECRET = "pw-9f8e7d6c5b4a-secret"
RECORD = {"spec": {"log": {"tail": f"step 1\nconnect with {SECRET}\nERROR: boom\n"}}}
JOB = {"metadata": {"name": "db-x-1", "uid": "u1"}}
POD = {"metadata": {"name": "db-x-1-abcde"}, "status": {"phase": "Running"}}


class FakeApi:
    def __init__(
        self, pods: list[dict[str, Any]], lines: list[str], fail_after: int | None
    ) -> None:
        self.pods, self.lines, self.fail_after = pods, lines, fail_after

    async def job_pods(self, namespace: str, job_meta: Any) -> list[dict[str, Any]]:
        return self.pods

    async def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.pods[0] if self.pods else None

    async def follow_log(self, namespace: str, pod: str) -> AsyncIterator[str]:
        for i, line in enumerate(self.lines):
            if self.fail_after is not None and i >= self.fail_after:
                break
            yield line
        if self.fail_after is not None:
            raise KubeError("read log: 502", 502, "", "the kubelet could not be reached")


async def _events(api: FakeApi, job: Any, record: Any) -> list[tuple[str, dict[str, Any]]]:
    out = []
    async for chunk in _log_lines(api, "ns", job, record):  # type: ignore[arg-type]
        text = chunk.decode()
        if text.startswith(":"):
            continue
        kind = text.split("\n")[0].removeprefix("event: ")
        data = json.loads(text.split("data: ", 1)[1])
        out.append((kind, data))
    return out


async def test_live_lines_from_the_pod_scrubbed_then_end() -> None:
    redaction.remember(SECRET)
    api = FakeApi([POD], ["starting", f"url has {SECRET}"], None)
    events = await _events(api, JOB, RECORD)
    assert [e[0] for e in events] == ["line", "line", "end"]
    assert events[0][1] == {"text": "starting"}
    assert SECRET not in events[1][1]["text"]
    assert events[2][1]["source"] == "pod"


async def test_the_record_when_the_job_or_its_pod_is_gone_or_unreadable() -> None:
    redaction.remember(SECRET)
    for api, job in (
        (FakeApi([], [], None), None),  # the Job is gone
        (FakeApi([], [], None), JOB),  # its pod is gone
        (FakeApi([POD], [], 0), JOB),  # its log cannot be read (no kubelet)
    ):
        events = await _events(api, job, RECORD)
        texts = [e[1]["text"] for e in events if e[0] == "line"]
        assert texts[0] == "step 1" and texts[2] == "ERROR: boom"
        assert SECRET not in "".join(texts)
        assert events[-1] == ("end", {"source": "record"})


async def test_a_stream_cut_short_ends_with_why_and_nothing_twice() -> None:
    api = FakeApi([POD], ["a", "b", "c"], 2)
    events = await _events(api, JOB, RECORD)
    assert [e[1].get("text") for e in events[:-1]] == ["a", "b"]
    assert events[-1][0] == "end" and "kubelet" in events[-1][1]["message"]


async def test_no_log_at_all_says_why() -> None:
    unavailable = {"spec": {"log": {"unavailable": "the Job's pod was gone"}}}
    events = await _events(FakeApi([], [], None), None, unavailable)
    assert events == [("end", {"source": "none", "message": "the Job's pod was gone"})]


async def test_lines_left_out_for_a_slow_reader_are_reported_where_they_were() -> None:
    from schemaop.kube.api import Dropped

    class Slow(FakeApi):
        async def follow_log(self, namespace: str, pod: str) -> AsyncIterator[Any]:
            yield "a"
            yield Dropped(37)
            yield "b"

    events = await _events(Slow([POD], [], None), JOB, RECORD)
    assert events[:3] == [
        ("line", {"text": "a"}),
        ("dropped", {"count": 37}),
        ("line", {"text": "b"}),
    ]
    assert events[-1][0] == "end"


async def test_watch_events_left_out_are_reported_so_the_page_lists_again() -> None:
    from schemaop.console.app import _watch
    from schemaop.kube.api import Dropped

    class Api:
        async def watch_custom(self, plural: str, namespace: str | None) -> AsyncIterator[Any]:
            yield {"type": "ADDED", "object": {"metadata": {"name": "x"}}}
            yield Dropped(3)

    chunks = [c.decode() async for c in _watch(Api(), "schemaversions", None, "schemaversion")]  # type: ignore[arg-type]
    assert chunks[1].startswith("event: dropped\n")
    assert json.loads(chunks[1].split("data: ", 1)[1]) == {"count": 3, "of": "schemaversion"}
