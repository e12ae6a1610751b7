"""The console's built front end (operator/schemaop/console/static): it is there, it
loads nothing from outside the console's origin, it has no inline script (the CSP is
script-src 'self'), it carries the contract's test hooks, and it is what its source
builds (tools/console_ui.py, the `make lint` check), byte for byte.
"""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

import console_ui
import linttools

STATIC = console_ui.STATIC
PAGES = [STATIC / "index.html", STATIC / "apidocs" / "index.html"]

# CONSOLE.md "Stable test hooks" (the prefixes of the ones with a name after them).
TEST_HOOKS = [
    "sv-row-",
    "sv-status",
    "approve-button",
    "approve-hash",
    "target-input",
    "preview-button",
    "preview-steps",
    "confirm-button",
    "retry-button",
    "pause-button",
    "run-row-",
    "run-log",
    "run-error",
    "action-error",
    "login-token",
    "login-submit",
    "search-input",
]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.inline_scripts: list[str] = []
        self.handlers: list[str] = []
        self._in_script_without_src = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        for name in ("src", "href"):
            if values.get(name) and tag in ("script", "link", "img", "iframe"):
                self.refs.append(str(values[name]))
        if tag == "script" and not values.get("src"):
            self._in_script_without_src = True
            self.inline_scripts.append("")
        if tag == "a" and str(values.get("href", "")).lower().startswith("javascript:"):
            self.handlers.append("href=javascript:")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script_without_src = False

    def handle_data(self, data: str) -> None:
        if self._in_script_without_src:
            self.inline_scripts[-1] += data


def _parse(page: Path) -> _Page:
    parser = _Page()
    parser.feed(page.read_text())
    return parser


def test_the_built_files_are_there() -> None:
    for name in (
        "index.html",
        "console.js",
        "console.css",
        "favicon.svg",
        "THIRD-PARTY-LICENSES.txt",
        "apidocs/index.html",
        "apidocs/apidocs.js",
        "apidocs/swagger-ui-bundle.js",
        "apidocs/swagger-ui.css",
    ):
        assert (STATIC / name).is_file(), name


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(STATIC)))
def test_pages_load_only_their_own_files_and_no_inline_script(page: Path) -> None:
    parsed = _parse(page)
    assert parsed.refs, "the page loads its script and styles"
    for ref in parsed.refs:
        assert not re.match(r"^([a-z][a-z0-9+.-]*:|//)", ref, re.I), f"{ref} is not self-hosted"
        if ref.startswith("/"):
            assert ref.startswith("/static/"), f"{ref}: the server serves static/ under /static/"
            target = STATIC / ref.removeprefix("/static/")
        else:
            target = page.parent / ref
        assert target.resolve().is_file(), f"{ref} is not in static/"
    assert parsed.inline_scripts == [], "an inline <script> (CSP: script-src 'self')"
    assert parsed.handlers == [], "an inline event handler (CSP: script-src 'self')"


def test_style_sheets_need_no_data_images() -> None:
    """CSP default-src 'self': a data: image would be blocked, so the build turns
    Swagger UI's into files; every url() of every style sheet is a file in static/."""
    for sheet in STATIC.rglob("*.css"):
        for ref in re.findall(r"url\(\s*['\"]?([^'\")]+)", sheet.read_text()):
            assert not re.match(r"^([a-z][a-z0-9+.-]*:|//)", ref, re.I), f"{sheet.name}: {ref}"
            assert (sheet.parent / ref).resolve().is_file(), f"{sheet.name}: {ref}"


def test_no_source_map_reference_points_at_a_file_not_shipped() -> None:
    for script in [*STATIC.rglob("*.js"), *STATIC.rglob("*.css")]:
        assert "sourceMappingURL" not in script.read_text()[-400:], script.name


def test_the_bundle_carries_the_contract_test_hooks() -> None:
    bundle = (STATIC / "console.js").read_text()
    missing = [hook for hook in TEST_HOOKS if hook not in bundle]
    assert missing == []


def test_every_package_is_pinned_exactly_with_an_integrity_hash() -> None:
    package = json.loads((console_ui.FRONTEND / "package.json").read_text())
    lock = json.loads((console_ui.FRONTEND / "package-lock.json").read_text())
    pinned = {**package["dependencies"], **package["devDependencies"]}
    for name, version in pinned.items():
        assert version[0].isdigit(), f"{name} {version}: pin an exact version"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    packages = {k: v for k, v in lock["packages"].items() if k}
    assert packages
    assert [k for k, v in packages.items() if not v.get("integrity")] == []
    gitignore = (console_ui.ROOT / ".gitignore").read_text().splitlines()
    assert "operator/schemaop/console/frontend/node_modules/" in gitignore


def _copy(tmp_path: Path) -> Path:
    copy = tmp_path / "static"
    shutil.copytree(STATIC, copy)
    return copy


def test_differences_finds_a_changed_a_missing_and_an_extra_file(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    assert console_ui.differences(STATIC, copy) == []
    (copy / "console.css").write_bytes((copy / "console.css").read_bytes() + b"\n")
    (copy / "apidocs" / "apidocs.js").unlink()
    (copy / "old.js").write_text("")
    problems = console_ui.differences(STATIC, copy)
    assert len(problems) == 3
    assert any("apidocs/apidocs.js is missing" in p for p in problems)
    assert any("console.css is not what the source builds" in p for p in problems)
    assert any("old.js is not made by the build" in p for p in problems)


def test_static_is_what_the_source_builds_and_a_stale_copy_is_refused(tmp_path: Path) -> None:
    """The `make lint` check itself: npm ci from the lock, a fresh build, compared.

    Runs the real build (Node.js and the pinned packages install themselves); a
    missing tool fails the test."""
    try:
        linttools.node()
    except linttools.ToolMissing as exc:
        from conftest import unavailable

        unavailable("node", exc)
    assert console_ui.stale() == []
    copy = _copy(tmp_path)
    (copy / "console.js").write_text("// edited by hand\n")
    problems = console_ui.stale(copy)
    assert len(problems) == 1
    assert "console.js is not what the source builds" in problems[0]
    assert "make console-ui" in problems[0]
