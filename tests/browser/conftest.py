"""Fixtures of the browser tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, async_playwright

from tests.support.browser import TIMEOUT_MS, launch_chromium_async


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    """A page of a fresh headless Chromium (closed after the test), with the suite's
    default timeout."""
    async with async_playwright() as pw:
        browser = await launch_chromium_async(pw)
        try:
            page = await browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            yield page
        finally:
            await browser.close()
