"""The soak scenario: does roomkey's memory creep under sustained churn?

For each backend (memory; Redis: a redis-server of its own), one roomkey node in probe mode
(``bench/servers/roomkey_node.py --probe``: ``GET /bench/sizes`` answers
``roomkey.internal_sizes``, the asyncio tasks and the collector's counts) is pinned to the
server CPU and the churn (``bench/churn.py``) to the load CPU:

1. a warm-up churn (a tenth of the time, at least 2 s) so that what is made once per process
   (imports, pools, caches, the first connection's lazily built parts) exists, then the clients
   leave and the maps empty: the "before" sample (RSS, open file descriptors, tasks, maps);
2. the churn itself for ``seconds``, sampled every ``interval`` seconds;
3. the clients leave; once every map is back to empty (bounded wait) the "after" sample, one
   more after a full garbage collection (what was only waiting for the collector), and one
   after ``malloc_trim`` (free memory the C allocator kept rather than returned).

Reported: each sample, RSS after over RSS before (target: within 5%), and whether every map
is back to empty (the limiter's address, user and app windows last their window by design:
they are reported, not counted as left over).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from typing import Any

from bench.processes import LOAD_CPU, PY, ROOT, RedisProcess, ServerProcess, pinned, rss_bytes

NODE = "bench.servers.roomkey_node"
LASTS_ITS_WINDOW = ("throttle.windows",)
QUIET_TIMEOUT = 30.0


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def probe(port: int, how: str = "") -> dict[str, Any]:
    """The probe's answer; ``how``: "" as it is, "collect" after a full collection, "trim"
    after that and ``malloc_trim`` too."""
    url = f"http://127.0.0.1:{port}/bench/sizes" + (f"?{how}=1" if how else "")
    with urllib.request.urlopen(url, timeout=10) as resp:
        parsed: dict[str, Any] = json.loads(resp.read())
        return parsed


def left_over(sizes: dict[str, Any]) -> dict[str, int]:
    return {
        k: v
        for k, v in sizes.items()
        if isinstance(v, int) and v and k != "asyncio.tasks" and k not in LASTS_ITS_WINDOW
    }


def sample(server: ServerProcess, started: float, how: str = "") -> dict[str, Any]:
    sizes = probe(server.port, how)
    return {
        "t": round(time.monotonic() - started, 1),
        "rss_mb": round(rss_bytes(server.proc.pid) / 2**20, 2),
        "fds": fds(server.proc.pid),
        "tasks": sizes.get("asyncio.tasks", 0),
        "maps_total": sum(left_over(sizes).values()),
        "sizes": {k: v for k, v in sizes.items() if isinstance(v, int)},
    }


def quiet(server: ServerProcess) -> dict[str, int]:
    """Wait (bounded) until no map holds anything; what is left if the wait ran out."""
    deadline = time.monotonic() + QUIET_TIMEOUT
    while True:
        rest = left_over(probe(server.port))
        if not rest or time.monotonic() >= deadline:
            return rest
        time.sleep(0.2)


def churn(port: int, seconds: float, concurrency: int) -> subprocess.Popen[str]:
    argv = [PY, "-m", "bench.churn", "--port", str(port), "--seconds", str(seconds)]
    argv += ["--concurrency", str(concurrency)]
    return subprocess.Popen(
        pinned(LOAD_CPU, *argv), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finished(proc: subprocess.Popen[str], seconds: float) -> dict[str, Any]:
    try:
        out, err = proc.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        return {"cycles": 0, "errors": 1, "first_errors": ["churn did not end in time"]}
    for line in out.splitlines():
        if line.startswith("RESULT "):
            parsed: dict[str, Any] = json.loads(line[7:])
            return parsed
    return {"cycles": 0, "errors": 1, "first_errors": [err[-300:]]}


def soak_one(backend: str, seconds: float, interval: float, concurrency: int) -> dict[str, Any]:
    """One backend's soak: the samples and the figures the report shows."""
    redis = RedisProcess() if backend == "redis" else None
    server: ServerProcess | None = None
    try:
        args = ["--probe"] + (["--redis-url", redis.url] if redis is not None else [])
        server = ServerProcess(NODE, *args)
        started = time.monotonic()
        time.sleep(0.5)
        fresh = sample(server, started)
        warm = max(2.0, seconds / 10)
        warmup = finished(churn(server.port, warm, concurrency), warm)
        quiet(server)
        before = sample(server, started)
        proc = churn(server.port, seconds, concurrency)
        samples = []
        end = time.monotonic() + seconds
        while time.monotonic() < end and proc.poll() is None:
            time.sleep(min(interval, max(0.0, end - time.monotonic())))
            samples.append(sample(server, started))
        load = finished(proc, seconds)
        rest = quiet(server)
        after = sample(server, started)
        collected = sample(server, started, "collect")
        trimmed = sample(server, started, "trim")
        peak = max([s["rss_mb"] for s in samples] or [after["rss_mb"]])
        return {
            "backend": backend,
            "seconds": seconds,
            "concurrency": concurrency,
            "cycles": load["cycles"],
            "errors": load["errors"] + warmup["errors"],
            "first_errors": (load.get("first_errors") or []) + (warmup.get("first_errors") or []),
            "fresh": fresh,
            "before": before,
            "after": after,
            "after_collect": collected,
            "after_trim": trimmed,
            "peak_rss_mb": peak,
            "rss_after_vs_before": round(after["rss_mb"] / before["rss_mb"], 3),
            "rss_after_collect_vs_before": round(collected["rss_mb"] / before["rss_mb"], 3),
            "rss_after_trim_vs_before": round(trimmed["rss_mb"] / before["rss_mb"], 3),
            "maps_empty": not rest,
            "left_over": rest,
            "samples": samples,
        }
    finally:
        if server is not None:
            server.stop()
        if redis is not None:
            redis.stop()


def run(seconds: float, interval: float, concurrency: int) -> list[dict[str, Any]]:
    return [soak_one(b, seconds, interval, concurrency) for b in ("memory", "redis")]


if __name__ == "__main__":  # python -m bench.soak: one quick run, printed
    import sys

    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    out = run(secs, max(1.0, secs / 10), 8)
    for r in out:
        r.pop("samples")
    print(json.dumps(out, indent=1))
