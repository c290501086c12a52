"""The plugin stops a run whose async tests would not run, and names the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import roomkey

SERVER_DIR = str(Path(roomkey.__file__).resolve().parents[1])


def run_pytest(tmp_path: Path, ini: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text(f"[pytest]\n{ini}\n")
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["roomkey.testing.plugin"]\n')
    (tmp_path / "test_app.py").write_text(
        "async def test_async(roomkey_settings):\n    assert roomkey_settings.apps\n"
    )
    env = {**os.environ, "PYTHONPATH": SERVER_DIR}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )


@pytest.mark.slow
def test_strict_mode_stops_with_the_fix(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "asyncio_mode = strict")
    assert result.returncode == 4, result.stdout + result.stderr  # a usage error
    assert "1 async test(s) would not run" in result.stderr
    assert 'asyncio_mode = "auto"' in result.stderr


@pytest.mark.slow
def test_auto_mode_runs(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "asyncio_mode = auto")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
