"""The schema explorer page in headless Chromium: it lists the tables and follows a
migration live.

Debian's chromium (installed with apt-get when missing, like the test
PostgreSQL) is driven by the ``playwright`` Python package with
``executable_path``: no browser is ever downloaded. Fresh profile directory,
no background networking.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sidecar_support import apply_migration, read_only_dsn, sidecar

from browser_support import CHROMIUM_ARGS, chromium
from conftest import unavailable


@pytest.fixture
def browser_page(tmp_path: Path) -> Any:
    """A factory: ``async with browser_page() as page``."""
    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:
        unavailable("playwright", exc)
        raise
    executable = chromium()

    import contextlib

    @contextlib.asynccontextmanager
    async def open_page() -> Any:
        async with async_playwright() as pw:
            context = await pw.chromium.launch_persistent_context(
                str(tmp_path / "profile"),
                executable_path=executable,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 800},
            )
            try:
                yield await context.new_page()
            finally:
                await context.close()

    return open_page


async def test_explorer_lists_tables_and_follows_a_migration(
    database: str, browser_page: Any, tmp_path: Path
) -> None:
    apply_migration(
        database,
        "1",
        "CREATE TABLE public.authors (id int PRIMARY KEY, name text NOT NULL);"
        "CREATE TABLE public.posts (id int PRIMARY KEY, author_id int REFERENCES public.authors,"
        ' "Title <b>bold</b>" varchar(80));',
    )
    async with sidecar(read_only_dsn(database)) as (base, _), browser_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(base + "/")
        await page.wait_for_selector("[data-table='public.authors']", timeout=10_000)
        listed = await page.locator("[data-table]").evaluate_all(
            "nodes => nodes.map(n => n.dataset.table)"
        )
        assert listed == ["public.authors", "public.posts"]
        assert await page.locator("#version").text_content() == "1"
        await page.wait_for_selector("#live.connected", timeout=15_000)

        await page.click("[data-table='public.posts']")
        columns = await page.locator("[data-testid=columns] tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.column)"
        )
        assert columns == ["id", "author_id", "Title <b>bold</b>"]
        assert await page.locator("b").count() == 0  # names are text, never markup
        relations = await page.locator("[data-testid=relations]").text_content()
        assert relations is not None and "public.authors" in relations

        apply_migration(database, "2", "CREATE TABLE public.comments (id int PRIMARY KEY)")
        await page.wait_for_selector("[data-table='public.comments']", timeout=15_000)
        assert await page.locator("#version").text_content() == "2"
        await page.screenshot(path=str(tmp_path / "explorer.png"))
        assert errors == []
