"""The operator's start-up: it waits for the API server to serve its resources before
kopf looks them up (found by tests/e2e/test_crash.py: an operator that started
while the API server restarted never served a SchemaVersion)."""

from __future__ import annotations

import logging

import pytest

from schemaop.operator.handlers import SERVED, await_discovery


class Discovery:
    """The API server's discovery answers, one per call, then the last one for ever."""

    def __init__(self, *answers: set[str]) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def served_resources(self, group: str, version: str) -> set[str]:
        assert (group, version) == ("schemaop.io", "v1alpha1")
        self.calls += 1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


async def test_waits_until_the_api_server_serves_both_resources(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kube = Discovery(set(), {"schemaversions"}, {"pods"} | SERVED)
    caplog.set_level(logging.INFO)
    assert await await_discovery(kube, timeout=30, interval=0.01)  # type: ignore[arg-type]
    assert kube.calls == 3
    assert "waiting for the API server to serve schemamigrations, schemaversions" in caplog.text


async def test_gives_up_after_the_timeout_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    kube = Discovery(set())
    assert not await await_discovery(kube, timeout=0.05, interval=0.01)  # type: ignore[arg-type]
    assert "are the CRDs installed?" in caplog.text


async def test_no_wait_when_served() -> None:
    kube = Discovery(set(SERVED))
    assert await await_discovery(kube, timeout=0, interval=10)  # type: ignore[arg-type]
    assert kube.calls == 1
