"""Batched data migrations: batch size tuning, the summary's batches, CLI progress (pure)."""

from __future__ import annotations

import io
import json
from typing import Any

from schemaop.commands._support import EXIT_STOPPED, Progress, StopFlag, exit_code
from schemaop.engine import Stopped
from schemaop.engine.datamig import backoff_s, batch_statement_timeout_ms, next_size
from schemaop.model.migration import Batched
from schemaop.model.run import RunSummary, StepSummary

B = Batched("t", ("id",), target_ms=500, initial_size=1000, min_size=10, max_size=5000)


def test_batch_size_moves_toward_the_target_in_bounded_steps() -> None:
    assert next_size(B, 1000, 0.5) == 1000  # on target
    assert next_size(B, 1000, 0.52) == 1000  # within 10%: no change
    assert next_size(B, 1000, 0.1) == 2000  # 5x faster: at most doubled
    assert next_size(B, 1000, 5.0) == 500  # 10x slower: at most halved
    assert next_size(B, 1000, 0.4) == 1250
    assert next_size(B, 4000, 0.01) == 5000  # max
    assert next_size(B, 15, 60.0) == 10  # min
    assert next_size(B, 1000, 0.0) == 2000


def test_backoff_and_statement_timeout() -> None:
    assert 0.05 <= backoff_s(1) <= 0.15
    assert backoff_s(30) <= 15.0
    assert batch_statement_timeout_ms(B, None) == 10_000
    assert batch_statement_timeout_ms(Batched("t", ("id",), target_ms=2000), None) == 40_000
    assert batch_statement_timeout_ms(B, 1234) == 1234


def test_step_summary_batches_round_trip_and_absent_otherwise() -> None:
    batches = {
        "rowsDone": 10,
        "batchesDone": 2,
        "rowsTotalEstimate": 100,
        "batchSize": 5,
        "rowsPerSecond": 20.5,
        "throttleReason": None,
    }
    step = StepSummary("4", "x", "up", True, "pending", batches=batches)
    plain = StepSummary("3", "y", "up", True, "applied")
    summary = RunSummary(ok=False, steps=(plain, step))
    back = RunSummary.from_dict(json.loads(summary.to_json()))
    assert back.steps is not None and back.steps[1].batches == batches
    assert "batches" not in summary.to_dict()["steps"][0]


def test_stopped_exits_4_and_is_not_a_failure() -> None:
    err = Stopped("stopped on request", version="4")
    assert exit_code(err) == EXIT_STOPPED == 4
    s = err.summary()
    assert (s.kind, s.reason.value, s.retryable) == ("Stopped", "Paused", True)


def test_stop_flag_is_set_by_sigterm() -> None:
    import os
    import signal

    with StopFlag() as stop:
        assert not stop()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop()
    assert signal.getsignal(signal.SIGTERM) is not stop._handle


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _event(kind: str = "batch-done", **more: Any) -> dict[str, Any]:
    return {
        "event": kind,
        "version": "4",
        "direction": "up",
        "table": "t",
        "rowsDone": 250,
        "batchesDone": 5,
        "rowsTotalEstimate": 1000,
        "batchSize": 50,
        "rowsPerSecond": 50.0,
        "throttleReason": None,
        **more,
    }


def test_progress_bar_on_a_terminal() -> None:
    out = _Tty()
    p = Progress(out)
    p.last = 0.0
    p(_event())
    text = out.getvalue()
    assert text.startswith("\r\x1b[K") and "25.0%" in text and "eta 15s" in text
    assert "250 rows, 5 batches, size 50" in text
    p(_event("batch-retry", attempt=2, sqlstate="55P03", throttleReason="lock wait"))
    assert "[lock wait] retry 2 (SQLSTATE 55P03)" in out.getvalue()
    p({"event": "step-failed", "version": "4"})
    assert out.getvalue().endswith("(SQLSTATE 55P03)\nfailed: 4\n")


def test_json_lines_otherwise_at_most_one_a_second_but_every_retry() -> None:
    out = io.StringIO()
    p = Progress(out)
    p.last = 0.0
    p(_event())
    p(_event())  # within the second: not shown
    p(_event("batch-retry", attempt=1, sqlstate="57014", delayMs=100))
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [x["event"] for x in lines] == ["batch-done", "batch-retry"]
    assert lines[0]["rowsDone"] == 250 and "time" in lines[0]
    quiet = io.StringIO()
    Progress(quiet, quiet=True)(_event())
    assert quiet.getvalue() == ""
