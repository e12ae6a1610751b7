"""The console's screenshots in docs/images/console-*.png, taken in headless Chromium
(Debian's package, driven by playwright with ``executable_path``: no browser download)
at 1280x800 against tools/console_devserver.py (canned data shaped as the API).

    .venv/bin/python tools/console_screenshots.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
from pathlib import Path
from typing import Any

from aiohttp import web

import console_devserver

ROOT = Path(__file__).resolve().parent.parent
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _shoot(base: str, out: Path) -> list[str]:
    from playwright.async_api import async_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("Debian's chromium is not installed (apt-get install chromium)")
    problems: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
        page: Any = await browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(60_000)
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on(
            "console",
            lambda m: (
                problems.append(m.text) if m.type == "error" and "401" not in m.text else None
            ),
        )
        await page.goto(base + "/")
        await page.fill("[data-testid=login-token]", "screenshots")
        await page.click("[data-testid=login-submit]")
        await page.wait_for_selector("[data-testid=live-state]:has-text('Live')")
        await page.wait_for_timeout(3500)  # the canned live update arrives after 3 s
        await page.screenshot(path=str(out / "console-list.png"))

        await page.click("text=orders-db")
        await page.wait_for_selector("[data-testid=approve-button]")
        await page.locator("#plan").scroll_into_view_if_needed()
        await page.evaluate("window.scrollTo(0, 0)")
        await page.screenshot(path=str(out / "console-database.png"), full_page=True)

        await page.fill("[data-testid=target-input]", "1")
        await page.click("[data-testid=preview-button]")
        await page.wait_for_selector("[data-testid=preview-steps]")
        await page.evaluate("document.querySelector('.preview').scrollIntoView({block: 'end'})")
        await page.screenshot(path=str(out / "console-preview.png"))

        await page.goto(base + "/ui/namespaces/shop/schemaversions/payments-db")
        await page.wait_for_selector("[data-testid^=run-row-]")
        await page.click("[data-testid^=run-row-] a")
        await page.wait_for_selector("[data-testid=log-state]:has-text('Complete')")
        await page.screenshot(path=str(out / "console-run.png"), full_page=True)

        await page.goto(base + "/static/apidocs/index.html?spec=console", timeout=120_000)
        await page.wait_for_selector(".opblock", timeout=120_000)
        await page.screenshot(path=str(out / "console-apidocs.png"))
        await browser.close()
    return problems


async def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    runner = web.AppRunner(console_devserver.make_app(), shutdown_timeout=1.0)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        problems = await _shoot(f"http://127.0.0.1:{port}", out)
    finally:
        await runner.cleanup()
    for problem in problems:
        print(problem)
    print(f"screenshots in {out}")
    return 1 if problems else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    raise SystemExit(asyncio.run(main(parser.parse_args().out)))
