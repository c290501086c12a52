"""Unsafe defaults are refused, through the real ``roomkey`` command: production mode refuses
every secret roomkey publishes (the development preset's, config.example.toml's placeholder,
the README's and the docs' examples), development mode listens on loopback only and its demo
never mints a credential with a secret or a store of one's own."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import jwt as pyjwt
import pytest

from roomkey.config import DEV_APP_SECRET, DEV_ENCRYPTION_MASTER_KEY, DEV_JWT_SECRET
from roomkey.config.checks import SHIPPED_SECRETS
from tests.support.paths import REPO_ROOT
from tests.support.processes import serve_process, start_roomkey
from tests.support.redis_server import RedisServer
from tests.support.servers import free_port

ROOT = REPO_ROOT
ROOMKEY = [str(Path(sys.executable).parent / "roomkey")]
PUBLISHED = "is an example secret that roomkey publishes"
LOOPBACK_ONLY = "development mode (public credentials, the demo) listens on loopback only"
OWN_JWT_SECRET = "own-jwt-secret-0123456789-0123456789-abc"
OWN_APP_SECRET = "own-app-secret-0123456789"

# Where roomkey publishes example secrets, and the forms they take there.
PUBLISHED_FILES = [ROOT / "config.example.toml", ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
SECRET_FORMS = (
    # TOML, Python keyword arguments, JS objects, PHP arrays: secret = "x", secret: "x"
    re.compile(
        r"""\b(?:\w*secret|encryption_master_key)["']?\s*(?:=>|=|:)\s*["']([^"'\s]+)["']""",
        re.I,
    ),
    re.compile(r"^\s*\w*SECRET\w*=(\S+)", re.M),  # .env: PUSHER_APP_SECRET=x
    re.compile(r"\bsecret(?:\s+|\s*\|\s*)`([^`\s]+)`", re.I),  # prose: secret `x`, | secret | `x`
    re.compile(r"\bsigned\b[^`\n]{0,40}\bwith\s+`([^`\s]+)`", re.I),  # JWTs signed with `x`
    re.compile(r"""jwt\.encode\(.*?\},\s*["']([^"']+)["']"""),  # jwt.encode({...}, 'x')
    re.compile(r"--secret[ =](\S+)"),  # roomkey sign --secret x
)
PLACEHOLDER = re.compile(r"[A-Z_]*|<[^>]*>|\.\.\.")  # S, APP_SECRET, <secret>


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ROOMKEY, *args], capture_output=True, text=True, timeout=30)


def published_secrets() -> dict[str, str]:
    """Every example secret in the published files -> the first file showing it."""
    found: dict[str, str] = {}
    for path in PUBLISHED_FILES:
        text = path.read_text(encoding="utf-8")
        for form in SECRET_FORMS:
            for match in form.finditer(text):
                value = match.group(1)
                if not PLACEHOLDER.fullmatch(value):
                    found.setdefault(value, str(path.relative_to(ROOT)))
    return found


def test_every_published_example_secret_is_refused() -> None:
    found = published_secrets()
    # The scan sees each form (so a new example in any of them cannot slip through).
    for value in ("change-me-secret-0123456789", "my-secret-of-16-or-more-characters"):
        assert value in found
    assert DEV_JWT_SECRET in found and DEV_APP_SECRET in found and "app-secret" in found
    missing = {v: where for v, where in found.items() if v not in SHIPPED_SECRETS}
    assert not missing, f"add these to roomkey.config.checks.SHIPPED_SECRETS: {missing}"
    # And the list holds nothing that is not published (the preset's master key is shown in
    # config.example.toml, base64).
    stale = SHIPPED_SECRETS - set(found)
    assert not stale, f"no longer published, remove from SHIPPED_SECRETS: {sorted(stale)}"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "roomkey.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_check_config_refuses_the_example_until_its_secret_is_replaced(tmp_path: Path) -> None:
    example = ROOT / "config.example.toml"
    out = run("check-config", str(example))
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stdout.splitlines() == [
        f"apps[0].secret: {PUBLISHED} (development preset, config.example.toml, README or "
        "docs): anyone can sign with it. Production needs a secret of your own, e.g. the "
        "output of: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
    ]
    assert "1 error(s)" in out.stderr
    assert "change-me-secret-0123456789" not in out.stdout + out.stderr
    own = example.read_text().replace("change-me-secret-0123456789", OWN_APP_SECRET)
    out = run("check-config", str(write(tmp_path, own)))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "OK (1 app(s))" in out.stdout


