"""The real node's cluster DNS (tools/devenv/realnode.py): CoreDNS answers on the
bridge address for the cluster's zones only, the kubelet points pods at the
``kube-dns`` Service, and servers of this machine become Services pods reach by
name."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import yaml

from devenv import realnode

# Kubernetes' validation of a label value (apimachinery's qualifiedName value part).
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


def test_kubelet_points_pods_at_the_kube_dns_service(tmp_path: Path) -> None:
    fake = SimpleNamespace(directory=tmp_path, node_name="n")
    realnode._write_kubelet_config(fake, tmp_path, tmp_path / "sock")  # type: ignore[arg-type]
    config = yaml.safe_load((tmp_path / "kubelet" / "config.yaml").read_text())
    assert config["clusterDNS"] == [realnode.DNS_IP]
    assert config["clusterDomain"] == "cluster.local"
    assert config["resolvConf"] == "", "pods must not inherit this machine's resolvers"


def test_coredns_serves_the_cluster_zones_on_the_bridge_address_only(tmp_path: Path) -> None:
    corefile = realnode._write_corefile(tmp_path).read_text()
    header = corefile.splitlines()[0]
    assert header.split()[:-1] == ["cluster.local:53", "in-addr.arpa:53", "ip6.arpa:53"]
    assert f"bind {realnode.NODE_IP}\n" in corefile
    assert "forward" not in corefile, "nothing routes off the machine"
    ports = json.loads((tmp_path / "node" / "dns" / "ports.json").read_text())
    assert f"health 127.0.0.1:{ports['health']}" in corefile
    assert f"ready 127.0.0.1:{ports['ready']}" in corefile
    assert f"kubeconfig {tmp_path / 'coredns.kubeconfig'} schemaop-local" in corefile


def test_coredns_is_built_with_only_the_plugins_its_corefile_uses(tmp_path: Path) -> None:
    main = (realnode.SCRIPTS / "coredns" / "main.go").read_text()
    imported = set(re.findall(r'"github.com/coredns/coredns/plugin/([a-z0-9]+)"', main))
    corefile = realnode._write_corefile(tmp_path).read_text()
    # The server block's directives: one indent (a plugin's own block has two).
    directives = set(re.findall(r"^ {4}([a-z]+)", corefile, re.MULTILINE))
    assert imported == directives == {"bind", "errors", "health", "ready", "kubernetes"}
    assert '"github.com/coredns/coredns/core/plugin"' not in main, (
        "CoreDNS's full plugin list pulls every provider SDK"
    )


def test_a_server_of_this_machine_becomes_a_service_without_selector() -> None:
    manifest = json.loads(
        realnode._host_service_manifest(
            "databases", "postgres", [("postgres", "TCP", 5432, 40123)], None, None
        )
    )
    service, endpoints = manifest["items"]
    assert "selector" not in service["spec"]
    assert service["spec"]["ports"] == [
        {"name": "postgres", "protocol": "TCP", "port": 5432, "targetPort": 40123}
    ]
    assert endpoints["kind"] == "EndpointSlice"
    assert endpoints["metadata"]["labels"]["kubernetes.io/service-name"] == "postgres"
    assert endpoints["endpoints"] == [
        {"addresses": [realnode.NODE_IP], "conditions": {"ready": True}}
    ]
    assert endpoints["ports"] == [{"name": "postgres", "protocol": "TCP", "port": 40123}]
    # The API server refuses an invalid label value (a '/' in it once did).
    for value in endpoints["metadata"]["labels"].values():
        assert LABEL_VALUE.fullmatch(value), value


def test_kube_dns_has_its_fixed_cluster_ip() -> None:
    manifest = json.loads(
        realnode._host_service_manifest(
            "kube-system", "kube-dns", [("dns", "UDP", 53, 53)], realnode.DNS_IP, {"k8s-app": "x"}
        )
    )
    assert manifest["items"][0]["spec"]["clusterIP"] == realnode.DNS_IP
