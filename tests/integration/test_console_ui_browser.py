"""The console's pages in headless Chromium against tools/console_devserver.py (canned
data shaped as the console's API, the console's Content-Security-Policy): sign in, the
list with search and a live update, one database (lint findings at their lines, approve,
a stale page refused, a rollback preview and its refusal by RBAC), a run (the error at
its statement, per-statement figures, the log) and the API documentation, without a
script error or a CSP violation. The real backend is exercised by the console e2e tests.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from test_sidecar_browser import browser_page  # noqa: F401  (the Chromium fixture)

import console_devserver


@pytest.fixture
async def devserver() -> AsyncIterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    runner = web.AppRunner(console_devserver.make_app(), shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _watch(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

    def console(message: Any) -> None:
        # An HTTP error answer is logged by the browser too: 401 from /api/session before
        # signing in, the refusals the tests ask for. Anything else (a CSP violation, a
        # script error) is a problem.
        if message.type == "error" and "Failed to load resource" not in message.text:
            problems.append(message.text)

    page.on("console", console)
    return problems


async def _sign_in(page: Any, base: str, token: str, path: str = "/") -> None:
    await page.goto(base + path)
    await page.fill("[data-testid=login-token]", token)
    await page.click("[data-testid=login-submit]")


async def test_list_database_and_run_pages(devserver: str, browser_page: Any) -> None:  # noqa: F811
    async with browser_page() as page:
        page.set_default_timeout(60_000)
        problems = _watch(page)
        await _sign_in(page, devserver, "jane")
        rows = page.locator("[data-testid^=sv-row-]")
        await rows.first.wait_for()
        assert await rows.count() == 5
        # Live: billing/invoices is resumed 3 s after the stream opens.
        invoices = page.locator("[data-testid=sv-row-billing-invoices] [data-testid=sv-status]")
        await page.wait_for_function(
            "el => el.textContent.includes('Ready')", arg=await invoices.element_handle()
        )
        await page.fill("[data-testid=search-input]", "payments")
        assert await rows.count() == 1
        status = page.locator("[data-testid=sv-row-shop-payments-db] [data-testid=sv-status]")
        assert "Stalled" in (await status.text_content() or "")  # a text, not colour alone
        await page.fill("[data-testid=search-input]", "")

        await page.click("[data-testid=sv-row-shop-orders-db] a")
        await page.wait_for_selector("[data-testid=approve-button]")
        plan = await page.locator("section[aria-labelledby=plan]").text_content() or ""
        assert "WARNING SO102" in plan and "DROP COLUMN coupon loses its data" in plan
        hash_shown = await page.locator("[data-testid=approve-hash]").text_content()
        await page.click("[data-testid=approve-button]")
        result = page.locator("[data-testid=action-result]")
        await result.wait_for()
        assert hash_shown and hash_shown in (await result.text_content() or "")

        await page.fill("[data-testid=target-input]", "1")
        await page.click("[data-testid=preview-button]")
        steps = await page.locator("[data-testid=preview-steps]").text_content() or ""
        assert "down" in steps and "schemaop_archive" in steps
        await page.fill("[data-testid=target-input]", "0")
        await page.click("[data-testid=preview-button]")
        await page.wait_for_selector("[data-testid=preview-refused]")
        assert await page.locator("[data-testid=confirm-button]").is_disabled()

        await page.goto(devserver + "/ui/namespaces/shop/schemaversions/payments-db")
        await page.click("[data-testid^=run-row-] a")
        error = await page.locator("[data-testid=run-error]").text_content() or ""
        assert "SQLSTATE 42703" in error and "amount_cents" in error
        assert await page.locator("[data-testid=run-error] mark").text_content() == "amount_cents"
        failed = page.locator("[data-testid=run-statement-2]")
        assert "42703" in (await failed.text_content() or "")
        await page.wait_for_selector("[data-testid=log-state]:has-text('Complete')")
        log = await page.locator("[data-testid=run-log]").text_content() or ""
        assert "ERROR 42703" in log

        await page.goto(devserver + "/static/apidocs/index.html?spec=sidecar")
        await page.wait_for_selector(".opblock")
        assert problems == []


async def test_a_stale_page_approves_only_the_plan_it_showed(
    devserver: str,
    browser_page: Any,  # noqa: F811
) -> None:
    async with browser_page() as page:
        page.set_default_timeout(60_000)
        problems = _watch(page)
        # "planchange": the plan of orders-db changes 8 s after the page opens.
        await _sign_in(
            page, devserver, "planchange", "/ui/namespaces/shop/schemaversions/orders-db"
        )
        shown = await page.locator("[data-testid=approve-hash]").text_content()
        await page.wait_for_selector("[data-testid=plan-changed]")
        assert await page.locator("[data-testid=approve-hash]").text_content() == shown
        await page.click("[data-testid=approve-button]")
        refusal = await page.locator("[data-testid=action-error]").text_content() or ""
        assert "409" in refusal and "PlanChanged" in refusal
        await page.click("text=Review the new plan")
        assert await page.locator("[data-testid=approve-hash]").text_content() != shown
        await page.click("[data-testid=approve-button]")
        await page.wait_for_selector("[data-testid=action-result]")
        assert problems == []


async def test_a_refused_action_shows_the_apis_message(devserver: str, browser_page: Any) -> None:  # noqa: F811
    async with browser_page() as page:
        page.set_default_timeout(60_000)
        await _sign_in(page, devserver, "viewer", "/ui/namespaces/shop/schemaversions/orders-db")
        await page.click("[data-testid=pause-button]")
        refusal = await page.locator("[data-testid=action-error]").text_content() or ""
        assert "cannot patch resource" in refusal and "403" in refusal


async def test_a_live_log_says_how_many_lines_were_left_out_and_where(
    devserver: str,
    browser_page: Any,  # noqa: F811
) -> None:
    """The console left lines out of a live log (the page read too slowly): the page says
    how many, as text, and marks the place in the log."""
    async with browser_page() as page:
        page.set_default_timeout(60_000)
        problems = _watch(page)
        await _sign_in(page, devserver, "jane", "/ui/namespaces/shop/jobs/orders-db-9b2e44d1-1")
        note = page.locator("[data-testid=log-dropped]")
        await note.wait_for()
        assert "120 lines were left out" in (await note.text_content() or "")
        await page.wait_for_selector("[data-testid=log-state]:has-text('Complete')")
        log = (await page.locator("[data-testid=run-log]").text_content() or "").splitlines()
        marker = log.index("[schemaop console: 120 lines left out here, this page did not keep up]")
        assert log[marker - 1] == "step 5: applying statement 5"
        assert log[marker + 1] == "step 6: applying statement 6"
        assert problems == []


async def test_the_preview_of_a_rollback_whose_migration_is_gone_says_so(
    devserver: str,
    browser_page: Any,  # noqa: F811
) -> None:
    async with browser_page() as page:
        page.set_default_timeout(60_000)
        problems = _watch(page)
        await _sign_in(page, devserver, "jane", "/ui/namespaces/shop/schemaversions/payments-db")
        await page.fill("[data-testid=target-input]", "4")
        await page.click("[data-testid=preview-button]")
        note = await page.locator("[data-testid=preview-note-5]").text_content() or ""
        assert "The SchemaMigration of version 5 is gone" in note
        assert "recorded when 5 was applied" in note
        assert problems == []
