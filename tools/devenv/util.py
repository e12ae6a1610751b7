"""Small helpers shared by the dev-environment tools."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


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
