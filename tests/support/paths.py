"""Where the repository's files are, for tests that read them or run its programs."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
WEB_DIR = REPO_ROOT / "web"
NODE_MODULES = WEB_DIR / "node_modules"
DOCS_DIR = REPO_ROOT / "docs"
README = REPO_ROOT / "README.md"
CONFIG_EXAMPLE = REPO_ROOT / "config.example.toml"
JS_DIR = Path(__file__).resolve().parent / "js"  # the Node programs the tests run
