"""`make dev` after `make dev-down`: the API server listens on its old port again,
which the `kubernetes` Service in etcd still names (tools/devenv/cluster.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from devenv.cluster import API_PORT_FILE, _previous_api_port

pytestmark = pytest.mark.unit


def test_the_previous_port_is_reused_when_free_and_only_then(tmp_path: Path) -> None:
    assert _previous_api_port(tmp_path) is None  # a new directory
    (tmp_path / API_PORT_FILE).write_text("not a port\n")
    assert _previous_api_port(tmp_path) is None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        (tmp_path / API_PORT_FILE).write_text(f"{port}\n")
        assert _previous_api_port(tmp_path) is None  # taken: a new one is chosen
    assert _previous_api_port(tmp_path) == port
