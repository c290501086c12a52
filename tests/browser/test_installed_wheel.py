"""roomkey as a user installs it: the sdist and the wheel built from a copy of the sources
(setup.py's build step stages the browser files from web/'s npm lock), the wheel installed
into a fresh virtualenv in a temporary directory, ``roomkey serve`` run from there with no
checkout on its path, and Chromium loading the demo and joining a private channel.

Nothing is downloaded: the build runs without isolation (setuptools from this environment),
the wheel is installed with ``--no-deps --no-index``, and its dependencies come from this
environment's site-packages through a ``.pth`` file (which does not process that
directory's own ``.pth`` files, so the editable install of the checkout stays out).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.support.browser import log_in, open_demo, running_chromium
from tests.support.paths import NODE_MODULES, REPO_ROOT, WEB_DIR
from tests.support.processes import start_roomkey
from tests.support.servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BUILD_TIMEOUT_S = 120
# No dependency, no index: nothing downloaded (the dependencies are this environment's).
OFFLINE = ["-q", "--no-deps", "--no-index"]
PIP = [sys.executable, "-m", "pip"]
WEB_FILES = (
    "roomkey/web/roomkey.js",
    "roomkey/web/demo/index.html",
    "roomkey/web/demo/demo.js",
    "roomkey/web/demo/demo.css",
    "roomkey/web/vendor/socket.io-client/socket.io.esm.min.js",
    "roomkey/web/vendor/socket.io-client/socket.io.esm.min.js.map",
    "roomkey/web/vendor/socket.io-client/LICENSE",
    "roomkey/web/vendor/socket.io-client/VERSION",
)


def run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def copy_sources(dest: Path) -> None:
    """What a source checkout holds for a build, web/node_modules as installed (a link)."""
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(REPO_ROOT / name, dest / name)
    shutil.copytree(
        REPO_ROOT / "server" / "roomkey",
        dest / "server" / "roomkey",
        ignore=shutil.ignore_patterns("__pycache__", "web"),
    )
    (dest / "web").mkdir()
    for name in ("roomkey.js", "package.json", "package-lock.json"):
        shutil.copy2(WEB_DIR / name, dest / "web" / name)
    shutil.copytree(WEB_DIR / "demo", dest / "web" / "demo")
    (dest / "web" / "node_modules").symlink_to(NODE_MODULES.resolve())


def test_the_wheel_serves_the_demo_from_a_fresh_virtualenv(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    src, dist = tmp_path / "src", tmp_path / "dist"
    src.mkdir()
    dist.mkdir()
    copy_sources(src)

    # sdist (carrying the staged browser files), then the wheel from the unpacked sdist.
    sdist_name = run(
        [
            sys.executable,
            "-c",
            "import sys; from setuptools import build_meta; "
            "print(build_meta.build_sdist(sys.argv[1]))",
            str(dist),
        ],
        src,
        env,
    ).splitlines()[-1]
    with tarfile.open(dist / sdist_name) as sdist:
        sdist.extractall(tmp_path / "unpacked", filter="data")
    unpacked = tmp_path / "unpacked" / sdist_name.removesuffix(".tar.gz")
    for name in WEB_FILES:
        assert (unpacked / "server" / name).is_file(), name
    run(
        [*PIP, "wheel", *OFFLINE, "--no-build-isolation", "-w", str(dist), str(unpacked)],
        tmp_path,
        env,
    )
    (wheel,) = dist.glob("roomkey-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        version = zf.read("roomkey/web/vendor/socket.io-client/VERSION").decode()
    assert set(WEB_FILES) <= names
    lock = json.loads((WEB_DIR / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/socket.io-client"]["version"]
    assert version.startswith(f"socket.io-client {pinned} ")

    # A fresh virtualenv; the test environment's packages (not the checkout) for the deps.
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    run(
        [*PIP, "--python", str(python), "install", *OFFLINE, str(wheel)],
        tmp_path,
        env,
    )
    purelib = Path(
        run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            tmp_path,
            env,
        ).strip()
    )
    (purelib / "shared-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = run([str(python), "-c", "import roomkey; print(roomkey.__file__)"], tmp_path, env)
    assert Path(where.strip()).is_relative_to(venv), where
    version_line = run([str(venv / "bin" / "roomkey"), "--version"], tmp_path, env)
    assert version_line.startswith("roomkey ")

    # roomkey serve from the temporary directory: the package's own web root.
    server = start_roomkey(
        free_port(),
        tmp_path / "roomkey.log",
        command=[str(venv / "bin" / "roomkey")],
        cwd=tmp_path,
        env=env,
    )
    try:
        assert f"web root: {(purelib / 'roomkey' / 'web').resolve()}" in server.log()
        with running_chromium() as browser:
            page = open_demo(browser, server.url + "/")
            me = log_in(page, "Ada")  # waits for the private channel and the room
            assert page.text_content("#private-name") == f"private-user-{me['user_id']}"
            page.context.close()
    finally:
        server.stop()
    assert "stopped on SIGTERM" in server.log()
