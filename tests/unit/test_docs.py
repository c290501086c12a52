"""The docs stay true to the code and to the repository: docs/config.md lists every setting
(rendered from the dataclasses), and the README and docs point only at files this repository
has."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.config_reference import current, render, table_keys
from tests.support.paths import DOCS_DIR, README, REPO_ROOT

PAGES = [README, *sorted(DOCS_DIR.glob("*.md"))]
LINK_RE = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
FILE_NAME_RE = re.compile(r"(?<![\w/.-])([\w./-]+\.(?:md|toml|py|sh|js|json))\b")


def test_config_md_lists_every_setting_as_the_dataclasses_have_it() -> None:
    assert current() == render(), (
        "docs/config.md's settings list is stale: "
        "PYTHONPATH=server python -m tests.support.config_reference"
    )
    keys = table_keys()
    assert {"server", "performance", "metrics", "apps", "apps.limits"} <= set(keys)
    for table in keys:
        assert f"[{table}]" in current(), table


def test_every_relative_link_resolves() -> None:
    broken = []
    for page in PAGES:
        for target in LINK_RE.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue  # http:, https:, mailto:
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(REPO_ROOT)}: {target}")
    assert not broken, broken


def _exists(name: str, page: Path) -> bool:
    candidates = [page.parent / name, REPO_ROOT / name, DOCS_DIR / name]
    if any(c.exists() for c in candidates):
        return True
    # A bare file name (``settings.py``) names a file somewhere in the repository.
    return "/" not in name and any(
        p for p in REPO_ROOT.rglob(name) if "node_modules" not in p.parts and ".venv" not in p.parts
    )


def test_docs_name_only_the_repositorys_own_markdown_files() -> None:
    # Markdown files especially: a page must never send a reader to a document this
    # repository does not have.
    missing = []
    for page in PAGES:
        for name in set(FILE_NAME_RE.findall(page.read_text(encoding="utf-8"))):
            if name.endswith(".md") and not _exists(name, page):
                missing.append(f"{page.relative_to(REPO_ROOT)}: {name}")
    assert not missing, missing
