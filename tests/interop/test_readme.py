"""The README's promises, checked: the first-channel snippet runs (Node, socket.io-client)
against a real roomkey, and the sample production config is valid."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import tomllib

import jwt as pyjwt
import pytest

from roomkey.config import (
    DEV_APP_KEY,
    DEV_JWT_SECRET,
    ConfigError,
    development_settings,
    parse_settings,
)
from tests.support.node import start_node
from tests.support.paths import README as README_PATH
from tests.support.paths import REPO_ROOT
from tests.support.readme import first_channel_snippet, publish_snippet
from tests.support.servers import StartServer
from tests.support.socketio_client import ConnectClient

ROOT = REPO_ROOT
README = README_PATH.read_text()


@pytest.mark.node
async def test_first_private_channel_snippet_runs(start_server: StartServer) -> None:
    server = await start_server(development_settings())
    # Verbatim, as the ES module the README says to save and run (Node 20's fetch).
    code = first_channel_snippet().replace("http://127.0.0.1:6001", server.url)
    script = f"{code}\nsetTimeout(() => process.exit(3), 10000);\n"
    proc = await start_node("--input-type=module", "-e", script)
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        assert line.startswith("subscribed private-user-u"), line
        channel = line.split()[1]
        rt = server.runtime
        await rt.hub.publish(rt.apps.default, [channel], "greeting", "hello")
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        assert line.split() == [channel, "greeting", "hello"]
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_publishing_snippet_runs(start_server: StartServer, connect: ConnectClient) -> None:
    server = await start_server(development_settings())
    token = pyjwt.encode({"sub": "42", "exp": int(time.time()) + 300}, DEV_JWT_SECRET, "HS256")
    client = await connect(server, key=DEV_APP_KEY, token=token)
    assert (await client.subscribe("private-user-42"))["channel"] == "private-user-42"
    code = publish_snippet().replace("port=6001", f"port={server.port}")
    await asyncio.to_thread(exec, code, {})  # the official SDK, synchronous, as pasted
    event = await client.next("event")
    assert event == {
        "channel": "private-user-42",
        "event": "greeting",
        "data": '{"hello": "world"}',  # as the SDK serialised it
    }


def test_sample_production_config_is_valid_once_its_secrets_are_ones_own() -> None:
    block = README.split("A minimal production file:", 1)[1]
    toml = block.split("```toml\n", 1)[1].split("```", 1)[0]
    # As printed, its two example secrets are refused, and nothing else.
    with pytest.raises(ConfigError) as refused:
        parse_settings(tomllib.loads(toml))
    assert [e.split(":", 1)[0] for e in refused.value.errors] == ["jwt.secret", "apps[0].secret"]
    own = re.sub(r'secret = "[^"]*"', lambda m: f'secret = "{secrets.token_urlsafe(32)}"', toml)
    settings = parse_settings(tomllib.loads(own))
    assert settings.apps[0].key == "my-key"
    assert settings.jwt.enabled


def test_readme_states_the_development_credentials() -> None:
    app = development_settings().apps[0]
    for value in (app.id, app.key, app.secret):
        assert f"`{value}`" in README
    assert re.search(r"^    bash scripts/dev\.sh$", README, re.M)
    assert re.search(r"^    bash scripts/test\.sh$", README, re.M)
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
