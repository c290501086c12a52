"""The build step that puts roomkey's browser files into its distributions.

pyproject.toml holds everything else; this file only adds, to setuptools' ``build_py`` and
``sdist``, a copy of what ``roomkey serve`` serves to browsers, as package data under
``roomkey/web/``:

- ``roomkey.js`` and ``demo/`` (from ``web/``);
- ``vendor/<package>/`` for each npm package roomkey.js imports (``VENDORED``, the same files
  ``roomkey.http.static.VENDORED`` serves): socket.io-client's browser build
  (``socket.io.esm.min.js`` and its source map) and tweetnacl's ``nacl-fast.min.js``, each with
  its ``LICENSE`` and a ``VERSION`` naming the version pinned by ``web/package-lock.json``.

Those come from ``web/node_modules``, which ``npm ci`` installs from the lock first when it
is missing or holds another version of a vendored package: nothing is copied by hand. An sdist
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
# npm package -> (its folder holding the files, the files): roomkey.http.static.VENDORED
VENDORED = {
    "socket.io-client": ("dist", ("socket.io.esm.min.js", "socket.io.esm.min.js.map")),
    "tweetnacl": (".", ("nacl-fast.min.js",)),
}


def locked_versions() -> dict[str, str]:
    """The version of each vendored package that web/package-lock.json pins."""
    lock = json.loads((WEB / "package-lock.json").read_text(encoding="utf-8"))
    return {name: lock["packages"][f"node_modules/{name}"]["version"] for name in VENDORED}


def installed_version(package: str) -> str | None:
    manifest = WEB / "node_modules" / package / "package.json"
    try:
        version: str = json.loads(manifest.read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError):
        return None
    return version


def ensure_node_modules() -> dict[str, str]:
    """web/node_modules holding the locked vendored packages (``npm ci`` when it does not);
    returns their versions."""
    locked = locked_versions()
    if any(installed_version(name) != version for name, version in locked.items()):
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit(
                f"building roomkey needs {', '.join(locked)} in web/node_modules: "
                "install Node.js and npm (the build runs `npm ci` in web/)"
            )
        subprocess.run(  # noqa: S603 (npm from PATH, fixed arguments)
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WEB, check=True
        )
        for name, version in locked.items():
            if installed_version(name) != version:
                raise SystemExit(f"npm ci in web/ did not install {name} {version}")
    return locked


def stage_web(dest: Path) -> None:
    """Write roomkey's browser files to ``dest`` (replacing what it held)."""
    versions = ensure_node_modules()
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copy2(WEB / "roomkey.js", dest / "roomkey.js")
    shutil.copytree(WEB / "demo", dest / "demo")
    for name, (folder, files) in VENDORED.items():
        package = WEB / "node_modules" / name
        vendor = dest / "vendor" / name
        vendor.mkdir(parents=True)
        for file in files:
            shutil.copy2(package / folder / file, vendor / file)
        shutil.copy2(package / "LICENSE", vendor / "LICENSE")
        (vendor / "VERSION").write_text(
            f"{name} {versions[name]} (pinned by web/package-lock.json)\n", encoding="utf-8"
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
