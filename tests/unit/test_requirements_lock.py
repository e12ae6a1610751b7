"""requirements.lock pins what the image (Dockerfile) and CI (`make venv`) install:
every runtime dependency of pyproject.toml, at a version its specifier allows,
with hashes, installed with --require-hashes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _pins() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) from requirements.lock."""
    pins: dict[str, tuple[str, int]] = {}
    text = (ROOT / "requirements.lock").read_text()
    for block in re.split(r"\n(?=[A-Za-z])", text):
        match = re.match(r"([A-Za-z0-9._-]+)==([^\s;\\]+)", block)
        if match:
            name = canonicalize_name(match.group(1))
            pins[name] = (match.group(2), block.count("--hash=sha256:"))
    return pins


def test_every_runtime_dependency_is_pinned_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins()
    assert pins, "requirements.lock has no pins"
    for spec in project["dependencies"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in requirements.lock: regenerate it (make lock)"
        version, hashes = pins[name]
        assert req.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {req.name}=={version}, outside {req.specifier}: make lock"
        )
        assert hashes > 0, f"{req.name} has no hash in requirements.lock"
        for extra in req.extras:
            assert canonicalize_name(f"{req.name}-{extra}") in pins, f"{spec}: extra not pinned"
    assert all(hashes > 0 for _version, hashes in pins.values())
    # The build backend too: the image builds the wheel without build isolation.
    assert "setuptools" in pins


def test_image_and_ci_install_from_the_lock() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes" in dockerfile
    assert "-r requirements.lock" in dockerfile
    assert "--no-deps" in dockerfile
    assert "!requirements.lock" in (ROOT / ".dockerignore").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes -r requirements.lock" in makefile
