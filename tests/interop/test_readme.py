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

from roomkey.config import DEV_JWT_SECRET, ConfigError, development_settings, parse_settings
from tests.support.node import start_node
from tests.support.paths import README as README_PATH
from tests.support.paths import REPO_ROOT
from tests.support.readme import first_channel_snippet
from tests.support.servers import StartServer

ROOT = REPO_ROOT
README = README_PATH.read_text()


@pytest.mark.node
async def test_first_private_channel_snippet_runs(start_server: StartServer) -> None:
    server = await start_server(development_settings())
    token = pyjwt.encode(
        {"sub": "42", "name": "Ada", "exp": int(time.time()) + 300}, DEV_JWT_SECRET, "HS256"
    )
    code = first_channel_snippet().replace(
        'import { io } from "socket.io-client";', 'const { io } = require("socket.io-client");'
    )
    code = code.replace("http://127.0.0.1:6001", server.url)
    script = f"const token = {token!r};\n{code}\nsetTimeout(() => process.exit(3), 10000);\n"
    proc = await start_node("-e", script)
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        assert line.startswith("subscribed") and "private-user-42" in line, line
        rt = server.runtime
        await rt.hub.publish(rt.apps.default, ["private-user-42"], "greeting", "hello")
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        assert line.split() == ["private-user-42", "greeting", "hello"]
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


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
