"""Helpers of the browser tests: Debian's Chromium driven by Playwright, through its sync API
(``running_chromium``, ``launch_chromium``) or its asyncio API (``launch_chromium_async``).
roomkey itself runs as a real process (``tests.support.processes.start_roomkey``).

Nothing is downloaded: Chromium is ``/usr/bin/chromium``; a missing one fails the tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright import async_api
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.support.markers import BROWSER, require

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TIMEOUT_MS = 8_000
LAUNCH_TIMEOUT_MS = 30_000


def launch_chromium(playwright: Playwright) -> Browser:
    _require_chromium()
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=LAUNCH_TIMEOUT_MS
    )


@contextmanager
def running_chromium() -> Iterator[Browser]:
    """Playwright (sync API) with Chromium launched, for the length of the ``with`` block."""
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


async def launch_chromium_async(playwright: async_api.Playwright) -> async_api.Browser:
    """``launch_chromium`` for the tests that drive Playwright's asyncio API."""
    _require_chromium()
    return await playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=LAUNCH_TIMEOUT_MS
    )


def _require_chromium() -> None:
    require(BROWSER, "Chromium")
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: run the README's test command (it installs it)")


def open_demo(browser: Browser, url: str) -> Page:
    """A page in a fresh context (its own cookies and storage) with short timeouts."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")
    return page


def log_in(page: Page, name: str) -> dict[str, Any]:
    """Log in on the demo page and wait until the private channel and the room are joined.
    Returns ``{"user_id", "name"}``."""
    page.fill("#name", name)
    page.click("#login button")
    wait_joined(page)
    me: dict[str, Any] = page.evaluate("demo.me")
    return me


def wait_joined(page: Page) -> None:
    page.wait_for_selector("#state[data-ok=true]")
    page.wait_for_selector("#private-status[data-ok=true]")
    page.wait_for_selector("#room-status[data-ok=true]")


def member_ids(page: Page) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        "#members li", "items => items.map(li => li.dataset.userId)"
    )
    return sorted(ids)


def wait_member_count(page: Page, count: int) -> None:
    page.wait_for_function(
        "n => document.getElementById('member-count').textContent === String(n)", arg=count
    )
