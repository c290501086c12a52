"""Authorize requests/s with wrk (Debian's package): POSTs of a form body carrying a JWT bearer
token, as pusher-js sends them, from the load CPU; only 127.0.0.1 is dialled."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from typing import Any

from bench.processes import LOAD_CPU, pinned

PRIVATE_BODY = "socket_id=1234.1234&channel_name=private-bench"
PRESENCE_BODY = "socket_id=1234.1234&channel_name=presence-bench"

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = "{body}"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Bearer {token}"
"""


def bench_jwt() -> str:
    """A token for ``bench.servers.roomkey_node``'s JWT secret, valid for an hour."""
    import jwt

    from bench.servers.roomkey_node import JWT_SECRET

    payload = {"sub": "bench-user", "name": "Bench", "exp": int(time.time()) + 3600}
    return jwt.encode(payload, JWT_SECRET, algorithm="HS256")


def run_wrk(url: str, body: str, seconds: int, connections: int) -> dict[str, Any]:
    """One wrk run (one thread, ``connections`` keep-alive connections, ``seconds`` long):
    requests/s, non-2xx answers and socket errors as wrk reports them."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("bench: wrk is required (Debian package wrk)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT.format(body=body, token=bench_jwt()))
        script = f.name
    try:
        out = subprocess.run(
            pinned(LOAD_CPU, wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "-s", script, url),
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        ).stdout
    finally:
        os.unlink(script)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "requests_per_second": float(rps.group(1)) if rps else 0.0,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(0) if errors else "",
    }
