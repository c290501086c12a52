"""The build step that puts roomkey's browser files into its distributions.

pyproject.toml holds everything else; this file only adds, to setuptools' ``build_py`` and
``sdist``, a copy of what ``roomkey serve`` serves to browsers, as package data under
``roomkey/web/``:

- ``roomkey.js`` and ``demo/`` (from ``web/``);
- ``vendor/socket.io-client/``: the browser build roomkey.js imports
  (``socket.io.esm.min.js`` and its source map), its ``LICENSE``, and ``VERSION`` naming the
  version pinned by ``web/package-lock.json``.

Those come from ``web/node_modules``, which ``npm ci`` installs from the lock first when it
is missing or holds another version of socket.io-client: nothing is copied by hand. An sdist
carries the staged copy (``server/roomkey/web/``), so a wheel built from it needs neither
``web/`` nor npm. An editable install (``pip install -e .``) copies nothing: it serves the
checkout's ``web/`` (``roomkey.http.static.locate_web_root``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
WEB = HERE / "web"
STAGED = Path("server", "roomkey", "web")  # relative to the source tree (an sdist's)
PACKAGE_WEB = Path("roomkey", "web")  # relative to build_lib
SOCKETIO = "socket.io-client"
SOCKETIO_FILES = ("socket.io.esm.min.js", "socket.io.esm.min.js.map")


def locked_socketio_version() -> str:
    """The socket.io-client version that web/package-lock.json pins."""
    lock = json.loads((WEB / "package-lock.json").read_text(encoding="utf-8"))
    version: str = lock["packages"][f"node_modules/{SOCKETIO}"]["version"]
    return version


def installed_socketio_version() -> str | None:
    manifest = WEB / "node_modules" / SOCKETIO / "package.json"
    try:
        version: str = json.loads(manifest.read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError):
        return None
    return version


def ensure_node_modules() -> str:
    """web/node_modules holding the locked socket.io-client (``npm ci`` when it does not);
    returns that version."""
    locked = locked_socketio_version()
    if installed_socketio_version() != locked:
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit(
                f"building roomkey needs {SOCKETIO} {locked} in web/node_modules: "
                "install Node.js and npm (the build runs `npm ci` in web/)"
            )
        subprocess.run(  # noqa: S603 (npm from PATH, fixed arguments)
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WEB, check=True
        )
        if installed_socketio_version() != locked:
            raise SystemExit(f"npm ci in web/ did not install {SOCKETIO} {locked}")
    return locked


def stage_web(dest: Path) -> None:
    """Write roomkey's browser files to ``dest`` (replacing what it held)."""
    version = ensure_node_modules()
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copy2(WEB / "roomkey.js", dest / "roomkey.js")
    shutil.copytree(WEB / "demo", dest / "demo")
    package = WEB / "node_modules" / SOCKETIO
    vendor = dest / "vendor" / SOCKETIO
    vendor.mkdir(parents=True)
    for name in SOCKETIO_FILES:
        shutil.copy2(package / "dist" / name, vendor / name)
    shutil.copy2(package / "LICENSE", vendor / "LICENSE")
    (vendor / "VERSION").write_text(
        f"{SOCKETIO} {version} (pinned by web/package-lock.json)\n", encoding="utf-8"
    )


class BuildPyWithWeb(build_py):
    """``build_py``, then the browser files into ``roomkey/web`` (not in editable mode)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        if (HERE / STAGED / "roomkey.js").is_file():
            return  # an sdist: package data already copied by build_py
        stage_web(Path(self.build_lib) / PACKAGE_WEB)


class SdistWithWeb(sdist):
    """``sdist``, carrying the staged browser files as ``server/roomkey/web``."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        if not (HERE / STAGED / "roomkey.js").is_file():
            stage_web(Path(base_dir) / STAGED)


setup(cmdclass={"build_py": BuildPyWithWeb, "sdist": SdistWithWeb})
