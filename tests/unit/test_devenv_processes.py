"""How the dev-environment tools and the tests end the processes they start
(tools/devenv/util.py): a child is always reaped, even when the wait for it is
interrupted (pytest-timeout failing a teardown), and a process meant to outlive
this one (a detached node's keeper) is nobody's child here. Either way no
``Popen`` is left to be collected while its process runs ("ResourceWarning:
subprocess N is still running" after the summary of a full run).
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from devenv.util import spawn_detached, stop_process


def _sleeper(*, ignore_term: bool = False) -> subprocess.Popen[bytes]:
    code = "import signal, time\n"
    if ignore_term:
        code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    code += "print('up', flush=True)\ntime.sleep(600)\n"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
    proc.stdout.close()
    return proc


def test_a_child_is_stopped_and_reaped() -> None:
    proc = _sleeper()
    assert stop_process(proc) == -signal.SIGTERM
    # One that ignores the signal is killed after the timeout.
    stubborn = _sleeper(ignore_term=True)
    t0 = time.monotonic()
    assert stop_process(stubborn, timeout=0.5) == -signal.SIGKILL
    assert time.monotonic() - t0 < 10
    # One that ended already: its code, nothing sent.
    assert stop_process(proc) == -signal.SIGTERM


def test_a_child_is_killed_and_reaped_when_the_wait_is_interrupted() -> None:
    stubborn = _sleeper(ignore_term=True)

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt  # as pytest-timeout's failure, raised inside the wait

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(KeyboardInterrupt):
            stop_process(stubborn, timeout=60)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert stubborn.returncode == -signal.SIGKILL
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        del stubborn
        gc.collect()


def test_a_detached_process_outlives_its_starter_as_nobodys_child(tmp_path: Path) -> None:
    log = tmp_path / "detached.log"
    read, write = os.pipe()
    pid = 0
    try:
        with log.open("ab") as out:
            pid = spawn_detached(
                [
                    sys.executable,
                    "-c",
                    f"import os, time; os.write({write}, b'x'); print('running', flush=True);"
                    " time.sleep(600)",
                ],
                stdout=out,
                pass_fds=(write,),
            )
        os.close(write)
        write = -1
        assert os.read(read, 1) == b"x"  # the fd passed is open in it
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        assert int(stat[1]) != os.getpid()  # its parent is not this process
        assert int(stat[2]) == int(stat[3]) == pid  # leads a session and group of its own
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        deadline = time.monotonic() + 10
        while "running" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
    finally:
        os.close(read)
        if write >= 0:
            os.close(write)
        if pid:
            os.kill(pid, signal.SIGKILL)


def test_a_program_that_cannot_start_detached_is_an_error_not_a_dead_pid(
    tmp_path: Path,
) -> None:
    with (tmp_path / "detached.log").open("ab") as out, pytest.raises(RuntimeError) as failed:
        spawn_detached([str(tmp_path / "no-such-program")], stdout=out)
    assert "could not start" in str(failed.value) and "No such file" in str(failed.value)


def test_a_detached_program_gets_the_default_signal_dispositions(tmp_path: Path) -> None:
    """Python ignores SIGPIPE and SIGXFSZ; a program started through it must not."""
    log = tmp_path / "detached.log"
    with log.open("ab") as out:
        pid = spawn_detached(["sh", "-c", "grep SigIgn /proc/$$/status"], stdout=out)
    deadline = time.monotonic() + 10
    while "SigIgn" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    ignored = int(log.read_text().split()[-1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1) | 1 << (signal.SIGXFSZ - 1)), hex(ignored)
    assert pid > 0
