"""roomkey.js decrypts ``private-encrypted-`` channels in headless Chromium, as pusher-js does:
the official Python SDK publishes with ``encryption_master_key_base64`` through the REST API
and the page's handler gets the plaintext; a stale shared secret is replaced by authorizing
once more; a payload that no key opens is reported as ``decryption_error``."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from playwright.async_api import Page

from tests.support.apps import APP_KEY, MASTER_KEY, make_token
from tests.support.pusher import encrypt_like_the_sdk
from tests.support.rest import call_sdk, sdk
from tests.support.servers import Server
from tests.support.waiting import wait_for_condition

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHANNEL = "private-encrypted-user-42"


SUBSCRIBE = """async ([key, token, channel]) => {
  const { RoomKey } = await import(location.origin + "/roomkey.js");
  window.got = [];
  window.errors = [];
  window.authorized = 0;
  const rk = new RoomKey(location.origin, { key, token });
  rk.connection.bind("authorize_response", () => { window.authorized += 1; });
  const ch = rk.subscribe(channel);
  ch.bind("secret", (data) => window.got.push(data));
  ch.bind("decryption_error", (e) => window.errors.push({ type: e.type, event: e.event }));
  await ch.ready;
  window.ch = ch;
  return ch.sharedSecret;
}"""


async def received(page: Page, count: int) -> list[Any]:
    async def enough() -> bool:
        return bool(await page.evaluate(f"window.got.length >= {count}"))

    await wait_for_condition(enough, f"{count} decrypted event(s) on the page")
    return list(await page.evaluate("window.got"))


async def test_roomkey_js_decrypts_what_the_python_sdk_encrypts(server: Server, page: Page) -> None:
    await page.goto(f"{server.url}/roomkey.js")
    secret = await page.evaluate(SUBSCRIBE, [APP_KEY, make_token("42"), CHANNEL])
    assert len(base64.b64decode(secret)) == 32
    publisher = sdk(server, encryption_master_key=MASTER_KEY)
    await call_sdk(publisher.trigger, CHANNEL, "secret", {"text": "only for 42", "n": 1})
    assert await received(page, 1) == [{"text": "only for 42", "n": 1}]
    assert await page.evaluate("window.authorized") == 1

    # A stale shared secret (a rotated master key): one more authorize, then the plaintext.
    await page.evaluate("window.ch.sharedSecret = btoa('x'.repeat(32))")
    await call_sdk(publisher.trigger, CHANNEL, "secret", "plain text")
    assert await received(page, 2) == [{"text": "only for 42", "n": 1}, "plain text"]
    assert await page.evaluate("window.authorized") == 2
    assert await page.evaluate("window.ch.sharedSecret") == secret
    assert await page.evaluate("window.errors") == []


async def test_a_tampered_payload_is_reported_not_delivered(server: Server, page: Page) -> None:
    await page.goto(f"{server.url}/roomkey.js")
    await page.evaluate(SUBSCRIBE, [APP_KEY, make_token("42"), CHANNEL])
    sealed = json.loads(encrypt_like_the_sdk(CHANNEL, {"text": "tampered"}))
    ciphertext = bytearray(base64.b64decode(sealed["ciphertext"]))
    ciphertext[-1] ^= 1
    sealed["ciphertext"] = base64.b64encode(bytes(ciphertext)).decode()
    app = server.runtime.apps.default
    await server.runtime.hub.publish(app, [CHANNEL], "secret", json.dumps(sealed))
    await server.runtime.hub.publish(app, [CHANNEL], "secret", '{"not": "a box"}')

    async def reported() -> bool:
        return bool(await page.evaluate("window.errors.length >= 2"))

    await wait_for_condition(reported, "both decryption errors on the page")
    assert await page.evaluate("window.errors") == [
        {"type": "DecryptionError", "event": "secret"},
        {"type": "DecryptionError", "event": "secret"},
    ]
    assert await page.evaluate("window.got") == []
    # The box no key opens made roomkey.js authorize once more, as pusher-js does.
    assert await page.evaluate("window.authorized") == 2