def test_check_config_names_each_published_secret_by_its_path(tmp_path: Path) -> None:
    secrets = [*sorted(SHIPPED_SECRETS), "Change-Me-please-0123456789"]
    apps = "".join(
        f'[[apps]]\nid = "{i}"\nkey = "k{i}"\nsecret = "{secret}"\n'
        for i, secret in enumerate(secrets)
    )
    master = base64.b64encode(DEV_ENCRYPTION_MASTER_KEY).decode()
    apps += f'[[apps]]\nid = "m"\nkey = "km"\nsecret = "{OWN_APP_SECRET}"\n'
    apps += f'encryption_master_key = "{master}"\n'
    out = run("check-config", str(write(tmp_path, f'[jwt]\nsecret = "{DEV_JWT_SECRET}"\n{apps}')))
    assert out.returncode == 1
    refused = {line.split(":", 1)[0] for line in out.stdout.splitlines() if PUBLISHED in line}
    expected = {f"apps[{i}].secret" for i in range(len(secrets))}
    expected |= {f"apps[{len(secrets)}].encryption_master_key", "jwt.secret"}
    assert refused == expected
    for secret in [*secrets, master, DEV_JWT_SECRET]:
        assert secret not in out.stdout + out.stderr


def test_serve_refuses_the_readmes_production_file(tmp_path: Path) -> None:
    block = (ROOT / "README.md").read_text().split("A minimal production file:", 1)[1]
    toml = block.split("```toml\n", 1)[1].split("```", 1)[0]
    out = run("serve", "--config", str(write(tmp_path, toml)), "--port", str(free_port()))
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.splitlines()
    assert [line.split(":", 2)[1].strip() for line in lines] == ["jwt.secret", "apps[0].secret"]
    assert all(line.startswith("config error: ") and PUBLISHED in line for line in lines)
    assert "secret-of" not in out.stderr


@pytest.mark.slow
def test_development_mode_listens_on_loopback_only(tmp_path: Path) -> None:
    # The preset, asked for every interface: refused, not rebound.
    out = run("serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        f"config error: server.host: {LOOPBACK_ONLY} (127.0.0.1, ::1 or localhost), not "
        "'0.0.0.0'; serve other machines in production mode"
    ]
    # A development-mode file: both listeners, reported with their paths.
    config = write(
        tmp_path,
        '[server]\nmode = "development"\nhost = "::"\n[metrics]\nhost = "10.1.2.3"\n'
        f'[[apps]]\nid = "1"\nkey = "k"\nsecret = "{OWN_APP_SECRET}"\n',
    )
    out = run("check-config", str(config))
    assert out.returncode == 1
    assert [line.split(":", 1)[0] for line in out.stdout.splitlines()] == [
        "server.host",
        "metrics.host",
    ]
    assert all(LOOPBACK_ONLY in line for line in out.stdout.splitlines())
    out = run("serve", "--config", str(config))
    assert out.returncode == 2
    assert "config error: server.host:" in out.stderr
    # Loopback in any spelling is fine.
    for host in ("127.0.0.1", "localhost", "::1"):
        config = write(
            tmp_path,
            f'[server]\nmode = "development"\nhost = "{host}"\n'
            f'[[apps]]\nid = "1"\nkey = "k"\nsecret = "{OWN_APP_SECRET}"\n',
        )
        out = run("check-config", str(config))
        assert out.returncode == 0, host + out.stdout


@pytest.mark.redis
async def test_development_demo_mints_nothing_with_a_secret_or_store_of_ones_own(
    redis_server: RedisServer,
) -> None:
    config = f"""
[server]
mode = "development"
[redis]
url = "{redis_server.url}"
prefix = "unsafe{free_port()}"
[jwt]
secret = "{OWN_JWT_SECRET}"
[session]
store = "redis"
[[apps]]
id = "1"
key = "own-key"
secret = "{OWN_APP_SECRET}"
"""
    # The session-scoped redis-server holds other tests' sessions: compare, do not expect none.
    sessions_before = redis_server.cli("--scan", "--pattern", "AIOHTTP_SESSION_*")
    with serve_process(config) as server:
        async with aiohttp.ClientSession() as http:
            token = await http.post(f"{server.url}/demo/token", json={"name": "Mallory"})
            body = await token.json()
            login = await http.post(f"{server.url}/demo/login", json={"name": "Mallory"})
            login_body = await login.json()
        assert token.status == 403, body
        assert body["error"]["code"] == 4009
        assert "the JWT demo is off" in body["error"]["message"]
        assert login.status == 403, login_body
        assert "the cookie demo is off" in login_body["error"]["message"]
        assert "Set-Cookie" not in login.headers
        sessions_after = redis_server.cli("--scan", "--pattern", "AIOHTTP_SESSION_*")
        assert set(sessions_after.split()) == set(sessions_before.split())
        # The credentials line is for the preset's public secret; this one is nobody's business.
        log = server.log()
        assert "id=1 key=own-key secret=(from the config file)" in log
        assert OWN_APP_SECRET not in log and OWN_JWT_SECRET not in log


async def test_development_preset_demo_still_mints_its_own_tokens(tmp_path: Path) -> None:
    server = start_roomkey(free_port(), tmp_path / "roomkey.log")
    try:
        async with aiohttp.ClientSession() as http:
            resp = await http.post(f"{server.url}/demo/token", json={"name": "Ada"})
            assert resp.status == 200, await resp.text()
            body = await resp.json()
    finally:
        server.stop()
    claims = pyjwt.decode(body["token"], DEV_JWT_SECRET, algorithms=["HS256"])
    assert claims["name"] == "Ada" and claims["exp"] > time.time()
