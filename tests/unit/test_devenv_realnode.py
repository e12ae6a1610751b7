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


def test_the_pods_cgroup_weighs_max_pods_processes_and_back(tmp_path: Path) -> None:
    # cgroup v1 (this machine: hybrid): cpu.shares of containerd's /k8s.io.
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.shares").write_text("1024\n")
    realnode.weigh_pods(realnode.CPU_SHARES_DEFAULT * realnode.MAX_PODS, tmp_path)
    shares = tmp_path / "cpu" / realnode.PODS_CGROUP / "cpu.shares"
    assert shares.read_text() == "112640\n"
    realnode.weigh_pods(realnode.CPU_SHARES_DEFAULT, tmp_path)  # cleanup
    assert shares.read_text() == "1024\n"


def test_the_pods_cgroup_weight_on_cgroup_v2_and_nowhere(tmp_path: Path) -> None:
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cgroup.controllers").write_text("cpu memory pids\n")
    realnode.weigh_pods(realnode.CPU_SHARES_DEFAULT, v2)
    weight = v2 / realnode.PODS_CGROUP / "cpu.weight"
    assert weight.read_text() == "100\n"  # cgroup v2's default weight
    realnode.weigh_pods(realnode.CPU_SHARES_DEFAULT * realnode.MAX_PODS, v2)
    assert weight.read_text() == "10000\n"  # 110 processes: 11,000, beyond the maximum
    # No cgroup file system there: nothing written, nothing raised.
    realnode.weigh_pods(1024, tmp_path / "none")
    assert not (tmp_path / "none").exists()


def test_the_kubelet_runs_max_pods(tmp_path: Path) -> None:
    fake = SimpleNamespace(directory=tmp_path, node_name="n")
    realnode._write_kubelet_config(fake, tmp_path, tmp_path / "sock")  # type: ignore[arg-type]
    config = yaml.safe_load((tmp_path / "kubelet" / "config.yaml").read_text())
    assert config["maxPods"] == realnode.MAX_PODS
