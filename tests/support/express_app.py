"""The real Express application of the identity tests (js/express-app: express,
express-session, connect-redis and node-redis from its committed package-lock.json, installed
by scripts/test.sh): logs users in with a signed ``connect.sid`` cookie and keeps sessions in
Redis under connect-redis's prefix. Started on a free port, stopped by PID."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from tests.support.markers import NODE, require
from tests.support.paths import JS_DIR

EXPRESS_DIR = JS_DIR / "express-app"
START_TIMEOUT_S = 15.0


@dataclass
class ExpressApp:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextmanager
def running_express(
    redis_url: str, secrets: Sequence[str], *, prefix: str = "sess:", max_age_ms: int = 0
) -> Iterator[ExpressApp]:
    """The Express app on a free loopback port, its sessions in ``redis_url``, signing with
    ``secrets`` (the first signs, every one verifies)."""
    require(NODE, "Node.js (the Express app)")
    node = shutil.which("node")
    assert node is not None, "node is not installed: run the README's test command"
    if not (EXPRESS_DIR / "node_modules" / "express-session").is_dir():
        pytest.fail(f"{EXPRESS_DIR}/node_modules is missing: run scripts/test.sh (npm ci there)")
    env = {**os.environ, "PORT": "0", "REDIS_URL": redis_url, "SECRETS": json.dumps(secrets)}
    env["PREFIX"] = prefix
    if max_age_ms:
        env["MAX_AGE_MS"] = str(max_age_ms)
    process = subprocess.Popen(
        [node, "app.mjs"], cwd=EXPRESS_DIR, env=env, stdout=subprocess.PIPE, stderr=None
    )
    app = ExpressApp(0, process)
    try:
        app.port = _read_port(process)
        yield app
    finally:
        app.stop()


def _read_port(process: subprocess.Popen[bytes]) -> int:
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            line = process.stdout.readline()
            if not line:
                break
            return int(json.loads(line)["port"])
        if process.poll() is not None:
            break
    pytest.fail(f"the Express app did not start (exit code {process.poll()})")
