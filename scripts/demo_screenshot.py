"""Take docs/demo.png from the real demo: roomkey serve in development mode, two users in
headless Chromium chatting in the lobby. Run from the repository: .venv/bin/python
scripts/demo_screenshot.py"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test helpers start roomkey and Chromium the same way

from playwright.sync_api import sync_playwright  # noqa: E402
from tests.support.browser import (  # noqa: E402
    launch_chromium,
    log_in,
    open_demo,
    wait_member_count,
)
from tests.support.processes import start_roomkey  # noqa: E402
from tests.support.servers import free_port  # noqa: E402


def main() -> None:
    target = ROOT / "docs" / "demo.png"
    with tempfile.TemporaryDirectory() as tmp:
        server = start_roomkey(free_port(), Path(tmp) / "roomkey.log")
        try:
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                alice = open_demo(browser, server.url + "/")
                bob = open_demo(browser, server.url + "/")
                log_in(alice, "Alice")
                me = log_in(bob, "Bob")
                wait_member_count(alice, 2)
                alice.click(f"#members li[data-user-id='{me['user_id']}'] button")
                bob.wait_for_selector("#notices li")
                alice.fill("#text", "Hi Bob! The server signs my name, not my browser.")
                alice.press("#text", "Enter")
                bob.wait_for_selector("#messages li:has-text('Hi Bob')")
                bob.fill("#text", "Hello Alice")
                bob.press("#text", "Enter")
                alice.wait_for_selector("#messages li:has-text('Hello Alice')")
                alice.type("#text", "How")
                bob.wait_for_function("document.getElementById('typing').textContent !== ''")
                target.parent.mkdir(exist_ok=True)
                bob.screenshot(path=str(target), full_page=True)
                browser.close()
        finally:
            server.stop()
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
