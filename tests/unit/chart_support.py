"""The charts rendered with the pinned helm (no cluster), for the unit tests of the
chart (test_chart.py, test_chart_console.py): release ``schemaop`` in namespace
``ops``, through the same ``helm template`` as ``make manifests``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

import render_manifests  # tools/ is on pytest's pythonpath

CHART = render_manifests.CHART
NAMESPACE = "ops"


def pinned_helm() -> Path:
    """The pinned helm of the testbins cache (missing: ``conftest.unavailable``)."""
    found = render_manifests.find_helm()
    if found is None or not found.exists():
        from conftest import unavailable

        unavailable("the pinned helm (make testbins)", "not in the testbins cache")
    assert found is not None
    return found


def render(helm: Path, *values: str, chart: Path = CHART) -> list[dict[str, Any]]:
    """The objects ``chart`` renders with ``values`` (``--set ...``); RuntimeError with
    helm's message if it refuses them."""
    out = render_manifests.helm_template(helm, *values, chart=chart, namespace=NAMESPACE)
    return [d for d in yaml.safe_load_all(out) if d]
