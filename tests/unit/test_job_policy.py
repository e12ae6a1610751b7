"""The Job policy (model.jobpolicy), and the Job and plan ConfigMaps built under it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from schemaop.commands._support import read_plan_file
from schemaop.kube.builders import (
    PLAN_MOUNT,
    build_job,
    build_plan_configmaps,
)
from schemaop.model.jobpolicy import JobPolicy, check, image_allowed, parse_image
from schemaop.model.migration import Migration, checksum
from schemaop.model.plan import Plan, PlanStep
from schemaop.model.version import Version

OWN = "registry.example.com/platform/schemaop:1.0"


@pytest.mark.parametrize(
    ("image", "entries", "allowed"),
    [
        (OWN, [OWN], True),
        ("registry.example.com/platform/schemaop:1.1", [OWN], False),
        (OWN + "@sha256:" + "b" * 64, [OWN], False),  # a tag entry pins the tag, not a digest
        (
            "registry.example.com/platform/schemaop",
            ["registry.example.com/platform/schemaop"],
            True,
        ),
        (
            "registry.example.com/platform/schemaop:2",
            ["registry.example.com/platform/schemaop"],
            True,
        ),
        (
            "registry.example.com/platform/schemaop-evil:2",
            ["registry.example.com/platform/schemaop"],
            False,
        ),
        ("registry.example.com/platform/x/y:1", ["registry.example.com/platform/"], True),
        ("registry.example.com/platformx/y:1", ["registry.example.com/platform/"], False),
        ("evil.com/registry.example.com/platform/y:1", ["registry.example.com/platform/"], False),
        ("r.io/a@sha256:" + "c" * 64, ["r.io/a@sha256:" + "c" * 64], True),
        ("r.io/a:any@sha256:" + "c" * 64, ["r.io/a@sha256:" + "c" * 64], True),
        ("r.io/a@sha256:" + "d" * 64, ["r.io/a@sha256:" + "c" * 64], False),
        ("postgres:16", ["docker.io/library/postgres:16"], True),
        ("schemaop", ["schemaop:latest"], True),
        ("library/x:1", ["docker.io/"], True),
        ("NOT VALID", ["*"], False),
        ("anything.io/x:1", ["*"], True),
    ],
)
def test_image_matching(image: str, entries: list[str], allowed: bool) -> None:
    assert image_allowed(image, entries) is allowed


def test_parse_image_normalizes_like_the_runtime() -> None:
    ref = parse_image("localhost:5000/a/b")
    assert ref is not None and ref.repository == "localhost:5000/a/b" and ref.tag == "latest"
    assert parse_image("UPPER/case") is None


def test_annotations_security_keys_need_an_exact_entry() -> None:
    apparmor = "container.apparmor.security.beta.kubernetes.io/migrate"
    spec = {"job": {"podAnnotations": {apparmor: "unconfined", "team.io/owner": "a"}}}
    violations = check(spec, JobPolicy(pod_annotations=("*",)))
    assert len(violations) == 1 and apparmor in str(violations[0])
    assert "team.io" not in str(violations[0])
    assert check(spec, JobPolicy(pod_annotations=("*", apparmor))) == []
    assert check(spec, JobPolicy(pod_annotations=("team.io/*",)))  # apparmor still refused
    assert (
        check({"job": {"podAnnotations": {"team.io/owner": "a"}}}, JobPolicy(pod_annotations=()))
        != []
    )


def test_volume_types_and_service_accounts() -> None:
    policy = JobPolicy(default_service_account="schemaop-job")
    pvc = {"policy": "Full", "volume": {"persistentVolumeClaim": {"claimName": "b"}}}
    assert check({"snapshot": pvc}, policy) == []
    two = {"policy": "Full", "volume": {"persistentVolumeClaim": {}, "hostPath": {"path": "/"}}}
    assert "exactly one volume type" in str(check({"snapshot": two}, policy)[0])
    assert check({"job": {"serviceAccountName": "schemaop-job"}}, policy) == []
    assert check({"job": {"serviceAccountName": "default"}}, policy) != []
    assert check({"job": {"serviceAccountName": "default"}}, JobPolicy()) == []
    assert check({"job": {"serviceAccountName": "x"}}, JobPolicy(service_accounts=("*",))) == []


def _sv(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "db", "namespace": "ns", "uid": "u-1"},
        "spec": {"connection": {"urlFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}, **spec},
    }


def _plan(size: int = 10, steps: int = 1) -> Plan:
    out = []
    for i in range(1, steps + 1):
        sql = f"-- é{'x' * size}\nselect {i};"
        m = Migration(Version(str(i)), f"m{i}", sql, None)
        out.append(PlanStep(m.version, m.description, "up", sql, checksum=checksum(sql, None)))
    return Plan(None, Version(str(steps)), "latest", tuple(out))


def test_job_has_no_token_and_a_seccomp_profile_by_default() -> None:
    job = build_job(_sv(), _plan(), 1, JobPolicy(default_service_account="schemaop-job"))
    pod = job["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "schemaop-job"
    container = pod["containers"][0]
    assert container["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    allowed = JobPolicy(
        default_service_account="schemaop-job", api_service_accounts=("schemaop-job",)
    )
    assert build_job(_sv(), _plan(), 1, allowed)["spec"]["template"]["spec"][
        "automountServiceAccountToken"
    ]


def test_snapshot_volume_keeps_its_mount_name() -> None:
    sv = _sv(
        snapshot={
            "policy": "Full",
            "volume": {"name": "other", "persistentVolumeClaim": {"claimName": "b"}},
        }
    )
    pod = build_job(sv, _plan(), 1, JobPolicy())["spec"]["template"]["spec"]
    assert {"name": "snapshots", "persistentVolumeClaim": {"claimName": "b"}} in pod["volumes"]


def test_a_small_plan_is_one_configmap_and_a_file() -> None:
    plan = _plan()
    (cm,) = build_plan_configmaps(_sv(), plan)
    assert json.loads(cm["data"]["plan.json"])["hash"] == plan.hash
    job = build_job(_sv(), plan, 1, JobPolicy(), 1)
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][-1] == f"{PLAN_MOUNT}/plan.json"


def test_a_large_plan_is_split_and_read_back_whole(tmp_path: Any) -> None:
    plan = _plan(size=256 * 1024, steps=5)
    assert len(plan.to_json().encode()) > 1024 * 1024
    cms = build_plan_configmaps(_sv(), plan)
    assert len(cms) == 2
    names = [cm["metadata"]["name"] for cm in cms]
    assert len(set(names)) == 2 and all(cm["immutable"] for cm in cms)
    for i, cm in enumerate(cms):
        ((key, value),) = cm["data"].items()
        assert key == f"plan.json.{i:03d}"
        assert len(key) + len(value.encode()) < 1024 * 1024
        (tmp_path / key).write_text(value, encoding="utf-8")
    assert read_plan_file(str(tmp_path)).hash == plan.hash
    # Multi-byte characters are never cut in two.
    small = build_plan_configmaps(_sv(), _plan(size=50), part_bytes=7)
    assert "".join(next(iter(cm["data"].values())) for cm in small) == _plan(size=50).to_json()
    job = build_job(_sv(), plan, 1, JobPolicy(), len(cms))
    pod = job["spec"]["template"]["spec"]
    sources = next(v for v in pod["volumes"] if v["name"] == "plan")["projected"]["sources"]
    assert [s["configMap"]["name"] for s in sources] == names
    assert pod["containers"][0]["args"][-1] == PLAN_MOUNT


def test_operator_flags_and_environment_make_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from schemaop.commands import operator as command

    def policy(*argv: str) -> JobPolicy:
        parser = argparse.ArgumentParser()
        command.add_arguments(parser)
        return command.job_policy(parser.parse_args(list(argv)))

    for name in (
        "SCHEMAOP_ALLOWED_JOB_IMAGES",
        "SCHEMAOP_ALLOWED_SNAPSHOT_VOLUME_TYPES",
        "SCHEMAOP_ALLOWED_JOB_POD_ANNOTATIONS",
    ):
        monkeypatch.delenv(name, raising=False)
    default = policy("--job-image", OWN)
    assert default.allowed_images == (OWN,) and default.volume_types == ("persistentVolumeClaim",)
    assert default.pod_annotations == () and default.api_service_accounts == ()
    monkeypatch.setenv("SCHEMAOP_ALLOWED_JOB_IMAGES", "r.io/a/, r.io/b:1")
    monkeypatch.setenv("SCHEMAOP_ALLOWED_JOB_POD_ANNOTATIONS", "")
    from_env = policy()
    assert from_env.images == ("r.io/a/", "r.io/b:1") and from_env.pod_annotations == ()
    flags = policy("--allowed-job-image", "x.io/y", "--job-api-service-account", "a,b")
    assert flags.images == ("x.io/y",) and flags.api_service_accounts == ("a", "b")
    assert default.pod_labels == () and default.tolerations == ()
    both = policy("--allowed-job-pod-label", "team", "--allowed-job-toleration", "spot.io/*")
    assert both.pod_labels == ("team",) and both.tolerations == ("spot.io/*",)


def test_by_default_no_pod_annotation_is_allowed_and_mesh_keys_need_an_exact_entry() -> None:
    """Annotations are read by admission webhooks and node agents: a mesh's sidecar
    injector takes an image and volumes from them, so none pass by default and the
    known ones need an exact entry even under "*"."""
    owner = {"job": {"podAnnotations": {"team.io/owner": "a"}}}
    assert check(owner, JobPolicy()) != []
    assert check(owner, JobPolicy(pod_annotations=("team.io/owner",))) == []
    for key in (
        "sidecar.istio.io/proxyImage",
        "sidecar.istio.io/userVolume",
        "inject.istio.io/templates",
        "config.linkerd.io/proxy-image",
        "cni.projectcalico.org/ipAddrs",
        "v1.multus-cni.io/default-network",
    ):
        spec = {"job": {"podAnnotations": {key: "x"}}}
        assert check(spec, JobPolicy(pod_annotations=("*",))), key
        assert check(spec, JobPolicy(pod_annotations=(key,))) == [], key


def test_an_image_with_a_trailing_newline_is_not_allowed() -> None:
    policy = JobPolicy(default_image="schemaop:dev", images=("registry.example.com/team/x",))
    for image in ("schemaop:dev\n", "registry.example.com/team/x\n", "schemaop:dev "):
        assert check({"job": {"image": image}}, policy), repr(image)
    assert check({"job": {"image": "schemaop:dev"}}, policy) == []


def test_pod_labels_and_tolerations_need_the_policy() -> None:
    """Labels select NetworkPolicies and Services; tolerations let the Job onto
    tainted (control-plane, dedicated) nodes: none by default."""
    labelled = {"job": {"podLabels": {"team": "shop", "role": "db-admin"}}}
    (violation,) = check(labelled, JobPolicy())
    assert "'role', 'team'" in str(violation) and "--allowed-job-pod-label" in str(violation)
    assert check(labelled, JobPolicy(pod_labels=("team", "role"))) == []
    assert check(labelled, JobPolicy(pod_labels=("*",))) == []
    control_plane = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
    everything = {"operator": "Exists"}
    (violation,) = check({"job": {"tolerations": [control_plane]}}, JobPolicy())
    assert "node-role.kubernetes.io/control-plane" in str(violation)
    assert "jobs.policy.tolerations" in str(violation)
    spot = JobPolicy(tolerations=("node-role.kubernetes.io/control-plane", "spot.io/*"))
    assert check({"job": {"tolerations": [control_plane]}}, spot) == []
    # A toleration without a key tolerates every taint: only "*" allows it.
    assert check({"job": {"tolerations": [everything]}}, spot) != []
    assert check({"job": {"tolerations": [everything]}}, JobPolicy(tolerations=("*",))) == []
    assert check({"job": {"tolerations": ["junk"]}}, JobPolicy(tolerations=("a",))) != []


def test_a_node_selector_needs_the_policy_and_node_role_keys_an_exact_entry() -> None:
    """A node selector chooses the nodes the Job runs on (an untainted control plane, a
    pool held apart by labels): none by default; node-role.kubernetes.io/ and
    kubernetes.io/hostname keys only when named exactly, never through "*"."""
    pool = {"job": {"nodeSelector": {"pool.example.com/name": "batch"}}}
    (violation,) = check(pool, JobPolicy())
    assert "'pool.example.com/name'" in str(violation)
    assert "--allowed-job-node-selector" in str(violation)
    assert "jobs.policy.nodeSelectors" in str(violation)
    assert check(pool, JobPolicy(node_selectors=("pool.example.com/*",))) == []
    assert check(pool, JobPolicy(node_selectors=("*",))) == []
    for key in ("node-role.kubernetes.io/control-plane", "kubernetes.io/hostname"):
        spec = {"job": {"nodeSelector": {key: ""}}}
        assert check(spec, JobPolicy(node_selectors=("*",))), key
        assert check(spec, JobPolicy(node_selectors=("node-role.kubernetes.io/*",))), key
        assert check(spec, JobPolicy(node_selectors=(key,))) == [], key


def test_the_node_selector_policy_flag_and_its_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import argparse

    from schemaop.commands import operator as command

    def policy(*argv: str) -> JobPolicy:
        parser = argparse.ArgumentParser()
        command.add_arguments(parser)
        return command.job_policy(parser.parse_args(list(argv)))

    monkeypatch.delenv("SCHEMAOP_ALLOWED_JOB_NODE_SELECTORS", raising=False)
    assert policy().node_selectors == ()
    assert policy("--allowed-job-node-selector", "pool/*").node_selectors == ("pool/*",)
    monkeypatch.setenv("SCHEMAOP_ALLOWED_JOB_NODE_SELECTORS", "a, b")
    assert policy().node_selectors == ("a", "b")
