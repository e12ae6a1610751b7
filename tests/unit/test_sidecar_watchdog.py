"""The sidecar's shutdown watchdog: a stuck shutdown ends, with stacks, not silently."""

from __future__ import annotations

import subprocess
import sys
import time

HANGS = """
import threading, time
from schemaop.commands.sidecar import _start_watchdog
_start_watchdog(0.3)
threading.Event().wait()  # a shutdown that never finishes
"""

FINISHES = """
from schemaop.commands.sidecar import _start_watchdog
_start_watchdog(30)
"""


def test_a_stuck_shutdown_exits_1_with_every_threads_stack() -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", HANGS], check=False, capture_output=True, text=True, timeout=20
    )
    assert done.returncode == 1
    assert time.monotonic() - started < 15
    assert "shutdown did not finish within 0.3s" in done.stderr
    assert "Thread 0x" in done.stderr and "Current thread" in done.stderr


def test_a_finished_shutdown_is_not_held_up_by_the_watchdog() -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", FINISHES], check=False, capture_output=True, text=True, timeout=20
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 10
