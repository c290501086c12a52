"""The benchmark's own smoke run: ``python -m bench.run --smoke`` against real servers, so the
benchmark cannot rot. Checks that the result files are written with the expected keys; it
never asserts on speed. The laravel-echo-server peer is part of it: a missing install fails the
test (``npm ci`` in bench/peers/laravel-echo-server, as scripts/test.sh does), it never skips."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

pytestmark = [pytest.mark.redis, pytest.mark.node, pytest.mark.slow]

ROOT = REPO_ROOT
PEER_CLI = ROOT / "bench" / "peers" / "laravel-echo-server" / "node_modules" / "laravel-echo-server"
PEER = "laravel-echo-server"


# The smoke run takes 85-95 s on an idle 2-core machine (the soak's warm-up rounds and periods
# included); a busy one needs more than the suite's default per-test limit.
RUN_TIMEOUT_S = 280


@pytest.mark.timeout(RUN_TIMEOUT_S + 20)
def test_smoke_run_writes_json_markdown_and_chart(tmp_path: Path) -> None:
    assert (PEER_CLI / "bin" / "server.js").is_file(), (
        "the laravel-echo-server peer is not installed: run `npm ci` in "
        "bench/peers/laravel-echo-server (scripts/test.sh does)"
    )
    # Its own process group: on a timeout every server the run started goes with it.
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert proc.returncode == 0, stderr[-2000:]
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
        PEER,
    } <= targets
    # The peer: burst and paced fan-out, and connects with and without a deflate offer.
    assert {row["mode"] for row in result["fanout"] if row["target"] == PEER} == {
        "burst",
        "paced",
    }
    assert {row["deflate_offered"] for row in result["connect"] if row["target"] == PEER} == {
        False,
        True,
    }
    pinned = json.loads((PEER_CLI.parents[1] / "package.json").read_text())["dependencies"]
    assert result["versions"][PEER] == pinned[PEER]
    assert "laravel-echo-server (peer)" not in {row["scenario"] for row in result["not_measured"]}
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
        "aiohttp form + HMAC handler",
        "roomkey private, --workers 1 (Redis)",
        "roomkey private, --workers 2 (Redis)",
    } <= set(result["authorize"])
    for row in result["authorize"].values():
        assert row["non_2xx"] == 0 and row["requests_per_second"] > 0
    assert {"authorize_private_vs_bare", "authorize_workers_2_vs_1"} <= result["ratios"].keys()
    assert any(k.startswith("fanout_") for k in result["ratios"])
    assert {
        "fanout_20_pusher_deliveries_vs_aiohttp",
        "fanout_20_workers_2_vs_1",
        "fanout_20_workers_2_vs_1_per_cpu_second",
        "fanout_20_two_nodes_vs_one_node_per_cpu_second",
        "fanout_20_two_nodes_redis_cluster_vs_one_redis_per_cpu_second",
        "fanout_20_deliveries_vs_laravel_echo_server",
        "fanout_20_pusher_deliveries_vs_laravel_echo_server",
        "broadcast_20_p99_vs_laravel_echo_server",
        "broadcast_20_pusher_p99_vs_laravel_echo_server",
        "laravel_echo_server_kb_per_connection_20_no_deflate",
    } <= set(result["ratios"])
    # Server CPU per delivery is reported for every fan-out, the Redis scenarios included
    # (all nodes, and every worker process below a --workers parent). At smoke sizes a
    # server may use less than one clock tick, which reads as 0.
    for row in result["fanout"]:
        assert row["deliveries_per_cpu_second"] >= 0, row
        if row["target"].startswith("roomkey, 2 nodes"):  # and Redis's CPU per message
            assert row["redis_cpu_ms_per_message"] >= 0, row
    # The long scenarios, at smoke sizes: the churn leaves every internal map empty, and every
    # idle client connects and receives the one broadcast.
    assert {r["backend"] for r in result["soak"]} == {"memory", "redis"}
    for r in result["soak"]:
        assert r["errors"] == 0 and r["cycles"] > 0 and r["maps_empty"], r
        assert r["before"]["rss_mb"] > 0 and r["samples"], r
    assert {(r["target"], r["deflate_offered"]) for r in result["idle"]} == {
        (t, d) for t in ("roomkey", "roomkey (Pusher protocol)") for d in (False, True)
    }
    for r in result["idle"]:
        assert r["connected"] == r["clients"] and r["errors"] == 0, r
        assert r["broadcast_received"] == r["clients"], r
    assert {"soak_memory_rss_after_vs_before", "soak_redis_maps_empty"} <= set(result["ratios"])
    markdown = (tmp_path / "results.md").read_text()
    assert markdown.startswith("# roomkey benchmark")
    assert f"| {PEER} | 20 | burst |" in markdown
    assert "## Soak" in markdown and "## Idle connections on one process" in markdown
    assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
