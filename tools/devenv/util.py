"""Small helpers shared by the dev-environment tools."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path


def log(component: str, message: str) -> None:
    print(f"[{component}] {message}", file=sys.stderr, flush=True)


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
