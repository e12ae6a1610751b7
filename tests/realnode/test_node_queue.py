"""The machine's one real node is taken in turns (``devenv.realnode.queue``): a
second session waits, with a line every 30 s, instead of failing; a holder
killed with -9 lets it go at once; a node being stopped, run by a version
without the lock or by a live holder, is waited for; a detached node's keeper holds it until the
node is stopped. No node is started here: the lock and the owner record live in
a temporary directory (``SCHEMAOP_REALNODE_RUN``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from devenv import realnode

TOOLS = Path(__file__).resolve().parents[2] / "tools"


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.setenv("SCHEMAOP_REALNODE_RUN", str(run))
    monkeypatch.setattr(realnode, "OWNER_FILE", run / "schemaop-realnode.json")
    monkeypatch.setattr(realnode, "LOCK_FILE", run / "schemaop-realnode.lock")
    monkeypatch.setattr(realnode, "WAIT_REPORT", 1.0)
    # This session's own real node (if tests/realnode started one) stays held.
    monkeypatch.setattr(realnode, "_HELD", {})
    yield run
    for directory in list(realnode._HELD):
        realnode.release(directory)


def _owner(run: Path, **state: Any) -> None:
    (run / "schemaop-realnode.json").write_text(json.dumps(state))


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "600"])


def _holder(directory: Path, node_pid: int) -> subprocess.Popen[str]:
    """Another session: takes the node for ``directory`` and keeps it."""
    script = (
        "import json, os, sys, time\n"
        "from pathlib import Path\n"
        "from devenv import realnode\n"
        f"realnode.queue(Path({str(directory)!r}), timeout=30)\n"
        "realnode.OWNER_FILE.write_text(json.dumps({'directory': sys.argv[1],"
        f" 'holder': os.getpid(), 'pids': {{'containerd': {node_pid}}}}}))\n"
        "print('held', flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(directory)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(TOOLS)},
    )
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def test_a_second_session_waits_and_gets_the_node_when_the_holder_is_killed(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node = _sleeper()  # the holder's node, still running when it dies
    holder = _holder(tmp_path / "a", node.pid)
    try:
        t0 = time.monotonic()
        with pytest.raises(realnode.RealNodeBusy) as busy:
            realnode.queue(tmp_path / "b", timeout=2.5)
        assert time.monotonic() - t0 >= 2.5
        assert f"the node of {tmp_path / 'a'}, pid {holder.pid}" in str(busy.value)
        waiting = [line for line in capsys.readouterr().err.splitlines() if "waiting" in line]
        assert len(waiting) >= 2, waiting  # at once, then every WAIT_REPORT seconds
        assert not realnode._HELD

        holder.send_signal(signal.SIGKILL)
        holder.wait()
        t0 = time.monotonic()
        realnode.queue(tmp_path / "b", timeout=30)
        assert time.monotonic() - t0 < 5
        # Its node is stale (holder gone): prepare_network cleans it up next.
        assert json.loads((run_dir / "schemaop-realnode.json").read_text())["holder"] == holder.pid
        assert tmp_path / "b" in realnode._HELD
        realnode.release(tmp_path / "b")
        assert not realnode._HELD
    finally:
        holder.kill()
        node.kill()
        holder.wait()
        node.wait()
        assert holder.stdout is not None
        holder.stdout.close()


def test_a_node_being_stopped_or_run_without_the_lock_is_waited_for(
    run_dir: Path, tmp_path: Path
) -> None:
    stopper, node = _sleeper(), _sleeper()
    try:
        _owner(run_dir, directory=str(tmp_path / "a"), holder=1, stopping=stopper.pid, pids={})
        with pytest.raises(realnode.RealNodeBusy, match=f"being stopped by pid {stopper.pid}"):
            realnode.queue(tmp_path / "b", timeout=1.5)
        # An older devenv.realnode records no holder: wait while its node runs.
        _owner(run_dir, directory=str(tmp_path / "a"), pids={"kubelet": node.pid})
        with pytest.raises(realnode.RealNodeBusy, match="running without the lock"):
            realnode.queue(tmp_path / "b", timeout=1.5)
        node.kill()
        node.wait()
        realnode.queue(tmp_path / "b", timeout=5)
        realnode.release(tmp_path / "b")
        # A holder that runs is never robbed of its node, even without the lock;
        # a recycled pid (another start time) is not that holder.
        _owner(run_dir, directory=str(tmp_path / "a"), holder=stopper.pid, pids={})
        with pytest.raises(realnode.RealNodeBusy, match="its holder runs"):
            realnode.queue(tmp_path / "b", timeout=1.5)
        _owner(run_dir, directory=str(tmp_path / "a"), holder=stopper.pid, holder_start="1")
        realnode.queue(tmp_path / "b", timeout=5)
    finally:
        stopper.kill()
        node.kill()
        stopper.wait()
        node.wait()


def test_a_detached_nodes_keeper_holds_it_until_the_node_is_stopped(
    run_dir: Path, tmp_path: Path
) -> None:
    node = _sleeper()
    directory = tmp_path / "dev"
    (directory / "logs").mkdir(parents=True)
    try:
        realnode.queue(directory, timeout=5)
        _owner(run_dir, directory=str(directory), holder=os.getpid(), pids={"kubelet": node.pid})
        realnode._hand_over(SimpleNamespace(directory=directory, log_dir=directory / "logs"))  # type: ignore[arg-type]
        assert not realnode._HELD  # this process let go; the keeper holds it
        owner = json.loads((run_dir / "schemaop-realnode.json").read_text())
        assert owner["keeper"] is True and owner["holder"] != os.getpid()
        # It outlives this process on purpose: not a child of it (no Popen of it is
        # left here to warn "subprocess N is still running" when this process ends).
        stat = Path(f"/proc/{owner['holder']}/stat").read_text().rsplit(")", 1)[1].split()
        assert int(stat[1]) != os.getpid()
        with pytest.raises(realnode.RealNodeBusy, match="a detached node"):
            realnode.queue(tmp_path / "tests", timeout=2.5)
        # `make dev-down`: marked stopping, so the keeper lets go and waiters wait
        # for the stop to finish (the owner record removed by cleanup).
        owner["stopping"] = os.getpid()
        (run_dir / "schemaop-realnode.json").write_text(json.dumps(owner))
        with pytest.raises(realnode.RealNodeBusy, match="being stopped"):
            realnode.queue(tmp_path / "tests", timeout=5)
        (run_dir / "schemaop-realnode.json").unlink()
        realnode.queue(tmp_path / "tests", timeout=5)
        log = (directory / "logs" / "node-keeper.log").read_text()
        assert "let the real node go" in log, log
    finally:
        node.kill()
        node.wait()
