"""The console's OpenAPI document: shipped in the package, identical to the checked-in
copy, and describing exactly the routes the application serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

from schemaop.console.app import make_app, package_file
from schemaop.console.config import ConsoleConfig

ROOT = Path(__file__).resolve().parents[2]


def test_the_document_is_package_data_and_identical_to_the_checked_in_copy() -> None:
    shipped = package_file("openapi.json").read_text()
    assert shipped == (ROOT / "schemas/openapi/console.json").read_text()
    doc = json.loads(shipped)
    assert doc["openapi"].startswith("3.")


def test_every_route_is_documented_and_every_documented_path_served() -> None:
    doc = json.loads(package_file("openapi.json").read_text())
    app = make_app(ConsoleConfig())
    served: set[tuple[str, str]] = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("formatter") or info.get("path") or ""
        if route.method in ("HEAD", "OPTIONS") or not path:
            continue
        if path == "/" or path.startswith(("/ui/", "/static/")):
            continue  # the UI's pages and files
        served.add((path, route.method.lower()))
    documented = {
        (path, method)
        for path, item in doc["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert served == documented


def test_every_reference_resolves() -> None:
    text = package_file("openapi.json").read_text()
    doc = json.loads(text)
    for ref in set(re.findall(r'"\$ref": "#/([^"]+)"', text)):
        node = doc
        for part in ref.split("/"):
            node = node[part]
