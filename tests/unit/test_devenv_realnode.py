"""Pure parts of the real node (tools/devenv/realnode.py): the configuration it
writes keeps everything on this machine and carries what this machine needs."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from devenv import cluster as devcluster
from devenv import realnode


def test_pods_get_a_route_to_services_only(tmp_path: Path) -> None:
    (tmp_path / "cni" / "net.d").mkdir(parents=True)
    realnode._write_cni_config(tmp_path)
    (path,) = (tmp_path / "cni" / "net.d").iterdir()
    bridge = json.loads(path.read_text())["plugins"][0]
    assert bridge["bridge"] == realnode.BRIDGE
    assert bridge["ipMasq"] is False, "pod traffic must not be NATed off the machine"
    assert bridge["ipam"]["routes"] == [{"dst": devcluster.SERVICE_CIDR}]
    assert bridge["ipam"]["ranges"] == [
        [{"subnet": realnode.POD_CIDR, "gateway": realnode.NODE_IP}]
    ]
    assert str(tmp_path) in bridge["ipam"]["dataDir"]


def test_containerd_restricts_oom_score_and_streams_on_loopback(tmp_path: Path) -> None:
    (tmp_path / "containerd").mkdir()
    sock = tmp_path / "containerd" / "containerd.sock"
    realnode._write_containerd_config(tmp_path, sock, "localhost/schemaop-pause:x")
    config: dict[str, Any] = tomllib.loads((tmp_path / "containerd" / "config.toml").read_text())
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True
    assert cri["stream_server_address"] == "127.0.0.1"
    assert cri["sandbox_image"] == "localhost/schemaop-pause:x"
    assert cri["cni"]["conf_dir"] == str(tmp_path / "cni" / "net.d")
    assert config["grpc"]["address"] == str(sock)
    assert config["debug"]["address"] == "" and config["metrics"]["address"] == ""
    assert config["state"].startswith(str(tmp_path))


def test_kubelet_listens_on_the_bridge_and_loopback_only(tmp_path: Path) -> None:
    fake = SimpleNamespace(directory=tmp_path, node_name="n")
    realnode._write_kubelet_config(fake, tmp_path, tmp_path / "sock")  # type: ignore[arg-type]
    config = yaml.safe_load((tmp_path / "kubelet" / "config.yaml").read_text())
    assert config["address"] == realnode.NODE_IP
    assert config["healthzBindAddress"] == "127.0.0.1"
    assert config["readOnlyPort"] == 0
    assert config["authentication"]["anonymous"]["enabled"] is False
    assert config["authorization"]["mode"] == "Webhook"
    assert config["failCgroupV1"] is False
    assert config["makeIPTablesUtilChains"] is False
