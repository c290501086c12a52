"""Node.js subprocesses for the interoperability tests: the npm clients and SDKs they load
come from web/node_modules (``npm ci`` in web/, done by the README's test command)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
NODE_MODULES = WEB_DIR / "node_modules"


async def start_node(
    *args: str, stdin: bool = False, stderr: bool = True, **env: str
) -> asyncio.subprocess.Process:
    """``node *args`` run in web/ with ``NODE_PATH`` on its node_modules (so CommonJS
    ``require`` finds them too): stdout piped, stdin piped when asked, stderr piped unless
    ``stderr=False`` (a long-running process whose stderr nobody reads keeps the test's).
    A missing ``node`` fails the test; it never skips it."""
    node = shutil.which("node")
    assert node is not None, "node is not installed: run the README's test command"
    pipe: Any = asyncio.subprocess.PIPE
    return await asyncio.create_subprocess_exec(
        node,
        *args,
        cwd=WEB_DIR,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES), **env},
        stdin=pipe if stdin else asyncio.subprocess.DEVNULL,
        stdout=pipe,
        stderr=pipe if stderr else None,
    )
