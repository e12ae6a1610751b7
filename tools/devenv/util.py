"""Small helpers shared by the dev-environment tools."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any


def log(component: str, message: str) -> None:
    print(f"[{component}] {message}", file=sys.stderr, flush=True)


def apt_install(*packages: str, services: tuple[str, ...] = ()) -> None:
    """Install Debian packages with apt-get (as root, or through sudo).

    The project installs what it needs from Debian's packages itself, so README's
    two commands stay the only set-up. Debian starts the system service of some
    packages on install (PostgreSQL, Prometheus); the project never uses those, so
    each one named in ``services`` is stopped again.
    """
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
        check=True,
        env=env,
    )
    for service in services:
        subprocess.run(
            [*sudo, "service", service, "stop"],
            check=False,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cache_dir() -> Path:
    return Path(os.environ.get("SCHEMAOP_CACHE", Path.home() / ".cache" / "schemaop"))


def state_dir() -> Path:
    """Where `make dev` keeps the running local environment (not the tests)."""
    return Path(os.environ.get("SCHEMAOP_DEV_DIR", Path.cwd() / ".dev"))


def wait_for(
    what: str, check: Callable[[], bool], timeout: float = 60.0, interval: float = 0.2
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def stop_process(
    proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 10.0
) -> int:
    """Stop a child process: ``sig``, up to ``timeout`` seconds to exit, then SIGKILL;
    its exit code. It is reaped whatever interrupts the wait (pytest-timeout failing a
    teardown, Ctrl-C): a ``Popen`` collected while its process runs is a
    ResourceWarning ("subprocess N is still running"), and the process outlives the
    test that started it."""
    try:
        if proc.poll() is None:
            proc.send_signal(sig)
            proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    finally:
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)  # not forever: a process stuck in the kernel
    return proc.returncode


# The middle process of spawn_detached: forks the program and exits. The program
# (a session of its own, the signals Python ignores back to their defaults) writes
# its pid on fd W, which its exec closes: EOF after the pid says the exec worked;
# "!" and the reason after it say it did not.
_DETACH = """
import os, signal, sys
w = int(sys.argv[1])
if os.fork():
    os._exit(0)
os.setsid()
for number in (signal.SIGPIPE, signal.SIGXFSZ):
    signal.signal(number, signal.SIG_DFL)
os.write(w, str(os.getpid()).encode())
os.set_inheritable(w, False)
try:
    os.execvp(sys.argv[2], sys.argv[2:])
except OSError as exc:
    os.write(w, b"!" + str(exc).encode())
    os._exit(127)
"""


def spawn_detached(
    argv: Sequence[str],
    *,
    stdout: IO[Any] | int,
    env: dict[str, str] | None = None,
    pass_fds: Sequence[int] = (),
) -> int:
    """Start ``argv`` as a process that outlives this one on purpose, the leader of a
    session and process group of its own (as ``start_new_session``), and return its
    pid. It is not this process's child (a middle process
    starts it and exits at once, reaped here): no ``Popen`` is left to warn
    "subprocess N is still running" when this process ends, and no zombie stays.
    stdin is /dev/null, stderr goes with ``stdout``, ``pass_fds`` stay open in it."""
    r, w = os.pipe()
    try:
        middle = subprocess.Popen(
            [sys.executable, "-c", _DETACH, str(w), *argv],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            env=env,
            pass_fds=(w, *pass_fds),
            # Ctrl-C on the caller's terminal must not stop the middle or its child
            # half-way (a keeper holding the lock whose pid was never returned).
            start_new_session=True,
        )
    except BaseException:
        os.close(r)
        raise
    finally:
        os.close(w)
    with os.fdopen(r, "rb") as said:
        pid, _, failed = said.read().decode(errors="replace").partition("!")
    code = middle.wait(30)
    if code != 0 or failed or not pid.isdigit():
        why = failed or f"exit {code}"
        raise RuntimeError(f"could not start {argv[0]} detached: {why}")
    return int(pid)
