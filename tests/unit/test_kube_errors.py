"""The one verdict on a Kubernetes API error (issue 14): only an object the API
server refuses as built stalls; everything else is retried by the reconcile loop."""

from __future__ import annotations

import pytest

from schemaop.kube.api import KubeError


@pytest.mark.parametrize(
    ("status", "invalid"),
    [(400, True), (422, True), (0, False), (403, False), (409, False), (429, False), (503, False)],
)
def test_only_a_refused_object_is_invalid(status: int, invalid: bool) -> None:
    assert KubeError("create Job", status).invalid is invalid
