"""Pure parts of the local pod runner (tools/devenv/podrunner.py): which images
run, Kubernetes' $(VAR) expansion, downward-API fields, and the mount script
that makes volumes appear at their real paths inside a container."""

from __future__ import annotations

from pathlib import Path

import pytest

from devenv import podrunner


@pytest.mark.parametrize(
    ("image", "runnable"),
    [
        ("schemaop", True),
        ("schemaop:dev", True),
        ("registry.example.com/team/schemaop:0.1.0", True),
        ("localhost:5000/schemaop", True),
        ("ghcr.io/org/schemaop@sha256:" + "a" * 64, True),
        ("nginx:1.27", False),
        ("docker.io/library/postgres:16", False),
        ("schemaop/other:1", False),
        ("myschemaop:1", False),
        ("", False),
    ],
)
def test_only_the_projects_image_runs(image: str, runnable: bool) -> None:
    assert podrunner.image_runnable(image) is runnable


def test_expand_follows_kubernetes_rules() -> None:
    env = {"A": "1", "DIR": "/etc/x"}
    assert podrunner.expand("$(DIR)/plan.json", env) == "/etc/x/plan.json"
    assert podrunner.expand("$(MISSING)", env) == "$(MISSING)"
    assert podrunner.expand("$$(A) $$ $(A)", env) == "$(A) $ 1"


def test_field_values() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"app": "x"}},
        "spec": {"nodeName": "n", "serviceAccountName": "sa"},
    }
    assert podrunner.field_value(pod, "metadata.namespace") == "ns"
    assert podrunner.field_value(pod, "metadata.labels['app']") == "x"
    assert podrunner.field_value(pod, "spec.serviceAccountName") == "sa"
    with pytest.raises(podrunner.Unsupported):
        podrunner.field_value(pod, "status.phase")


def test_mount_script_binds_existing_targets_and_overlays_missing_ones(tmp_path: Path) -> None:
    existing = tmp_path / "existing"
    existing.mkdir()
    source = tmp_path / "vol"
    source.mkdir()
    mounts = [
        podrunner.Mount(source, existing, read_only=True, is_file=False),
        podrunner.Mount(source, tmp_path / "new" / "deeper", read_only=False, is_file=False),
    ]
    script = podrunner.mount_script(mounts, tmp_path / "ovl", [], "pod-1", "/")
    lines = script.splitlines()
    assert lines[0] == "set -e"
    assert lines[-1] == 'exec "$@"'
    overlays = [line for line in lines if line.startswith("mount -t overlay")]
    assert len(overlays) == 1 and overlays[0].endswith(str(tmp_path))
    # Sources are opened before anything is mounted, then bound parents first.
    opens = [line for line in lines if line.startswith("exec {src") and "<&-" not in line]
    assert opens[0] == f"exec {{src0}}<{source}"
    binds = [line for line in lines if line.startswith("mount --no-canonicalize --bind")]
    assert binds == [
        f'mount --no-canonicalize --bind "/proc/self/fd/${{src0}}" {existing}',
        f'mount --no-canonicalize --bind "/proc/self/fd/${{src1}}" {tmp_path / "new" / "deeper"}',
    ]
    assert lines.index(opens[-1]) < lines.index(overlays[0]) < lines.index(binds[0])
    assert f"mount -o remount,bind,ro {existing}" in lines
    assert not (tmp_path / "new").exists()  # created privately, inside the overlay


def test_mount_script_never_overlays_the_runners_own_state(tmp_path: Path) -> None:
    mounts = [podrunner.Mount(tmp_path / "v", tmp_path / "m" / "x", False, False)]
    script = podrunner.mount_script(mounts, tmp_path / "ovl", [tmp_path / "state"], "p", "/")
    assert "overlay" not in script.split("mount --no-canonicalize --bind")[0].replace(
        str(tmp_path / "ovl"), ""
    )
    assert (tmp_path / "m" / "x").is_dir()  # the mount point was made on the host instead
