"""The benchmark's own smoke run: ``python -m bench.run --smoke`` against real servers, so the
benchmark cannot rot. Checks that the result files are written with the expected keys; it
never asserts on speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_smoke_run_writes_json_markdown_and_chart(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "results.json").read_text())
    assert {
        "mode",
        "machine",
        "versions",
        "authorize",
        "connect",
        "fanout",
        "ratios",
        "not_measured",
    } <= result.keys()
    assert result["mode"] == "smoke"
    targets = {row["target"] for row in result["fanout"]}
    assert {
        "roomkey",
        "roomkey (Pusher protocol)",
        "python-socketio room emit",
        "aiohttp WebSocket loop",
        "roomkey, 2 nodes + Redis",
        "roomkey --workers 1 (Redis)",
        "roomkey --workers 2 (Redis)",
    } <= targets
    for row in result["fanout"]:
        # Every message went through the REST API (signed) and reached every subscriber.
        assert row["received"] == row["expected"] and row["publish_failures"] == 0, row
        assert {"deliveries_per_second", "p50_ms", "p99_ms", "max_ms"} <= row.keys()
    for row in result["connect"]:
        assert row["errors"] == 0 and row["connected"] == row["clients"], row
        if row["target"] == "roomkey":
            # roomkey refuses permessage-deflate unless server.compression is set.
            assert row["deflate_accepted"] == 0, row
    assert {
        "roomkey private",
        "roomkey presence",
        "bare aiohttp JSON handler",
        "roomkey private, --workers 1 (Redis)",
        "roomkey private, --workers 2 (Redis)",
    } <= set(result["authorize"])
    for row in result["authorize"].values():
        assert row["non_2xx"] == 0 and row["requests_per_second"] > 0
    assert {"authorize_private_vs_bare", "authorize_workers_2_vs_1"} <= result["ratios"].keys()
    assert any(k.startswith("fanout_") for k in result["ratios"])
    assert {"fanout_20_pusher_deliveries_vs_aiohttp", "fanout_20_workers_2_vs_1"} <= set(
        result["ratios"]
    )
    assert (tmp_path / "results.md").read_text().startswith("# roomkey benchmark")
    assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
